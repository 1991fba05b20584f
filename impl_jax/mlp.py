"""The network in JAX: the reference's forward and loss in jnp, the backward pass by jax.grad.

Weights are a pytree in the canonical layout, one dict per layer: a Dense layer {"W": (fan_in,
fan_out), "b": (fan_out,)}, y = x @ W + b; a PReLU layer also holds its learned slopes "alpha":
(fan_out,), one more leaf for jax.grad and optax. Conv2D, LSTM and GRU layers hold the canonical
weights of rosetta.layouts (impl_jax/conv.py, recurrent.py); Pool2D and Flatten an empty dict, a
subtree without leaves that jax.grad and optax pass through. Every array follows the dtype of the
weights (float64 or float32).
"""

import jax
import jax.numpy as jnp
import numpy as np

from impl_jax import conv, recurrent
from rosetta import validate
from rosetta.arrays import as_dtype
from rosetta.errors import unknown
from rosetta.tasks import ACTIVATIONS, GRU, LOSSES, LSTM, Conv2D, Flatten, Layer, Pool2D

# JAX computes in float32 only, silently truncating float64 inputs, unless x64 is on. With it on,
# float32 weights still compute in float32: jnp follows the dtype of the arrays.
jax.config.update("jax_enable_x64", True)

POOLS = {"max": conv.maxpool2d, "avg": conv.avgpool2d}  # max: grad to the first max, as the reference
RECURRENT = {LSTM: recurrent.lstm, GRU: recurrent.gru}

# ---- activations: a = f(z); da/dz comes from jax.grad ----


def activation(name, z, alpha):
    if name == "linear":
        return z
    if name == "relu":
        return jax.nn.relu(z)  # grad 0 at z = 0 as the reference; jnp.maximum(z, 0) would give ½
    if name in ("leaky_relu", "prelu"):  # prelu: α is the layer's (fan_out,) leaf, a JAX parameter
        return jnp.where(z > 0, z, alpha * z)  # grad α at z = 0; jax.nn.leaky_relu's is 1 (x >= 0)
    if name == "elu":
        return jax.nn.elu(z, alpha)  # grad α at z = 0, as the reference
    if name == "sigmoid":
        return jax.nn.sigmoid(z)  # = 1/(1 + e^−z) bit for bit; its grad σ(1 − σ) stays 0 for z ≪ 0
    if name == "tanh":
        return jnp.tanh(z)
    raise unknown("activation", name, ACTIVATIONS)


# ---- the network ----


def build(task, params):
    """The native model of JAX is the canonical weights as a pytree of jax arrays."""
    return jax.device_put([dict(layer) for layer in params])  # a copy; jnp.asarray may alias NumPy's


def get_params(model):
    return [{key: np.array(value) for key, value in layer.items()} for layer in model]


def slope(spec, layer):
    """The activation's α: the layer's learned "alpha" (PReLU), else the task's constant."""
    return layer["alpha"] if "alpha" in layer else spec.alpha


def activated(spec):
    """Dense and Conv2D layers end in an activation; pooling, flatten and recurrent layers do not."""
    return isinstance(spec, (Layer, Conv2D))


def predict(task, params, x):
    a = x  # (N, *input_shape)
    for spec, layer in zip(task.layers, params):
        z = layer_forward(spec, layer, a)
        a = activation(spec.activation, z, slope(spec, layer)) if activated(spec) else z
    return a


def layer_forward(spec, layer, a):
    """The layer's output before any activation."""
    if isinstance(spec, Layer):
        z = a @ layer["W"]  # (N, fan_in) @ (fan_in, fan_out) -> (N, fan_out)
        return z + layer["b"] if "b" in layer else z
    if isinstance(spec, Conv2D):  # (N, H, W, C) -> (N, Ho, Wo, filters)
        return conv.conv2d(a, layer["W"], layer["b"], spec.stride, spec.padding)
    if isinstance(spec, Pool2D):  # (N, H, W, C) -> (N, H // p, W // p, C)
        return POOLS[spec.kind](a, spec.size)
    if isinstance(spec, Flatten):  # (N, H, W, C) -> (N, H·W·C), row-major
        return conv.flatten(a)
    return RECURRENT[type(spec)](a, layer)[:, -1]  # (N, T, F) -> many-to-one: h_T, (N, u)


predict_jit = jax.jit(predict, static_argnums=0)  # the task is static: one compile per task and shape


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy."""
    x = validate.forward_call(task, params, x)
    params = build(task, params)
    return np.asarray(predict_jit(task, params, as_dtype(x, params)))


# ---- losses: N rows, K outputs ----


def loss_value(task, out, y):
    """The task's loss of the output (N, K)."""
    return multitask(task, out, y) if task.loss == "multitask" else named_loss(task.loss, out, y)


def named_loss(name, out, y):
    """A loss of rosetta.tasks.LOSSES."""
    n = out.shape[0]
    if name == "half_sse":
        return 0.5 * jnp.sum((out - y) ** 2)  # L = ½Σ(out − y)²
    if name == "sse_2n":
        return jnp.sum((out - y) ** 2) / (2 * n)  # L = Σ(out − y)²/(2N)
    if name == "mse":
        return jnp.mean((out - y) ** 2)  # L = mean (out − y)²
    if name == "bce_logits":
        return bce_logits(out, y)
    if name == "softmax_ce":
        return softmax_ce(out, y)
    raise unknown("loss", name, LOSSES)


def multitask(task, out, y):
    """w₁·MSE(regression columns) + w₂·softmax CE(class columns); y (N, R + K), one-hot classes."""
    r, (w1, w2) = task.n_regression, task.loss_weights
    mse = named_loss("mse", out[:, :r], y[:, :r])
    ce = -jnp.mean(jnp.sum(y[:, r:] * jax.nn.log_softmax(out[:, r:], axis=1), axis=1))  # one-hot · log p
    return w1 * mse + w2 * ce


def bce_logits(z, y):
    """mean[max(z, 0) − z·y + log(1 + e^−|z|)] (stable)."""
    return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))


def softmax_ce(z, labels):
    """mean over rows of logsumexp(z) − z[label] (stable)."""
    log_p = jax.nn.log_softmax(z, axis=1)  # (N, K)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def l2_penalty(task, params):
    """λ·ΣW² over the kernels only."""
    return task.l2 * sum(jnp.sum(layer["W"] ** 2) for layer in params)


# ---- the backward pass: jax.grad of the loss ----


def total_loss(task, params, x, y):
    """The loss incl. L2, a pure function of the weights: what jax.grad differentiates."""
    out = predict(task, params, x)
    value = loss_value(task, out, y)
    if task.l2:
        value = value + l2_penalty(task, params)
    return value


# (loss, grads) on arrays already in the weights' dtype; grads is a pytree shaped like params.
loss_and_grads_native = jax.jit(jax.value_and_grad(total_loss, argnums=1), static_argnums=0)


def loss_and_grads(task, params, x, y):
    """The loss (with any L2 term) and its gradient with respect to every weight, canonical."""
    x, y = validate.loss_call(task, params, x, y)
    params = build(task, params)
    value, grads = loss_and_grads_native(task, params, as_dtype(x, params), as_dtype(y, params))
    return float(value), get_params(grads)
