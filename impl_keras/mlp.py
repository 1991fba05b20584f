"""The MLP in Keras 3: a keras.Sequential of Dense layers, the loss from keras.losses, and the gradient
from whichever backend KERAS_BACKEND selects (tensorflow, jax or torch).

Weights come in canonical ({"W": (fan_in, fan_out), "b": (fan_out,)}, y = x @ W + b; a PReLU layer's
"alpha": (fan_out,)) and go out the same way: Dense.kernel is already (in, out) and PReLU.alpha
(fan_out,), so no transpose anywhere. Every variable, input and loss follows the dtype of the weights
(float64 or float32) through keras.config.set_floatx.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from rosetta import validate
from rosetta.errors import unknown
from rosetta.tasks import ACTIVATIONS, LOSSES

if keras.backend.backend() == "jax":
    import jax

    # JAX computes in float32 only, silently truncating float64, unless x64 is on. With it on,
    # float32 weights still compute in float32: Keras casts every input to the layers' dtype.
    jax.config.update("jax_enable_x64", True)


@contextlib.contextmanager
def floatx_of(params):
    """Keras creates variables, losses, metrics and optimizer state, and casts inputs, in the global
    floatx (default float32); layers take the global dtype policy, which Keras fixes from floatx the
    first time a layer is built. Set both to the weights' dtype for this call only, then restore them."""
    dtype, previous = str(params[0]["W"].dtype), (keras.config.floatx(), keras.config.dtype_policy())
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


# ---- activations: by name on the Dense layer, or a layer with the task's α after it ----

NAMED = ("linear", "relu", "sigmoid", "tanh")


def dense_activation(spec):
    """Dense's own activation; None where an α-layer follows instead."""
    if spec.activation == "tanh" and keras.backend.backend() == "jax":
        # Keras's jax tanh casts float64 to float32 before calling jnp.tanh (its type promotion maps
        # float64 to float32 on jax: keras/src/backend/jax/numpy.py tanh); call jnp.tanh directly.
        return jax.numpy.tanh
    return spec.activation if spec.activation in NAMED else None


class LeakyReLU(keras.layers.LeakyReLU):
    """keras.layers.LeakyReLU computed as where(z > 0, z, α·z): TensorFlow's LeakyRelu op holds α as
    a float32 attribute (0.01 becomes 0.0099999998 in float64), and jax.nn.leaky_relu has slope 1 at
    z = 0 where torch, TF and the reference have α."""

    def call(self, inputs):
        return ops.where(inputs > 0, inputs, self.negative_slope * inputs)


def activation_layers(spec):
    """The layers that follow a Dense(activation=None) for an activation with a parameter α."""
    if spec.activation == "leaky_relu":
        return [LeakyReLU(negative_slope=spec.alpha)]  # Keras's default slope is 0.3
    if spec.activation == "elu":
        return [keras.layers.ELU(alpha=spec.alpha)]
    if spec.activation == "prelu":  # one α per unit (shared_axes=None); set_weights loads the task's
        return [keras.layers.PReLU()]  # Keras's α starts at 0 (alpha_initializer="Zeros"), torch's at 0.25
    if spec.activation not in NAMED:
        raise unknown("activation", spec.activation, ACTIVATIONS)
    return []


# ---- the network ----


class Dense(keras.layers.Dense):
    """keras.layers.Dense with x @ kernel in the kernel's dtype: on the torch backend Keras's
    ops.matmul casts float64 operands to float32 (Keras's type promotion maps float64 to float32
    off TensorFlow: keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE)."""

    def call(self, inputs, training=None):
        if keras.backend.backend() == "torch":
            z = inputs @ self.kernel.value  # torch.matmul: (N, in) @ (in, out) -> (N, out)
        else:
            z = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            z = ops.add(z, self.bias)
        return self.activation(z)


class L2(keras.regularizers.L2):
    """keras.regularizers.L2: λ·ΣW², with λ in the weights' dtype. Keras's own ops.cast(λ, dtype)
    goes through float32 on TensorFlow (λ = 1e-3 becomes 1.0000000475e-3 in float64)."""

    def __call__(self, x):
        return self.l2 * ops.sum(ops.square(x))


def build(task, params, sequential=keras.Sequential):
    """keras.Sequential([keras.Input, Dense, ...]) holding a copy of the canonical weights."""
    layers = [keras.Input(shape=(task.n_in,))]  # Keras 1/2: Dense(..., input_dim=n_in)
    for spec in task.layers:
        dense = Dense(
            spec.units,
            activation=dense_activation(spec),
            use_bias=spec.bias,
            kernel_initializer="zeros",  # Keras 1: init=; set_weights replaces it with the task's
            kernel_regularizer=L2(task.l2) if task.l2 else None,  # adds λ·ΣW² to the loss
        )
        layers += [dense, *activation_layers(spec)]
    model = sequential(layers)
    model.set_weights([layer[key] for layer in params for key in ("W", "b", "alpha") if key in layer])
    return model


def dense_layers(model):
    """The layers holding weights, in order: each Dense, and a PReLU after its Dense."""
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Dense, keras.layers.PReLU))]


def get_params(model):
    """The canonical weights of the model's Dense and PReLU layers, NumPy."""
    return canonical(dense_layers(model), [v for d in dense_layers(model) for v in d.trainable_weights])


def canonical(denses, arrays):
    """[{"W": kernel, "b": bias, "alpha": α}, ...] from a flat list in Keras's weight order (kernel,
    bias, PReLU α, ...)."""
    arrays, params = iter(arrays), []
    for dense in denses:
        if isinstance(dense, keras.layers.PReLU):
            params[-1]["alpha"] = np.array(ops.convert_to_numpy(next(arrays)))  # (fan_out,)
            continue
        layer = {"W": np.array(ops.convert_to_numpy(next(arrays)))}  # Dense.kernel: (in, out)
        assert layer["W"].shape == (dense.kernel.shape[0], dense.units), f"W is {layer['W'].shape}"
        if dense.use_bias:
            layer["b"] = np.array(ops.convert_to_numpy(next(arrays)))
        params.append(layer)
    return params


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy."""
    x = validate.forward_call(task, params, x)
    with floatx_of(params):
        model = build(task, params)
        return ops.convert_to_numpy(model(as_dtype(x, params)))


def as_dtype(x, params):
    """Inputs and float targets in the dtype of the weights; integer class labels as they are."""
    x = np.asarray(x)
    return x if x.dtype.kind in "iu" else x.astype(params[0]["W"].dtype, copy=False)


# ---- losses, called (y_true, y_pred) as Keras's are (torch's order is the reverse) ----


class Loss(keras.losses.Loss):
    """An elementwise loss summed over rows and outputs and divided by a count: keras.losses'
    ½·SSE-style, mean and cross-entropy losses without their ops.mean and "sum_over_batch_size"
    division (ops.divide_no_nan), which on the torch backend (jax: ops.mean) compute float64 in
    float32, as Dense's matmul does above."""

    def __init__(self, elementwise, per, name):
        super().__init__(reduction="sum", name=name)  # Keras sums the values call returns
        self.elementwise, self.per = elementwise, per

    def call(self, y_true, y_pred):
        n, k = ops.shape(y_pred)  # (N, K); N is a tensor in a TF graph with a free batch dimension
        count = {"batch": 1, "row": n, "element": n * k}[self.per]
        return self.elementwise(y_true, y_pred) / ops.cast(count, y_pred.dtype)


def half_squared_error(y_true, y_pred):
    return 0.5 * ops.square(y_pred - y_true)  # (N, K)


def squared_error(y_true, y_pred):
    return ops.square(y_pred - y_true)  # (N, K)


def binary_crossentropy(y_true, y_pred):
    # from_logits=True: without it Keras reads the output as probabilities and clips them at 1e-7
    return ops.binary_crossentropy(y_true, y_pred, from_logits=True)  # (N, K)


def categorical_crossentropy(y_true, y_pred):
    return ops.categorical_crossentropy(y_true, y_pred, from_logits=True)  # one-hot (N, K) -> (N,)


def sparse_categorical_crossentropy(y_true, y_pred):
    return ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)  # labels (N,) -> (N,)


def loss_function(name):
    """The task's loss; each is what the named keras.losses class computes."""
    if name == "half_sse":
        return Loss(half_squared_error, "batch", "half_sse")  # ½Σ(out − y)²
    if name == "sse_2n":
        return Loss(half_squared_error, "row", "sse_2n")  # Σ(out − y)²/(2N)
    if name == "mse":
        return Loss(squared_error, "element", "mean_squared_error")  # mean over all N·K
    if name == "bce_logits":
        return Loss(binary_crossentropy, "element", "binary_crossentropy")
    if name == "softmax_ce":
        return Loss(sparse_categorical_crossentropy, "row", "sparse_categorical_crossentropy")
    raise unknown("loss", name, LOSSES)


class Multitask(keras.losses.Loss):
    """w₁·MSE(regression columns) + w₂·CE(class columns, one-hot) of one output (N, R + K): the two
    losses above, weighted, as compile(loss_weights=...) would weigh two outputs."""

    def __init__(self, task):
        super().__init__(reduction="sum", name="multitask")  # the sum of one scalar: the value itself
        self.r, self.loss_weights = task.n_regression, task.loss_weights
        self.mse = Loss(squared_error, "element", "mean_squared_error")
        self.ce = Loss(categorical_crossentropy, "row", "categorical_crossentropy")

    def call(self, y_true, y_pred):
        (w1, w2), r = self.loss_weights, self.r
        return w1 * self.mse(y_true[:, :r], y_pred[:, :r]) + w2 * self.ce(y_true[:, r:], y_pred[:, r:])


def task_loss(task):
    """The task's loss: the multitask sum, or the one named loss."""
    return Multitask(task) if task.loss == "multitask" else loss_function(task.loss)


def total_loss(model, loss_fn, x, y):
    """The loss incl. L2, as fit computes it: the compiled loss plus the regularizers' model.losses."""
    loss = loss_fn(y, model(x))
    return loss + ops.sum(model.losses) if model.losses else loss


# ---- the gradient: each backend's own mechanism, one function each ----


def tensorflow_gradient(model, loss_fn, x, y):
    import tensorflow as tf

    with tf.GradientTape() as tape:  # records the ops on the trainable variables
        loss = total_loss(model, loss_fn, x, y)
    return loss, tape.gradient(loss, model.trainable_variables)


def jax_gradient(model, loss_fn, x, y):
    def loss_of(trainable):  # a pure function of the weights: stateless_call, not model(x)
        out, _, losses = model.stateless_call(trainable, [], x, return_losses=True)
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
        loss, grads = gradient(model, task_loss(task), as_dtype(x, params), as_dtype(y, params))
        return float(ops.stop_gradient(loss)), canonical(dense_layers(model), grads)
