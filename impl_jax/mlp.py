"""The network in JAX: the reference's forward and loss in jnp, the backward pass by jax.grad.

Weights are a pytree in the canonical layout, one dict per node: a Dense layer {"W": (fan_in,
fan_out), "b": (fan_out,)}, y = x @ W + b; a PReLU layer also holds its learned slopes "alpha":
(fan_out,), one more leaf for jax.grad and optax. Conv2D, Conv2DTranspose, LSTM, GRU, Bidirectional
and BatchNorm hold the canonical weights of foundation.layouts (impl_jax/conv.py, recurrent.py,
norm.py); a node without weights an empty dict, a subtree without leaves that jax.grad and optax
pass through. BatchNorm's running statistics are not trained: split_running takes them out of
the pytree jax.grad differentiates, and a training step sets them. Every array follows the dtype of
the weights (float64 or float32).

The model is a graph (rosetta.tasks): the forward pass keeps every node's value by name.
"""

import jax
import jax.numpy as jnp
import numpy as np

from foundation import validate
from foundation.arrays import as_dtype
from foundation.errors import unknown
from foundation.tasks import (
    ACTIVATED,
    ACTIVATIONS,
    GRU,
    INPUT,
    LOSSES,
    LSTM,
    MERGES,
    RUNNING,
    Activation,
    Add,
    BatchNorm,
    Bidirectional,
    Conv2D,
    Conv2DTranspose,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,  # fmt: skip
    Layer,
    LayerNorm,
    MultiHeadAttention,
    Pool2D,
    PositionEmbedding,
    TiedOutput,
)
from impl_jax import conv, norm, recurrent, transformer

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
    if name == "gelu":
        return jax.nn.gelu(z, approximate=False)  # the exact z·Φ(z); jax.nn.gelu's default is the tanh form
    raise unknown("activation", name, ACTIVATIONS)


# ---- the network ----


def build(task, params):
    """The native model of JAX is the canonical weights as a pytree of jax arrays."""
    return jax.device_put([dict(layer) for layer in params])  # a copy; jnp.asarray may alias NumPy's


def get_params(model):
    return [{key: np.array(value) for key, value in layer.items()} for layer in model]


def split_running(model):
    """(trained, running): the weights jax.grad differentiates and optax updates, and BatchNorm's
    running statistics, {} for every other node."""
    trained = [{key: value for key, value in layer.items() if key not in RUNNING} for layer in model]
    running = [{key: value for key, value in layer.items() if key in RUNNING} for layer in model]
    return trained, running


def with_running(trained, running):
    """split_running's inverse: one dict per node again."""
    return [{**layer, **stats} for layer, stats in zip(trained, running)]


def slope(spec, layer):
    """The activation's α: the layer's learned "alpha" (PReLU), else the task's constant."""
    return layer["alpha"] if "alpha" in layer else spec.alpha


def activated(spec):
    """Dense, Conv2D, Conv2DTranspose and Activation nodes end in an activation; the others do not."""
    return isinstance(spec, ACTIVATED)


def predict(task, params, x, training=False):
    """(output, values): the forward pass keeping every node's output by name ("x": the input);
    BatchNorm on the batch's statistics when training, else on its running ones."""
    values = {INPUT: x}  # node name -> its output, (N, *shape)
    named = dict(zip(task.names, params))
    for spec, layer, name, reads in zip(task.layers, params, task.names, task.inputs):
        a = [values[read] for read in reads] if isinstance(spec, MERGES) else values[reads[0]]
        layer = named[spec.embedding] if isinstance(spec, TiedOutput) else layer  # the Embedding's {"E"}
        z = layer_forward(spec, layer, a, training)
        a = activation(spec.activation, z, slope(spec, layer)) if activated(spec) else z
        values[name] = a
    return a, values


def layer_forward(spec, layer, a, training=False):
    """The node's output before any activation; `a` is its input, or the list of its inputs for Add
    and Concatenate."""
    if isinstance(spec, MERGES):
        return merge_forward(spec, a)
    if isinstance(spec, Activation):
        return a
    if isinstance(spec, BatchNorm):  # (N, ..., C): statistics per channel
        return norm.batchnorm(a, layer, spec.eps, training)
    if isinstance(spec, Conv2DTranspose):  # (N, H, W, C) -> (N, (H − 1)·s + k, (W − 1)·s + k, filters)
        return conv.conv2d_transpose(a, layer["W"], layer["b"], spec.stride)
    if isinstance(spec, GlobalAveragePooling2D):  # (N, H, W, C) -> (N, C)
        return conv.global_avgpool2d(a)
    if isinstance(spec, Bidirectional):  # (N, T, F) -> (N, 2u), or (N, T, 2u) with return_sequences
        return recurrent.bidirectional(a, layer, RECURRENT[type(spec.layer)], spec.return_sequences)
    if isinstance(spec, Layer):
        z = a @ layer["W"]  # (N, fan_in) @ (fan_in, fan_out) -> (N, fan_out); (N, T, fan_in) alike
        return z + layer["b"] if "b" in layer else z
    if isinstance(spec, Conv2D):  # (N, H, W, C) -> (N, Ho, Wo, filters)
        return conv.conv2d(a, layer["W"], layer["b"], spec.stride, spec.padding)
    if isinstance(spec, Embedding):  # token ids (N, T) -> (N, T, E)
        return transformer.embedding(a, layer["E"])
    if isinstance(spec, PositionEmbedding):
        return transformer.position_embedding(a, layer["P"])
    if isinstance(spec, LayerNorm):  # (N, T, E), over the last axis
        return transformer.layernorm(a, layer["gamma"], layer["beta"], spec.eps)
    if isinstance(spec, MultiHeadAttention):  # (N, T, E) -> (N, T, E)
        return transformer.attention(a, layer, spec.heads, spec.causal)
    if isinstance(spec, TiedOutput):  # layer: the Embedding node's weights
        return transformer.tied_output(a, layer["E"])
    if isinstance(spec, Pool2D):  # (N, H, W, C) -> (N, H // p, W // p, C)
        return POOLS[spec.kind](a, spec.size)
    if isinstance(spec, Flatten):  # (N, H, W, C) -> (N, H·W·C), (N, T, C) -> (N, T·C), row-major
        return conv.flatten(a)
    return RECURRENT[type(spec)](a, layer)[:, -1]  # (N, T, F) -> many-to-one: h_T, (N, u)


def merge_forward(spec, inputs):
    """Add: the sum, left to right; Concatenate: along the last axis."""
    if isinstance(spec, Add):
        total = inputs[0]
        for a in inputs[1:]:
            total = total + a
        return total
    return jnp.concatenate(inputs, axis=-1)


# the task is static: one compile per task and shape; the output only, not every node's value
predict_jit = jax.jit(lambda task, params, x: predict(task, params, x)[0], static_argnums=0)


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy; BatchNorm in inference
    mode (its running statistics)."""
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
    """mean over rows (or over the N·T positions of (N, T, K) logits) of logsumexp(z) − z[label] (stable)."""
    log_p = jax.nn.log_softmax(z, axis=-1)  # (N, K) or (N, T, K)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[..., None], axis=-1))


def l2_penalty(task, params):
    """λ·ΣW² over the kernels only."""
    return task.l2 * sum(jnp.sum(layer["W"] ** 2) for layer in params)


# ---- the backward pass: jax.grad of the loss ----


def running_stats(task, params, values):
    """Each BatchNorm node's running statistics after a training step on the batch whose node
    values predict returned ({} for the other nodes): part of the step, beside the optimizer's update."""
    return [
        norm.running_stats(layer, values[reads[0]], spec.momentum, spec.unbiased_var)
        if isinstance(spec, BatchNorm) else {}
        for spec, layer, reads in zip(task.layers, params, task.inputs)
    ]  # fmt: skip


def total_loss(task, params, running, x, y):
    """The loss incl. L2 in training mode, a pure function of the trained weights `params`: what
    jax.grad differentiates (running: BatchNorm's running statistics, split_running's). Returns
    (loss, the running statistics after this batch), the second for has_aux=True."""
    model = with_running(params, running)
    out, values = predict(task, model, x, training=True)
    value = loss_value(task, out, y)
    if task.l2:
        value = value + l2_penalty(task, params)
    return value, running_stats(task, model, values)


# ((loss, running), grads) on arrays already in the weights' dtype; grads shaped like the trained weights
loss_and_grads_native = jax.jit(jax.value_and_grad(total_loss, argnums=1, has_aux=True), static_argnums=0)


def loss_and_grads(task, params, x, y):
    """The loss (with any L2 term) and its gradient with respect to every trained weight, canonical
    ({} for a node without weights; BatchNorm: "gamma" and "beta"), BatchNorm in training mode."""
    x, y = validate.loss_call(task, params, x, y)
    params = build(task, params)
    trained, running = split_running(params)
    x, y = as_dtype(x, params), as_dtype(y, params)
    (value, _), grads = loss_and_grads_native(task, trained, running, x, y)
    return float(value), get_params(grads)
