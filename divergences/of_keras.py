"""Where Keras 3's defaults differ from the other frameworks, measured with Keras's own code on the
backend KERAS_BACKEND selects.

Each function returns divergences.gaps.Gap(default, setting, limit); docs/divergences.md tells
the story of each, parity_tests/test_divergences.py checks them.
"""

import math
import warnings
from dataclasses import replace
from unittest import mock

import keras
import numpy as np
from keras import ops

import reference_numpy as ref
from divergences.gaps import Gap, formula_gap, forward_gap
from foundation import catalog, frameworks, initializers, tasks
from foundation.arrays import as_dtype
from foundation.frameworks import KERAS_EPSILON
from foundation.layouts import torch_pack
from foundation.tolerances import FORWARD, TRAJECTORY, rel_diff, rel_diff_params
from impl_keras import float64_fixes, mlp, optim, transformer
from impl_keras.train import train

F64 = "float64"


class BeforeStep(keras.callbacks.Callback):
    """Calls adjust(optimizer, step) before each step of a full-batch fit (one step an epoch). fit
    has written its state back to the variables at the end of the previous epoch (on jax too), and
    reads them again at the next step."""

    def __init__(self, adjust):
        super().__init__()
        self.adjust = adjust

    def on_epoch_begin(self, epoch, logs=None):
        self.adjust(self.model.optimizer, epoch)


def fit_full_batch(task, params, steps, optimizer, adjust=None):
    """`steps` full-batch steps of model.fit (one batch an epoch) with `optimizer()`; with `adjust`,
    eagerly (a changed Python attribute such as Adam's epsilon is read at every step)."""
    x, y = task.data()
    callbacks = [] if adjust is None else [BeforeStep(adjust)]
    with mlp.floatx_of(params):
        model = mlp.build(task, params)
        eager, (loss, weight) = adjust is not None, mlp.keras_loss(task)
        model.compile(optimizer=optimizer(), loss=loss, loss_weights=weight, run_eagerly=eager)
        x, y = as_dtype(x, params), as_dtype(y, params)
        model.fit(x, y, batch_size=len(x), epochs=steps, shuffle=False, verbose=0, callbacks=callbacks)
        return mlp.get_params(model)


def adam_epsilon():
    """softmax, 50 steps. default: keras.optimizers.Adam's defaults (ε̂ = 1e-7 beside √v) against the
    same Adam made to step torch's lr·m̂/(√v̂ + ε): that is Keras's form with ε̂ = ε·√(1−β2ᵗ), set
    before each step (ε = 1e-8); setting: impl_keras against the reference's Keras form."""
    task, steps = catalog.get("softmax"), 50
    params, opt = task.init_params(), task.optimizer
    keras_task = tasks.with_optimizer(task, form="keras", eps=KERAS_EPSILON)

    def adam():
        return keras.optimizers.Adam(opt.lr, beta_1=opt.beta1, beta_2=opt.beta2, epsilon=KERAS_EPSILON)

    def torch_epsilon(optimizer, step):
        optimizer.epsilon = np.float64(opt.eps * np.sqrt(1 - opt.beta2 ** (step + 1)))

    keras_form = fit_full_batch(task, params, steps, adam)
    torch_form = fit_full_batch(task, params, steps, adam, torch_epsilon)
    return formula_gap(train, keras_task, steps, torch_form, keras_form)


def momentum_lr_change():
    """sine-nesterov, lr 0.01 → 0.001 from step 30, 60 full-batch steps. default: keras.optimizers.SGD's
    velocity v = μ·v − lr·g against the same SGD made to keep torch's buffer v = −lr·buf (the velocity
    rescaled by lr_new/lr_old when lr changes); setting: impl_keras, the task's minibatches, against
    the reference's Keras form."""
    task = tasks.with_optimizer(catalog.get("sine-nesterov"), lr_drops=((30, 0.001),), form="keras")
    params, opt, steps = task.init_params(), task.optimizer, 60

    def sgd():
        return optim.make(opt)  # SGD(momentum, nesterov) with the drop as PiecewiseConstantDecay

    def torch_buffer(optimizer, step):  # v_t = μ·(lr_t/lr_{t−1})·v_{t−1} − lr_t·g_t
        if step and opt.lr_at(step) != opt.lr_at(step - 1):
            for v in optimizer.momentums:
                v.assign(v * np.float64(opt.lr_at(step) / opt.lr_at(step - 1)))

    full_batch = replace(task, batch_size=None)
    keras_form = fit_full_batch(full_batch, params, steps, sgd)
    torch_form = fit_full_batch(full_batch, params, steps, sgd, torch_buffer)
    return formula_gap(train, task, steps, torch_form, keras_form)


def weight_decay():
    """softmax in Keras's Adam form (ε̂ = 1e-7), 50 steps, against the reference with λ·ΣW² in the
    loss: Adam(weight_decay=2λ) without the regularizer (default; decoupled, biases too) and
    impl_keras's kernel_regularizer=L2(λ) (setting)."""
    task, steps = tasks.with_optimizer(catalog.get("softmax"), form="keras", eps=1e-7), 50
    params, opt = task.init_params(), task.optimizer
    l2 = ref.train(task, params, steps)[0]

    def decoupled():  # w −= lr·2λ·w before each Adam step (base_optimizer._apply_weight_decay)
        return keras.optimizers.Adam(
            opt.lr, beta_1=opt.beta1, beta_2=opt.beta2, epsilon=opt.eps, weight_decay=2 * task.l2
        )

    naive = fit_full_batch(replace(task, l2=0.0), params, steps, decoupled)
    return Gap(
        rel_diff_params(naive, l2), rel_diff_params(train(task, params, steps)[0], l2), TRAJECTORY[F64]
    )


# ---- cross-entropy on probabilities: a confident miss, logit 20 on the wrong class ----

LOGIT = 20.0  # σ(20) = 1 − 2.1e-9; the loss is log(1 + e^20) ≈ 20


def confident_miss():
    """[(Keras's loss of a sigmoid/softmax Dense output, from_logits=False; the exact loss; the loss
    with the probability clipped to [1e-7, 1 − 1e-7]; impl_keras's from_logits loss)] for BCE, CCE."""
    x, eps = np.ones((1, 1)), 1e-7  # backend.epsilon()
    cases = [  # units, activation, Keras loss, its target, impl_keras's loss and target
        (1, "sigmoid", keras.losses.BinaryCrossentropy, np.zeros((1, 1)), "bce_logits", np.zeros((1, 1))),
        (3, "softmax", keras.losses.CategoricalCrossentropy, np.eye(3)[[1]], "softmax_ce", np.array([1])),
    ]
    measured = []
    for units, activation, keras_loss, target, name, labels in cases:
        kernel = np.zeros((1, units))
        kernel[0, 0] = LOGIT  # logits (20,) or (20, 0, 0); the label is 0 or class 1
        logits = x @ kernel
        with mlp.floatx_of([{"W": kernel}]):
            model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(units, activation=activation)])
            model.set_weights([kernel, np.zeros(units)])
            naive = float(keras.ops.convert_to_numpy(keras_loss()(target, model(x))))
            fixed = float(mlp.loss_value(tasks.make((1, units), ["linear"], name), logits, labels))
        if units == 1:  # −log(1 − σ(z))
            exact, p = np.logaddexp(0, LOGIT), 1 - 1 / (1 + np.exp(LOGIT))
        else:  # −log softmax(z)[1]
            exact, p = np.logaddexp.reduce(logits[0]), 1 / np.exp(logits[0]).sum()
        measured.append((naive, exact, -np.log(np.clip(p, eps, 1 - eps)), fixed))
    return measured


def prob_clipping():
    """jax/torch: Keras's BCE/CCE on probabilities (clipped at 1e-7) against the exact loss; setting:
    impl_keras's from_logits losses on the logits. The smaller default and the larger setting."""
    measured = confident_miss()
    return Gap(
        min(rel_diff(naive, exact) for naive, exact, _, _ in measured),
        max(rel_diff(fixed, exact) for _, exact, _, fixed in measured),
        FORWARD[F64],
    )


def logits_path():
    """tensorflow: Keras's BCE/CCE on the sigmoid/softmax output read the logits the activation
    stored on it (_keras_logits), so they differ from the clipped loss jax/torch compute; setting:
    impl_keras's from_logits losses, the exact loss on every backend."""
    measured = confident_miss()
    return Gap(
        min(rel_diff(naive, clipped) for naive, _, clipped, _ in measured),
        max(rel_diff(fixed, exact) for _, exact, _, fixed in measured),
        FORWARD[F64],
    )


def leaky_relu_slope():
    """A torch model's slope 0.01 ported to layers.LeakyReLU() (0.3), against the slope passed."""
    task = tasks.make((3, 5, 2), ("leaky_relu", "linear"), seed=3)  # α = 0.01, torch's default
    params, (x, _) = task.init_params(), task.data()
    with mlp.floatx_of(params):
        model = mlp.build(task, params)
        leaky = keras.layers.LeakyReLU
        layers = model.layers[1:]  # [0]: the functional model's InputLayer
        default = [leaky() if isinstance(layer, leaky) else layer for layer in layers]
        naive = keras.ops.convert_to_numpy(keras.Sequential([keras.Input((3,)), *default])(x))
    return forward_gap(mlp.forward, task, params, x, naive)


def init_truncation(fan_in=400, fan_out=300):
    """Share of He-normal weights beyond the truncation bound 2σ' (σ' = √(2/fan_in)/0.8796): default,
    a plain normal (VarianceScaling(2, "fan_in", "untruncated_normal"), torch's kaiming_normal_);
    setting, the worse of keras.initializers.HeNormal() and the canonical NumPy draw (both 0).
    Not HeNormal on the torch backend: its truncated_normal keeps the first of 4 normal draws
    inside ±2, and the first draw when all 4 fall outside (p = 0.0455⁴ = 4.3e-6 a weight)."""
    shape = (fan_in, fan_out)  # Dense kernel (in, out): compute_fans reads fan_in = shape[0]
    plain = keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=0)(shape, F64)
    truncated = keras.initializers.HeNormal(seed=0)(shape, F64)
    canonical = initializers.he_normal(np.random.default_rng(0), fan_in, fan_out)
    bound = 2 * initializers.he_truncated_std(fan_in)

    def share(w):
        return float(np.mean(np.abs(keras.ops.convert_to_numpy(w)) > bound))

    strict = [share(truncated)] if keras.backend.backend() != "torch" else []
    return Gap(share(plain), max([share(canonical), *strict]), 0.0)


def fit_defaults():
    """line in batches of 100 (10 steps an epoch), 1 epoch: fit(x, y) with its defaults
    (batch_size=32, shuffle=True: 32 steps in a random order) against the task's seeded batches,
    and impl_keras.train (the task's batches in its order through fit)."""
    task = replace(catalog.get("line"), batch_size=100)
    params, (x, y), steps = task.init_params(), task.data(), task.steps_per_epoch
    reference = ref.train(task, params, steps)[0]
    with mlp.floatx_of(params):
        model = mlp.build(task, params)
        model.compile(optimizer=optim.make(task.optimizer), loss=mlp.keras_loss(task)[0])  # line: weight 1
        model.fit(as_dtype(x, params), as_dtype(y, params), epochs=1, verbose=0)
        naive = mlp.get_params(model)
    return Gap(
        rel_diff_params(naive, reference),
        rel_diff_params(train(task, params, steps)[0], reference),
        TRAJECTORY[F64],
    )


def complains(call):
    """1.0 if `call()` raises or gives a UserWarning (Keras's; torch's fit also gives NumPy
    DeprecationWarnings), else 0.0."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except (TypeError, ValueError):
            return 1.0
    return float(any(issubclass(w.category, UserWarning) for w in caught))


def legacy_names():
    """How many of four Keras 1/2 spellings raise or warn in Keras 3 (all do), and how many of
    their Keras 3 spellings do (none)."""
    x, y = np.zeros((2, 3)), np.zeros((2, 1))

    def model():
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        net.compile(optimizer="sgd", loss="mse")
        return net

    legacy = [
        lambda: keras.layers.Dense(1, input_dim=3),  # warns, then works as Input(shape=(3,))
        lambda: keras.layers.Dense(1, init="zeros"),
        lambda: keras.optimizers.SGD(lr=0.1),
        lambda: model().fit(x, y, nb_epoch=1, verbose=0),
    ]
    current = [
        lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]),
        lambda: keras.layers.Dense(1, kernel_initializer="zeros"),
        lambda: keras.optimizers.SGD(learning_rate=0.1),
        lambda: model().fit(x, y, epochs=1, verbose=0),
    ]
    return Gap(sum(map(complains, legacy)), sum(map(complains, current)), 0.0)


def floatx():
    """sine-relu forward from float64 weights: a model built in the default floatx (float32), whose
    set_weights casts them, against impl_keras (floatx and dtype policy set from the weights).
    1-5-1: sums of ≤ 5 terms round alike on every backend (softmax's 2-100-3: 2.2e-7 on
    tensorflow and jax, 3.6e-7 on torch)."""
    task = catalog.get("sine-relu")
    params, (x, _) = task.init_params(F64), task.data()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(5, "relu"), keras.layers.Dense(1)])
    model.set_weights([layer[key] for layer in params for key in ("W", "b")])  # float32 variables: cast
    naive = keras.ops.convert_to_numpy(model(x))  # the float64 input is cast to float32 too
    return forward_gap(mlp.forward, task, params, x, naive)


def prelu_init():
    """sine-prelu forward: a stock Keras port (Dense, PReLU(), Dense) with the Dense weights loaded and
    PReLU's α left at Keras's initializer (zeros: a ReLU) against the task's α = 0.25 per unit."""
    task = catalog.get("sine-prelu")
    params, (x, _) = task.init_params(F64), task.data()
    with mlp.floatx_of(params):
        dense = [keras.layers.Dense(layer["W"].shape[1]) for layer in params]
        model = keras.Sequential([keras.Input((task.n_in,)), dense[0], keras.layers.PReLU(), dense[1]])
        for layer, weights in zip(dense, params):
            layer.set_weights([weights["W"], weights["b"]])
        naive = keras.ops.convert_to_numpy(model(x))
    return forward_gap(mlp.forward, task, params, x, naive)


# ---- float64: where Keras 3.15 computes in float32, and impl_keras/float64_fixes.py ----

TENTH = 0.1  # float32(0.1) = 0.100000001490116: a float32 step shows as a 1.49e-8 relative error


def float64_promotion():
    """jax/torch: ops.mean([0.1]) and ops.matmul([[0.1]], [[1]]) on float64 arrays, computed in float32
    by Keras's type promotion (default) and with float64_fixes.type_promotion (setting)."""
    x = np.array([[TENTH]])

    def worst():
        mean, product = ops.mean(ops.convert_to_tensor(x)), ops.matmul(x, np.ones((1, 1)))
        return max(rel_diff(ops.convert_to_numpy(v).item(), TENTH) for v in (mean, product))

    with mlp.floatx_of([{"W": x}]):  # float64, with the fix
        fixed = worst()
    return Gap(worst(), fixed, FORWARD[F64])


def fixed_and_stock(make_fix, make_stock, compute, exact_value):
    """Gap(stock Keras, the float64 fix) of `compute(layer or regularizer)` in float64."""
    with mlp.floatx_of([{"W": np.zeros((1, 1))}]):
        fixed, stock = compute(make_fix()), compute(make_stock())
    return Gap(rel_diff(stock, exact_value), rel_diff(fixed, exact_value), FORWARD[F64])


def leaky_relu_alpha():
    """tensorflow: LeakyReLU(negative_slope=0.01) at z = −1 in float64: TF's op holds α as float32."""
    return fixed_and_stock(
        lambda: float64_fixes.LeakyReLU(negative_slope=0.01),
        lambda: keras.layers.LeakyReLU(negative_slope=0.01),
        lambda layer: ops.convert_to_numpy(layer(-np.ones((1, 1)))).item(),
        -0.01,
    )


def l2_cast():
    """tensorflow: L2(1e-3) of a float64 weight 1: Keras casts λ to float64 through float32."""
    return fixed_and_stock(
        lambda: float64_fixes.L2(1e-3),
        lambda: keras.regularizers.L2(1e-3),
        lambda penalty: ops.convert_to_numpy(penalty(ops.ones((1, 1), dtype=F64))).item(),
        1e-3,
    )


def hyperparameter_cast():
    """tensorflow: ops.cast(0.9, "float64"), as Keras's optimizers cast momentum and β to the
    variables' dtype, against the NumPy float64 float64_fixes.exact passes."""
    return fixed_and_stock(
        lambda: float64_fixes.exact(0.9),
        lambda: 0.9,
        lambda value: ops.convert_to_numpy(ops.cast(value, F64)).item(),
        0.9,
    )


# ---- recurrent layers (issue 15) ----


def gru_reset_after():
    """gru forward: a stock keras.layers.GRU(reset_after=False), the GRU paper's form (r ⊙ h before the
    matmul with U_h: ĥ = tanh(x W_h + (r ⊙ h) U_h + b_h), one bias (3u,)), loaded with the task's W, U
    and b[0] + b[1], against the reset_after=True function of the reference; setting: impl_keras's GRU
    (reset_after=True, Keras 3's default). A different function, not a layout: no weights make them
    equal."""
    task = catalog.get("gru")
    params, (x, _) = task.init_params(F64), task.data()
    gru, head = params
    with mlp.floatx_of(params):
        model = keras.Sequential(
            [
                keras.Input(task.input_shape),
                keras.layers.GRU(gru["U"].shape[0], reset_after=False),
                keras.layers.Dense(1),
            ]
        )
        model.set_weights([gru["W"], gru["U"], gru["b"][0] + gru["b"][1], head["W"], head["b"]])
        naive = ops.convert_to_numpy(model(x))
    return forward_gap(mlp.forward, task, params, x, naive)


def lstm_forget_bias():
    """lstm and gru initial weights: the bias of keras.layers.LSTM(unit_forget_bias=False) (zeros; torch's
    nn.LSTM draws U(±1/√u) around 0) against the catalog's canonical LSTM b (zeros, the forget block at
    1). Setting: the worst of Keras's default LSTM and GRU biases against the canonical ones, and of
    max|U·Uᵀ − I| of Keras's Orthogonal() U and of the canonical U: rosetta draws Keras's defaults."""
    canonical = {kind: catalog.get(kind).init_params(F64)[0] for kind in ("lstm", "gru")}
    units, n_in = canonical["lstm"]["U"].shape[0], canonical["lstm"]["W"].shape[0]

    def stock(kind, **options):  # {"U", "b"} of a stock Keras layer with its default initializers
        with mlp.floatx_of([canonical["lstm"]]):  # float64 variables: the layer takes the policy when made
            layer = kind(units, seed=0, **options)
            layer.build((None, 3, n_in))
            return {
                "U": ops.convert_to_numpy(layer.cell.recurrent_kernel),
                "b": ops.convert_to_numpy(layer.cell.bias),
            }

    def orthonormal_rows(U):  # U (u, G·u) with orthonormal rows: U·Uᵀ = I (u, u)
        return float(np.max(np.abs(U @ U.T - np.eye(U.shape[0]))))

    zero_forget = stock(keras.layers.LSTM, unit_forget_bias=False)
    default = {"lstm": stock(keras.layers.LSTM), "gru": stock(keras.layers.GRU)}
    setting = max(
        *(float(np.max(np.abs(default[k]["b"] - canonical[k]["b"]))) for k in default),
        *(orthonormal_rows(layer["U"]) for layer in (*default.values(), *canonical.values())),
    )
    return Gap(rel_diff(zero_forget["b"], canonical["lstm"]["b"]), setting, FORWARD[F64])


# issue 23: graph nets


def batchnorm_momentum(steps=20):
    """resnet: torch's BatchNorm momentum m = 0.1 written as Keras's BatchNormalization(momentum=0.1),
    which Keras reads as the old running value's weight (r ← 0.1·r + 0.9·batch), against
    momentum = 1 − m = 0.9 (impl_keras); the running statistics after `steps` of Keras's fit.
    setting: impl_keras against the reference running Keras's own Adam (ε̂)."""
    task = catalog.get("resnet")
    as_written = lambda spec: replace(spec, momentum=0.9) if isinstance(spec, tasks.BatchNorm) else spec  # noqa: E731
    naive = replace(task, layers=tuple(map(as_written, task.layers)))
    params = task.init_params()
    ours, theirs = (running_statistics(train(t, params, steps)[0]) for t in (task, naive))
    own = tasks.with_formula(task, frameworks.formula("keras", task))
    reference = running_statistics(ref.train(own, params, steps)[0])
    return Gap(rel_diff_params(theirs, ours), rel_diff_params(ours, reference), TRAJECTORY[F64])


def running_statistics(params):
    """BatchNorm's running mean and variance, one dict per BatchNorm node."""
    return [{key: layer[key] for key in tasks.RUNNING} for layer in params if "moving_mean" in layer]


# ---- the transformer (issue 25) ----


def transformer_weights():
    """The transformer's float64 initial weights with its token and position tables at N(0, 1), torch
    nn.Embedding's default (GPT-2's N(0, 0.02²) keeps every attention logit near 0), and x."""
    task = catalog.get("transformer")
    params = [
        {k: v / 0.02 if k in ("E", "P") else v for k, v in layer.items()} for layer in task.init_params(F64)
    ]
    return task, params, task.data()[0]


def transformer_forward(change, params=None):
    """Gap(impl_keras's transformer after change(model), impl_keras's) against the reference's forward:
    the catalog's initial weights (GPT-2's), or `params`."""
    task, scaled, x = transformer_weights()
    params = task.init_params(F64) if params is None else params
    with mlp.floatx_of(params):
        model = mlp.build(task, params)
        change(model)
        naive = ops.convert_to_numpy(model(x, training=False))
    return forward_gap(mlp.forward, task, params, x, naive)


def layers_of(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def layernorm_epsilon():
    """transformer forward from its initial weights (GPT-2's embeddings N(0, 0.02²): each position's
    variance ≈ 8e-4 at the first LayerNorm): every LayerNormalization at Keras's default ε (read from
    a fresh layer: 1e-3) against the task's 1e-5, torch's default; setting: impl_keras (epsilon=ε)."""

    def keras_default(model):
        for layer in layers_of(model, keras.layers.LayerNormalization):
            layer.epsilon = keras.layers.LayerNormalization().epsilon

    return transformer_forward(keras_default)


def attention_layout():
    """transformer forward: each MultiHeadAttention loaded from a torch port's nn.MultiheadAttention
    naively, in_proj_weight (3E, E) split in three and out_proj.weight (E, E), each reshaped to Keras's
    kernel as it is (torch's rows are Wᵀ: the transposes left out); setting: impl_keras
    (transformer.attention_native: heads_shaped of the canonical x @ W kernels)."""

    def from_torch_rows(model):
        for layer in layers_of(model, keras.layers.MultiHeadAttention):
            variables = transformer.attention_params(layer)
            canonical = transformer.attention_canonical({k: mlp.numpy(v) for k, v in variables.items()})
            rows, _ = torch_pack(canonical)  # [Wqᵀ, Wkᵀ, Wvᵀ]: in_proj_weight's three blocks
            torch_kernels = {"Wq": rows[0], "Wk": rows[1], "Wv": rows[2], "Wo": canonical["Wo"].T}
            for key, array in torch_kernels.items():
                variables[key].assign(array.reshape(variables[key].shape))

    return transformer_forward(from_torch_rows)


def gelu_approximate():
    """GELU on sine-relu's first-layer pre-activations (|z| ≤ 2.9), as gelu-approximate/jax:
    keras.ops.gelu(z) (approximate=True by default) against the exact ½z·erfc(−z/√2) (math.erfc);
    setting: impl_keras's "gelu" activation (keras.activations.gelu, approximate=False; on TensorFlow
    in float64 float64_fixes.gelu)."""
    task = catalog.get("sine-relu")
    params, (x, _) = task.init_params(), task.data()
    z = x @ params[0]["W"] + params[0]["b"]  # (N, hidden)
    exact = 0.5 * z * np.vectorize(math.erfc)(-z / math.sqrt(2))
    with mlp.floatx_of(params):
        activation = keras.activations.get(mlp.activation(tasks.Layer(1, "gelu")))
        default, setting = (ops.convert_to_numpy(f(ops.convert_to_tensor(z))) for f in (ops.gelu, activation))
    return Gap(rel_diff(default, exact), rel_diff(setting, exact), FORWARD[F64])


def stock_attention(heads, key_dim, use_bias, name):
    return keras.layers.MultiHeadAttention(heads, key_dim, use_bias=use_bias, name=name)


def attention_float64():
    """transformer forward from weights with N(0, 1) tables (attention logits of order 1), float64:
    stock keras.layers.MultiHeadAttention (Python float scale; ops.dot_product_attention) against
    impl_keras's float64_fixes.MultiHeadAttention."""
    task, params, x = transformer_weights()
    with mock.patch.object(float64_fixes, "attention", stock_attention):
        with mlp.floatx_of(params):
            naive = ops.convert_to_numpy(mlp.build(task, params)(x, training=False))
    return forward_gap(mlp.forward, task, params, x, naive)


def attention_scale():
    """tensorflow: 1/√key_dim (key_dim 8) cast to float64 through float32, 0.35355338 (attention_float64)."""
    return attention_float64()


def attention_softmax():
    """jax: jax.nn.dot_product_attention's float32 softmax on float64 inputs (attention_float64)."""
    return attention_float64()


def gelu_cast():
    """tensorflow: tf.nn.gelu(z, approximate=False) at z = −1 in float64 (1/√2 through float32) against
    float64_fixes.gelu, and the exact ½z·erfc(−z/√2)."""
    return fixed_and_stock(
        lambda: float64_fixes.gelu,
        lambda: keras.activations.gelu,
        lambda gelu: ops.convert_to_numpy(gelu(-ops.ones((1, 1), dtype=F64))).item(),
        -0.5 * math.erfc(1 / math.sqrt(2)),
    )
