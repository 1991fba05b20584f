"""Where JAX's and optax's defaults differ from the other frameworks, measured with their own code.

Each function returns divergences.gaps.Gap(default, setting, limit); docs/divergences.md tells
the story of each, parity_tests/test_divergences.py checks them.
"""

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax

import reference_numpy as ref
from divergences.gaps import Gap, formula_gap, forward_gap
from foundation import catalog, initializers, tasks
from foundation.arrays import as_dtype
from foundation.frameworks import KERAS_EPSILON
from foundation.tolerances import FORWARD, TRAJECTORY, rel_diff, rel_diff_params
from impl_jax import mlp, optim, transformer
from impl_jax.train import train

F64 = "float64"


def leaky_relu_grad_at_zero():
    """Zero biases and a 1-unit ReLU first: rows where it is off put exactly 0 into the leaky_relu.
    Gradients with jax.nn.leaky_relu(z) (slope 0.01, derivative 1 at 0) against the reference."""
    task = tasks.make((3, 1, 2, 1), ("relu", "leaky_relu", "linear"), n=8, seed=3)
    params, (x, y) = task.init_params(), task.data()

    def naive_loss(params):
        a = x
        for spec, layer in zip(task.layers, params):
            z = a @ layer["W"] + layer["b"]
            leaky = spec.activation == "leaky_relu"
            a = jax.nn.leaky_relu(z) if leaky else mlp.activation(spec.activation, z, spec.alpha)
        return mlp.loss_value(task, a, y)

    return grad_gap(naive_loss, task, params, x, y)


def float32_default():
    """softmax forward from float64 weights with x64 off (JAX's default: jax_enable_x64=False), and
    with the x64 impl_jax turns on at import. jax.enable_x64(False) scopes the default to this call."""
    task = catalog.get("softmax")
    params, (x, _) = task.init_params(F64), task.data()
    with jax.enable_x64(False):
        naive = mlp.forward(task, params, x)  # device_put turns the float64 weights into float32
    return forward_gap(mlp.forward, task, params, x, naive)


def init_truncation(fan_in=400, fan_out=300):
    """Share of He-normal weights beyond Keras/JAX's truncation bound 2σ' (σ' = √(2/fan_in)/0.8796):
    default, a plain normal (variance_scaling(2, "fan_in", "normal"), torch's kaiming_normal_);
    setting, the worse of jax.nn.initializers.he_normal() and the canonical NumPy draw (both 0)."""
    key, shape = jax.random.key(0), (fan_in, fan_out)  # kernel (in, out): in_axis=-2 is fan_in
    plain = jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")(key, shape, jnp.float64)
    truncated = jax.nn.initializers.he_normal()(key, shape, jnp.float64)
    canonical = initializers.he_normal(np.random.default_rng(0), fan_in, fan_out)
    bound = 2 * initializers.he_truncated_std(fan_in)

    def share(w):
        return float(np.mean(np.abs(np.asarray(w)) > bound))

    return Gap(share(plain), max(share(truncated), share(canonical)), 0.0)


def optax_train(tx, task, params, steps):
    """`steps` steps of the optax transformation `tx` on the task's loss, batches in the task's order."""
    (params, running), (x, y) = mlp.split_running(mlp.build(task, params)), task.data()
    x, y = as_dtype(x, params), as_dtype(y, params)

    @jax.jit  # retraces once for an epoch's short last batch
    def step(params, state, x, y):
        grads, _ = jax.grad(mlp.total_loss, argnums=1, has_aux=True)(task, params, running, x, y)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    state = tx.init(params)
    for rows in task.batches(steps):
        params, state = step(params, state, x[rows], y[rows])
    return mlp.get_params(mlp.with_running(params, running))


def momentum_lr_change():
    """sine-nesterov, lr 0.01 → 0.001 from step 30, 60 steps. default: optax.sgd = chain(trace,
    scale_by_learning_rate), torch's buffer, against the same two transforms in the other order,
    Keras's velocity v = μ·v − lr·g; setting: impl_jax against the reference's torch form."""
    task, steps = tasks.with_optimizer(catalog.get("sine-nesterov"), lr_drops=((30, 0.001),)), 60
    params, opt = task.init_params(), task.optimizer
    lr, trace = optim.learning_rate(opt), optax.trace(decay=opt.momentum, nesterov=opt.nesterov)
    torch_form = optax_train(optax.sgd(lr, momentum=opt.momentum, nesterov=opt.nesterov), task, params, steps)
    keras_form = optax_train(optax.chain(optax.scale_by_learning_rate(lr), trace), task, params, steps)
    return formula_gap(train, task, steps, keras_form, torch_form)


def adam_epsilon():
    """softmax, 50 steps. default: optax.adam with its ε = 1e-8 against optax.adam made to step Keras's
    defaults: Keras's lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε̂) is optax's form with ε = ε̂/√(1−β2ᵗ), a schedule
    of the step count through inject_hyperparams (ε̂ = 1e-7); setting: impl_jax against the reference."""
    task, steps = catalog.get("softmax"), 50
    params, opt = task.init_params(), task.optimizer
    kw = {"learning_rate": opt.lr, "b1": opt.beta1, "b2": opt.beta2}

    def epsilon_hat(count):  # count = t − 1 before step t's update
        return KERAS_EPSILON / jnp.sqrt(1 - opt.beta2 ** (count + 1))

    keras_form = optax_train(optax.inject_hyperparams(optax.adam)(eps=epsilon_hat, **kw), task, params, steps)
    torch_form = optax_train(optax.adam(eps=opt.eps, **kw), task, params, steps)
    return formula_gap(train, task, steps, keras_form, torch_form)


def weight_decay():
    """softmax, 50 steps, λ·ΣW² as a loss term against weight_decay = 2λ: optax.adamw's decoupled decay
    on every leaf (default) and add_decayed_weights on the kernels before optax.adam (setting)."""
    task, steps = catalog.get("softmax"), 50
    params, decay, opt = task.init_params(), 2 * task.l2, task.optimizer
    kw = {"b1": opt.beta1, "b2": opt.beta2, "eps": opt.eps}
    l2 = ref.train(task, params, steps)[0]
    decoupled = optax.adamw(opt.lr, weight_decay=decay, **kw)  # w −= lr·(adam step + 2λ·w)
    kernels = [{key: key == "W" for key in layer} for layer in params]
    coupled = optax.chain(optax.add_decayed_weights(decay, mask=kernels), optax.adam(opt.lr, **kw))
    no_penalty = replace(task, l2=0.0)
    gaps = [rel_diff_params(optax_train(tx, no_penalty, params, steps), l2) for tx in (decoupled, coupled)]
    return Gap(*gaps, TRAJECTORY[F64])


def schedule_boundary():
    """sine-nesterov, 60 steps, lr 0.01 → 0.001 at boundary 30. Keras's PiecewiseConstantDecay
    switches once step > boundary (0-based step 31), optax's piecewise_constant_schedule at it (step
    30, the reference's lr_at). default: optax with boundary 31 (Keras's convention) against boundary
    30; setting: optax at 30 against the reference."""
    task, steps = catalog.get("sine-nesterov"), 60
    params, opt = task.init_params(), task.optimizer
    at = ref.train(tasks.with_optimizer(task, lr_drops=((30, 0.001),)), params, steps)[0]

    def sgd(boundary):  # 0.01·0.1: 1 ulp off 0.001
        lr = optax.piecewise_constant_schedule(opt.lr, {boundary: 0.1})
        return optax_train(optax.sgd(lr, momentum=opt.momentum, nesterov=opt.nesterov), task, params, steps)

    optax_at = sgd(30)
    return Gap(rel_diff_params(sgd(31), optax_at), rel_diff_params(optax_at, at), TRAJECTORY[F64])


def gelu_approximate():
    """GELU on sine-relu's first-layer pre-activations (|z| ≤ 2.9): jax.nn.gelu(z) is the tanh form,
    torch's F.gelu and Keras's gelu the exact ½z·erfc(−z/√2) (math.erfc here); approximate=False."""
    task = catalog.get("sine-relu")
    params, (x, _) = task.init_params(), task.data()
    z = x @ params[0]["W"] + params[0]["b"]  # (N, hidden)
    exact = 0.5 * z * np.vectorize(math.erfc)(-z / math.sqrt(2))
    return Gap(
        rel_diff(jax.nn.gelu(z), exact), rel_diff(jax.nn.gelu(z, approximate=False), exact), FORWARD[F64]
    )


def maxpool_ties():
    """Gradients of a 2×2 conv with an all-ones kernel (it sums its patch: on 0/1 images different
    patches tie in the max-pool windows), max pool 2, a Dense head, mse. default: pooling as jnp.max
    over the p×p blocks, whose gradient splits equally among tied maxima; setting: impl_jax's
    lax.reduce_window, whose gradient goes to the first max (torch, TensorFlow, the reference)."""
    layers = (
        tasks.Conv2D(2, 2, 1, "valid", "linear"),
        tasks.Pool2D(2, "max"),
        tasks.Flatten(),
        tasks.Layer(2),
    )
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 2, size=(16, 5, 5, 1)).astype(float), rng.standard_normal((16, 2))
    task = tasks.Task("pool-ties", "max-pool windows with tied maxima", (5, 5, 1), layers, "mse",
                      tasks.Optimizer(), lambda: (x, y))  # fmt: skip
    params = task.init_params()
    params[0]["W"][:] = 1.0

    def naive_loss(params):
        a = x
        for spec, layer in zip(task.layers, params):
            if isinstance(spec, tasks.Pool2D):  # (N, 4, 4, C) -> (N, 2, 2, C)
                n, h, w, c = a.shape
                a = jnp.max(a.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))
            else:
                z = mlp.layer_forward(spec, layer, a)
                a = mlp.activation(spec.activation, z, spec.alpha) if mlp.activated(spec) else z
        return mlp.loss_value(task, a, y)

    return grad_gap(naive_loss, task, params, x, y)


def grad_gap(naive_loss, task, params, x, y):
    """default: jax.grad of the naive loss; setting: impl_jax's gradients; each against the reference's."""
    naive = mlp.get_params(jax.grad(naive_loss)(mlp.build(task, params)))
    reference = ref.loss_and_grads(task, params, x, y)[1]
    ours = mlp.loss_and_grads(task, params, x, y)[1]
    return Gap(rel_diff_params(naive, reference), rel_diff_params(ours, reference), FORWARD[F64])


# issue 25: the transformer


def layernorm_epsilon():
    """transformer's first LayerNorm on the embedded tokens (impl_jax's embedding and positions: rows of
    N(0, 0.02²) tables, variance ≈ 8e-4, where ε shows): Flax's nnx.LayerNorm(16) (epsilon=1e-6) and
    nnx.LayerNorm(16, epsilon=1e-5), each against impl_jax's with the task's ε = 1e-5, torch's default."""
    from flax import nnx  # only here: the rest of this module needs no Flax

    task = catalog.get("transformer")
    params, (x, _) = task.init_params(), task.data()
    embedded = transformer.position_embedding(transformer.embedding(x, params[0]["E"]), params[1]["P"])
    spec, layer = task.layers[2], params[2]  # b0.ln1, {"gamma", "beta"} (16,)
    expected = transformer.layernorm(embedded, layer["gamma"], layer["beta"], spec.eps)

    def flax(**eps):
        norm = nnx.LayerNorm(16, param_dtype=jnp.float64, rngs=nnx.Rngs(0), **eps)
        norm.scale[...], norm.bias[...] = layer["gamma"], layer["beta"]  # (16,) each
        return rel_diff(norm(embedded), expected)

    return Gap(flax(), flax(epsilon=spec.eps), FORWARD[F64])


def dot_product_attention_float32():
    """transformer's first attention node on its LayerNorm'd input, float64 weights: with
    jax.nn.dot_product_attention(q, k, v, is_causal=True), whose softmax runs in float32 whatever the
    dtype ("always carried out in fp32", jax/_src/nn/functions.py), and impl_jax's einsums and
    jax.nn.softmax in float64 (setting), each against the reference's, NumPy float64."""
    task = catalog.get("transformer")
    params, (x, _) = task.init_params(), task.data()
    embedded = params[0]["E"][x] + params[1]["P"]  # (N, T, E)
    a = transformer.layernorm(embedded, params[2]["gamma"], params[2]["beta"], task.layers[2].eps)
    spec, layer = task.layers[3], params[3]
    expected = ref.transformer.attention(np.asarray(a), layer, spec.heads, spec.causal)[0]
    q, k, v = (transformer.split_heads(transformer.project(a, layer, p), spec.heads) for p in "qkv")
    fused = jax.nn.dot_product_attention(q, k, v, is_causal=True).reshape(a.shape)  # (N, T, E)
    ours = transformer.attention(a, layer, spec.heads, spec.causal)
    return Gap(
        rel_diff(transformer.project(fused, layer, "o"), expected), rel_diff(ours, expected), FORWARD[F64]
    )
