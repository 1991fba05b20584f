"""The network in Keras 3: a keras.Sequential of stock layers (Dense; Conv2D, pooling, Flatten from
conv.py; LSTM, GRU from recurrent.py), the loss from keras.losses, and the gradient from whichever
backend KERAS_BACKEND selects (tensorflow, jax or torch).

Weights come in canonical, one dict per task layer ({"W": (fan_in, fan_out), "b": (fan_out,)},
y = x @ W + b; a PReLU layer's "alpha": (fan_out,); Conv2D, LSTM, GRU as in rosetta.layouts; {} for
pooling and Flatten) and go out the same way: Keras's layouts are the canonical ones (Dense.kernel
(in, out), Conv2D.kernel (kh, kw, in, out), LSTM/GRU kernel, recurrent_kernel, bias), so no transpose
anywhere. Every variable, input and loss follows the dtype of the weights (float64 or float32) through
keras.config.set_floatx; a float64 run also takes the fixes of impl_keras/float64_fixes.py.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from impl_keras import conv, float64_fixes, recurrent
from rosetta import validate
from rosetta.arrays import as_dtype
from rosetta.errors import unknown
from rosetta.params import dtype_of
from rosetta.tasks import ACTIVATIONS, GRU, LOSSES, LSTM, Conv2D, Flatten, Pool2D

# ---- activations: by name on the Dense or Conv2D layer, or a layer with the task's α after it ----

NAMED = ("linear", "relu", "sigmoid", "tanh")


def activation(spec):
    """Dense's or Conv2D's activation= argument; None where a layer with an α follows (alpha_layers)."""
    if spec.activation not in ACTIVATIONS:
        raise unknown("activation", spec.activation, ACTIVATIONS)
    return spec.activation if spec.activation in NAMED else None


def alpha_layers(spec):
    """The layers after a Dense or Conv2D(activation=None): LeakyReLU, ELU or PReLU (Dense only)."""
    if spec.activation == "leaky_relu":
        return [float64_fixes.leaky_relu(spec.alpha)]  # keras.layers.LeakyReLU(negative_slope=α)
    if spec.activation == "elu":
        return [keras.layers.ELU(alpha=spec.alpha)]
    if spec.activation == "prelu":  # one α per unit (shared_axes=None); set_weights loads the task's
        return [keras.layers.PReLU()]  # Keras's α starts at 0 (alpha_initializer="Zeros"), torch's at 0.25
    return []


# ---- the network ----


def dense(task, spec):
    """keras.layers.Dense(units) with the task's activation (or None, the α layer after it) and L2."""
    return keras.layers.Dense(
        spec.units,
        activation=activation(spec),
        use_bias=spec.bias,
        kernel_initializer="zeros",  # Keras 1: init=; set_weights replaces it with the task's
        kernel_regularizer=l2_penalty(task),  # adds λ·ΣW² to the loss
    )


ONE_LAYER = {Pool2D: conv.pool2d, Flatten: conv.flatten, LSTM: recurrent.lstm, GRU: recurrent.gru}


def keras_layers(task, spec):
    """The Keras layers of one task layer: Dense or Conv2D and its α layer, or one stock layer."""
    if isinstance(spec, Conv2D):
        return [conv.conv2d(spec, activation(spec)), *alpha_layers(spec)]
    if type(spec) in ONE_LAYER:
        return [ONE_LAYER[type(spec)](spec)]
    return [dense(task, spec), *alpha_layers(spec)]


def build(task, params):
    """keras.Sequential([keras.Input, one or two Keras layers per task layer, ...]) holding a copy of
    the canonical weights."""
    layers = [keras.Input(shape=task.input_shape)]  # Keras 1/2: Dense(..., input_dim=n_in)
    for spec in task.layers:
        layers += keras_layers(task, spec)
    model = keras.Sequential(layers)
    # Keras's variables, in order: kernel, recurrent_kernel, bias, PReLU α of each layer
    model.set_weights([layer[key] for layer in params for key in ("W", "U", "b", "alpha") if key in layer])
    return model


def get_params(model, grads=None):
    """The canonical weights of the model's layers (or `grads`, in the same order: kernel,
    [recurrent_kernel,] bias, [PReLU α,] kernel, ...), NumPy; {} for pooling and Flatten."""
    arrays, params = iter(model.trainable_variables if grads is None else grads), []
    for layer in model.layers:
        if isinstance(layer, keras.layers.PReLU):
            params[-1]["alpha"] = np.array(ops.convert_to_numpy(next(arrays)))  # (fan_out,)
        elif isinstance(layer, keras.layers.Dense):
            params.append(dense_params(layer, arrays))
        elif isinstance(layer, keras.layers.Conv2D):
            params.append(conv.conv2d_params(layer, arrays))
        elif isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
            params.append(recurrent.recurrent_params(layer, arrays))
        elif isinstance(layer, (*conv.POOLS.values(), keras.layers.Flatten)):
            params.append({})
    return params  # a LeakyReLU or ELU layer after a Dense or Conv2D has no weights and no entry


def dense_params(layer, arrays):
    """The canonical {"W"[, "b"]} of a Dense from the next one or two of `arrays`."""
    params = {"W": np.array(ops.convert_to_numpy(next(arrays)))}  # Dense.kernel: (in, out)
    assert params["W"].shape == (layer.kernel.shape[0], layer.units), f"W is {params['W'].shape}"
    if layer.use_bias:
        params["b"] = np.array(ops.convert_to_numpy(next(arrays)))
    return params


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy."""
    x = validate.forward_call(task, params, x)
    with floatx_of(params):
        model = build(task, params)
        return ops.convert_to_numpy(model(as_dtype(x, params)))


@contextlib.contextmanager
def floatx_of(params):
    """Keras creates variables, losses, metrics and optimizer state, and casts inputs, in the global
    floatx (default float32); layers take the global dtype policy, which Keras fixes from floatx the
    first time a layer is built. Set both to the weights' dtype for this call only, then restore them."""
    dtype, previous = str(dtype_of(params)), (keras.config.floatx(), keras.config.dtype_policy())
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        with float64_fixes.type_promotion(dtype):
            yield
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


# ---- losses, called (y_true, y_pred) as Keras's are (torch's order is the reverse) ----


def loss_value(task, out, y):
    """The task's loss of the output `out` (N, K), as fit computes it: Keras's loss times its weight."""
    loss, weight = keras_loss(task)
    return weight * loss(y, out)


def keras_loss(task):
    """(a Keras loss, the loss_weights compile takes) for the task's loss."""
    if task.loss == "multitask":
        return multitask(task), 1.0  # compile takes a function (y_true, y_pred) as a loss
    loss, weight = named_loss(task.loss, task.n_out)
    return (on_the_output(loss) if task.loss in LOGITS else loss), weight


LOGITS = ("bce_logits", "softmax_ce")  # the cross-entropies on logits


def named_loss(name, k):
    """(a keras.losses object, its weight) for a loss of rosetta.tasks.LOSSES on K outputs."""
    if name == "half_sse":  # ½Σ(out − y)² = Σ over rows of the mean over K, times K/2
        return keras.losses.MeanSquaredError(reduction="sum"), k / 2
    if name == "sse_2n":  # Σ(out − y)²/(2N) = the mean over all N·K, times K/2
        return keras.losses.MeanSquaredError(), k / 2
    if name == "mse":
        return keras.losses.MeanSquaredError(), 1.0  # mean over all N·K
    # from_logits=True: without it Keras reads the output as probabilities and clips them at 1e-7
    if name == "bce_logits":
        return keras.losses.BinaryCrossentropy(from_logits=True), 1.0
    if name == "softmax_ce":  # labels (N,), logits (N, K)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), 1.0
    raise unknown("loss", name, LOSSES)


def on_the_output(loss):
    """The loss of the output itself. TensorFlow's cross-entropies, from_logits=True or not, take a
    sigmoid output's own input in its place (the `_keras_logits` the activation stores on it, or the
    Sigmoid op's input in a tf.function: docs/divergences.md, logits-path/keras), so a last layer's
    sigmoid would be skipped; ops.copy (tf.identity) hands them a tensor that is only the output."""
    return lambda y_true, y_pred: loss(y_true, ops.copy(y_pred))


def multitask(task):
    """w₁·MSE(regression columns) + w₂·CE(one-hot class columns) of one output (N, R + K)."""
    r, (w1, w2) = task.n_regression, task.loss_weights

    def loss(y_true, y_pred):
        mse = keras.losses.mean_squared_error(y_true[:, :r], y_pred[:, :r])  # (N,): mean over R
        ce = keras.losses.categorical_crossentropy(y_true[:, r:], y_pred[:, r:], from_logits=True)  # (N,)
        return w1 * ops.mean(mse) + w2 * ops.mean(ce)

    return loss


def l2_penalty(task):
    """λ·ΣW² over the kernels, as Keras adds it to the loss: a kernel regularizer (None if λ = 0)."""
    return float64_fixes.l2(task.l2) if task.l2 else None  # keras.regularizers.L2(λ)


def total_loss(model, loss_fn, x, y):
    """The loss incl. L2, as fit computes it: loss_fn(y, out) plus the regularizers' model.losses."""
    loss = loss_fn(y, model(x))
    return loss + ops.sum(model.losses) if model.losses else loss


# ---- the gradient: each backend's own mechanism, one function each ----


def tensorflow_gradient(model, loss_fn, x, y):
    import tensorflow as tf

    with tf.GradientTape() as tape:  # records the ops on the trainable variables
        loss = total_loss(model, loss_fn, x, y)
    return loss, tape.gradient(loss, model.trainable_variables)


def jax_gradient(model, loss_fn, x, y):
    import jax

    fixed = [v.value for v in model.non_trainable_variables]  # an RNN's dropout SeedGenerator state

    def loss_of(trainable):  # a pure function of the weights: stateless_call, not model(x)
        out, _, losses = model.stateless_call(trainable, fixed, x, return_losses=True)
        return loss_fn(y, out) + sum(losses)

    return jax.value_and_grad(loss_of)([v.value for v in model.trainable_variables])


def torch_gradient(model, loss_fn, x, y):
    loss = total_loss(model, loss_fn, x, y)
    loss.backward()  # fills each variable's .value.grad, shaped like the variable
    return loss, [v.value.grad for v in model.trainable_variables]


GRADIENT = {"tensorflow": tensorflow_gradient, "jax": jax_gradient, "torch": torch_gradient}


def loss_and_grads(task, params, x, y):
    """The loss (with any L2 term) and its gradient with respect to every weight, canonical."""
    x, y = validate.loss_call(task, params, x, y)
    with floatx_of(params):
        model = build(task, params)
        gradient = GRADIENT[keras.backend.backend()]
        loss_fn = lambda y_true, out: loss_value(task, out, y_true)  # noqa: E731
        loss, grads = gradient(model, loss_fn, as_dtype(x, params), as_dtype(y, params))
        return float(ops.stop_gradient(loss)), get_params(model, grads)
