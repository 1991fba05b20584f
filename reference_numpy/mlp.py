"""The reference network in plain NumPy: forward, loss and a hand-written backward pass.

Weights are canonical, one dict per node: Dense {"W": (fan_in, fan_out), "b": (fan_out,)},
y = x @ W + b, a PReLU layer also holding its learned slopes "alpha": (fan_out,); Conv2D,
Conv2DTranspose, LSTM, GRU, Bidirectional and BatchNorm as in foundation.layouts, computed by conv.py,
recurrent.py and norm.py beside this file; {} for a node without weights. Every array follows the
dtype of the weights (float64 or float32).

The model is a graph (rosetta.tasks): the forward pass keeps every node's value by name, and the
backward pass walks the nodes in reverse topological order, each adding into its inputs' gradients,
as micrograd's `for v in reversed(topo): v._backward()`.
"""

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
    Activation,
    Add,
    BatchNorm,
    Bidirectional,
    Concatenate,
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
from reference_numpy import conv, norm, recurrent, transformer

POOLS = {"max": (conv.maxpool2d, conv.maxpool2d_backward),
         "avg": (conv.avgpool2d, conv.avgpool2d_backward)}  # fmt: skip
RECURRENT = {LSTM: (recurrent.lstm, recurrent.lstm_backward),
             GRU: (recurrent.gru, recurrent.gru_backward)}  # fmt: skip
TRANSFORMER = (Embedding, PositionEmbedding, LayerNorm, MultiHeadAttention, TiedOutput)

# ---- activations: a = f(z) and its derivative da/dz ----


def activation(name, z, alpha):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name in ("leaky_relu", "prelu"):  # prelu: α is the layer's learned (fan_out,) array
        return np.where(z > 0, z, alpha * z)
    if name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))  # the tutorials' formula; exp(−z) = inf for z ≪ 0 gives σ = 0
    if name == "tanh":
        return np.tanh(z)
    if name == "gelu":
        return transformer.gelu(z)
    raise unknown("activation", name, ACTIVATIONS)


def activation_grad(name, z, a, alpha):
    if name == "linear":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(z.dtype)  # 0 at z = 0, as torch, TF and JAX
    if name in ("leaky_relu", "prelu"):
        return np.where(z > 0, 1, alpha).astype(z.dtype)  # α at z = 0 (torch, TF; JAX says 1)
    if name == "elu":
        return np.where(z > 0, 1, a + alpha).astype(z.dtype)  # α·eᶻ = a + α for z ≤ 0
    if name == "sigmoid":
        return a * (1 - a)  # σ' = σ(1 − σ)
    if name == "gelu":
        return transformer.gelu_grad(z)
    return 1 - a * a  # tanh' = 1 − tanh²


# ---- the network ----


def build(task, params):
    """The native model of NumPy is the canonical weights themselves (a fresh copy)."""
    return [{key: np.array(value) for key, value in layer.items()} for layer in params]


def get_params(model):
    return build(None, model)


def slope(spec, layer):
    """The activation's α: the layer's learned "alpha" (PReLU), else the task's constant."""
    return layer["alpha"] if "alpha" in layer else spec.alpha


def predict(task, params, x, training=False):
    """Forward pass keeping, per node, (saved, z, a) for the backward pass: saved is a Dense
    layer's input or the cache of a layer function of conv.py / recurrent.py / norm.py, z the output
    before the activation, a after it. BatchNorm: the batch's statistics when training."""
    values, cache = {INPUT: x}, []  # node name -> its output, (N, *shape)
    for spec, layer, name, reads in zip(task.layers, params, task.names, task.inputs):
        a = [values[read] for read in reads] if isinstance(spec, MERGES) else values[reads[0]]
        layer = params[task.names.index(spec.embedding)] if isinstance(spec, TiedOutput) else layer
        z, saved = layer_forward(spec, layer, a, training)
        a = activation(spec.activation, z, slope(spec, layer)) if isinstance(spec, ACTIVATED) else z
        values[name] = a
        cache.append((saved, z, a))
    return a, cache


def layer_forward(spec, layer, a, training=False):
    """(z, saved): the node's output before any activation and what its backward needs; `a` is its
    input, or the list of its inputs for Add and Concatenate."""
    if isinstance(spec, MERGES):
        return merge_forward(spec, a)
    if isinstance(spec, Activation):
        return a, None
    if isinstance(spec, BatchNorm):  # (N, ..., C): statistics per channel
        return norm.batchnorm(a, layer, spec.eps, training)
    if isinstance(spec, Conv2DTranspose):  # (N, H, W, C) -> (N, (H − 1)·s + k, (W − 1)·s + k, filters)
        return conv.conv2d_transpose(a, layer["W"], layer["b"], spec.stride)
    if isinstance(spec, GlobalAveragePooling2D):  # (N, H, W, C) -> (N, C)
        return conv.global_avgpool2d(a)
    if isinstance(spec, Bidirectional):  # (N, T, F) -> (N, 2u), or (N, T, 2u) with return_sequences
        cell = "lstm" if isinstance(spec.layer, LSTM) else "gru"
        return recurrent.bidirectional(a, layer, cell, spec.return_sequences)
    if isinstance(spec, Layer):
        z = a @ layer["W"]  # (N, fan_in) @ (fan_in, fan_out) -> (N, fan_out); (N, T, ·) alike
        return (z + layer["b"] if "b" in layer else z), a
    if isinstance(spec, TRANSFORMER):
        return transformer_forward(spec, layer, a)
    if isinstance(spec, Conv2D):  # (N, H, W, C) -> (N, Ho, Wo, filters)
        return conv.conv2d(a, layer["W"], layer["b"], spec.stride, spec.padding)
    if isinstance(spec, Pool2D):  # (N, H, W, C) -> (N, H // p, W // p, C)
        return POOLS[spec.kind][0](a, spec.size)
    if isinstance(spec, Flatten):  # (N, H, W, C) -> (N, H·W·C), row-major
        return conv.flatten(a)
    hs, saved = RECURRENT[type(spec)][0](a, layer)  # (N, T, F) -> every hidden state (N, T, u)
    return hs[:, -1], saved  # many-to-one: the last hidden state h_T, (N, u)


def transformer_forward(spec, layer, a):
    """(z, saved) of a transformer node (transformer.py); a TiedOutput's `layer` is its Embedding's."""
    if isinstance(spec, Embedding):  # (N, T) ids -> (N, T, dim)
        return transformer.embedding(a, layer["E"])
    if isinstance(spec, PositionEmbedding):
        return transformer.position_embedding(a, layer["P"])
    if isinstance(spec, LayerNorm):
        return transformer.layernorm(a, layer, spec.eps)
    if isinstance(spec, MultiHeadAttention):
        return transformer.attention(a, layer, spec.heads, spec.causal)
    return transformer.tied_output(a, layer["E"])  # (N, T, dim) -> (N, T, vocab)


def merge_forward(spec, inputs):
    """Add: the sum, left to right; Concatenate: along the last axis, remembering each input's width."""
    if isinstance(spec, Add):
        total = inputs[0]
        for a in inputs[1:]:
            total = total + a
        return total, len(inputs)
    return np.concatenate(inputs, axis=-1), [a.shape[-1] for a in inputs]


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy; BatchNorm in inference
    mode (its running statistics)."""
    x = validate.forward_call(task, params, x)
    params = build(task, params)
    return predict(task, params, as_dtype(x, params))[0]


# ---- losses: the value and dL/dout; N rows, K outputs ----


def loss_value(task, out, y):
    """(L, dL/dout) of the task's loss on the output (N, K)."""
    return multitask(task, out, y) if task.loss == "multitask" else named_loss(task.loss, out, y)


def named_loss(name, out, y):
    """(L, dL/dout) of a loss of rosetta.tasks.LOSSES."""
    n = out.shape[0]
    if name == "half_sse":
        return 0.5 * np.sum((out - y) ** 2), out - y  # L = ½Σ(out − y)²
    if name == "sse_2n":
        return np.sum((out - y) ** 2) / (2 * n), (out - y) / n  # L = Σ(out − y)²/(2N)
    if name == "mse":
        return np.mean((out - y) ** 2), 2 * (out - y) / out.size  # L = mean (out − y)²
    if name == "bce_logits":
        return bce_logits(out, y)
    if name == "softmax_ce":
        return softmax_ce(out, y)
    raise unknown("loss", name, LOSSES)


def multitask(task, out, y):
    """w₁·MSE(regression columns) + w₂·softmax CE(class columns, one-hot targets); dL/dout (N, R + K)."""
    r, (w1, w2) = task.n_regression, task.loss_weights
    mse, d_reg = named_loss("mse", out[:, :r], y[:, :r])
    ce, d_cls = softmax_ce(out[:, r:], np.argmax(y[:, r:], axis=1))
    return w1 * mse + w2 * ce, np.concatenate([w1 * d_reg, w2 * d_cls], axis=1)


def bce_logits(z, y):
    """mean[max(z, 0) − z·y + log(1 + e^−|z|)] (stable); dL/dz = (σ(z) − y)/(N·K)."""
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return loss, (activation("sigmoid", z, 0) - y) / z.size


def softmax_ce(z, labels):
    """mean over rows of logsumexp(z) − z[label] (stable); dL/dz = (softmax(z) − onehot)/N. Logits per
    position (N, T, K), labels (N, T): every position is a row, N·T of them."""
    if z.ndim > 2:
        loss, dz = softmax_ce(z.reshape(-1, z.shape[-1]), labels.reshape(-1))
        return loss, dz.reshape(z.shape)
    n = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)  # (N, K), max 0 per row
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    rows = np.arange(n)
    dz = np.exp(log_p)
    dz[rows, labels] -= 1
    return -np.mean(log_p[rows, labels]), dz / n


def l2_penalty(task, params):
    """λ·ΣW² over the kernels only."""
    return task.l2 * sum(np.sum(layer["W"] ** 2) for layer in params if "W" in layer)


# ---- the backward pass ----


def backward(task, params, cache, dout):
    """Chain rule from dL/dout back to every node's weights, in reverse topological order: each node
    takes the gradient its readers added up, dL/da, and adds its own into its inputs'."""
    grads, deltas = [None] * len(params), {task.names[-1]: dout}  # node name -> dL/da
    tied = {}  # an Embedding's name -> its table's gradient from the TiedOutput that reads it
    for i in reversed(range(len(params))):
        spec, layer, entry, delta = task.layers[i], params[i], cache[i], deltas.pop(task.names[i])
        if isinstance(spec, Layer):
            grads[i], d_in = dense_backward(task, spec, layer, entry, delta)
        elif isinstance(spec, TiedOutput):  # the head reads the table: its gradient joins the Embedding's
            grads[i] = {}
            d_in, tied[spec.embedding] = transformer.tied_output_backward(delta, entry[0])
        elif isinstance(spec, Embedding):  # dE = the scatter-add of its own use + the tied head's
            dE = transformer.embedding_backward(delta, entry[0], spec.vocab)
            grads[i], d_in = {"E": dE + tied.pop(task.names[i], 0)}, None
        else:
            grads[i], d_in = layer_backward(spec, layer, entry, delta)
        for read, d in zip(task.inputs[i], d_in if isinstance(spec, MERGES) else [d_in]):
            if read != INPUT:
                deltas[read] = deltas[read] + d if read in deltas else d
    return grads


def dense_backward(task, spec, layer, entry, delta):
    """(grads, dL/da_in) of a Dense layer from delta = dL/da, (N, fan_out)."""
    a_in, z, a = entry
    dz = delta * activation_grad(spec.activation, z, a, slope(spec, layer))  # dL/dz = dL/da ⊙ f'(z)
    rows = tuple(range(dz.ndim - 1))  # N, or N and T on a sequence: every position is a row
    grad = {"W": np.tensordot(a_in, dz, axes=(rows, rows))}  # dL/dW = a_inᵀ·dL/dz, (fan_in, fan_out)
    if "b" in layer:
        # dL/db = Σ over rows of dL/dz, accumulated in float64: with balanced classes the terms
        # nearly cancel, and a float32 running sum would be the least accurate number in the test
        grad["b"] = dz.sum(axis=rows, dtype=np.float64).astype(dz.dtype)
    if "alpha" in layer:  # PReLU: da/dα = min(z, 0), summed over rows like the bias (fan_out,)
        grad["alpha"] = (delta * np.minimum(z, 0)).sum(axis=rows, dtype=np.float64).astype(z.dtype)
    if task.l2:
        grad["W"] = grad["W"] + 2 * task.l2 * layer["W"]  # d(λ·ΣW²)/dW = 2λW
    return grad, dz @ layer["W"].T  # dL/da_in = dL/dz·Wᵀ, (N, fan_in)


def layer_backward(spec, layer, entry, delta):
    """(grads, dL/d input) of a layer beyond Dense from delta = dL/d(its output a); a merge returns
    the list of its inputs' gradients."""
    saved, z, a = entry
    if isinstance(spec, Add):  # every input gets all of it
        return {}, [delta] * saved
    if isinstance(spec, Concatenate):  # each input its own columns
        return {}, np.split(delta, np.cumsum(saved)[:-1], axis=-1)
    if isinstance(spec, Activation):
        return {}, delta * activation_grad(spec.activation, z, a, spec.alpha)
    if isinstance(spec, TRANSFORMER):
        return transformer_backward(spec, saved, delta)
    if isinstance(spec, BatchNorm):
        dx, grad = norm.batchnorm_backward(delta, saved)
        return grad, dx
    if isinstance(spec, Conv2DTranspose):
        dz = delta * activation_grad(spec.activation, z, a, spec.alpha)
        dx, dW = conv.conv2d_transpose_backward(dz, saved)
        return {"W": dW, "b": dz.sum(axis=(0, 1, 2), dtype=np.float64).astype(dz.dtype)}, dx
    if isinstance(spec, GlobalAveragePooling2D):
        return {}, conv.global_avgpool2d_backward(delta, saved)
    if isinstance(spec, Bidirectional):
        dx, grad = recurrent.bidirectional_backward(delta, saved)
        return grad, dx
    if isinstance(spec, Conv2D):
        dz = delta * activation_grad(spec.activation, z, a, spec.alpha)  # (N, Ho, Wo, filters)
        dx, dW, _ = conv.conv2d_backward(dz, saved)
        db = dz.sum(axis=(0, 1, 2), dtype=np.float64).astype(dz.dtype)  # a float64 sum, as dense_backward's
        return {"W": dW, "b": db}, dx
    if isinstance(spec, Pool2D):
        return {}, POOLS[spec.kind][1](delta, saved)
    if isinstance(spec, Flatten):
        return {}, conv.flatten_backward(delta, saved)
    x = saved[0]  # the recurrent layer's input (N, T, F)
    dh_all = np.zeros(x.shape[:2] + (spec.units,), delta.dtype)  # dL/dh_t: only h_T reaches the head
    dh_all[:, -1] = delta
    dx, grad = RECURRENT[type(spec)][1](dh_all, saved)
    return grad, dx


def transformer_backward(spec, saved, delta):
    """(grads, dL/d input) of a PositionEmbedding, LayerNorm or MultiHeadAttention node."""
    if isinstance(spec, PositionEmbedding):
        dx, dP = transformer.position_embedding_backward(delta)
        return {"P": dP}, dx
    if isinstance(spec, LayerNorm):
        dx, grad = transformer.layernorm_backward(delta, saved)
        return grad, dx
    dx, grad = transformer.attention_backward(delta, saved)
    return grad, dx


def running_stats(task, params, cache, n):
    """Each BatchNorm node's running statistics after a training step on n samples ({} for the
    other nodes): part of the step, set beside the optimizer's update."""
    stats = []
    for spec, layer, (saved, _, _), shape in zip(task.layers, params, cache, task.layer_shapes):
        if not isinstance(spec, BatchNorm):
            stats.append({})
            continue
        count = n * int(np.prod(shape[0][:-1]))  # values per channel: N·H·W
        stats.append(norm.running_stats(layer, saved, count, spec.momentum, spec.unbiased_var))
    return stats


def total_loss(task, params, x, y, training=True):
    """(loss incl. L2, dL/dout, predict's cache) on arrays already in the weights' dtype: what the
    backward pass starts from."""
    out, cache = predict(task, params, x, training)
    loss, dout = loss_value(task, out, y)
    if task.l2:
        loss = loss + l2_penalty(task, params)
    return loss, dout, cache


def training_step_values(task, params, x, y, training=True):
    """(loss incl. L2, grads, running statistics) of one evaluation, on arrays already in the weights'
    dtype; training=False: BatchNorm on its running statistics, as port-checking compares models."""
    loss, dout, cache = total_loss(task, params, x, y, training)
    stats = running_stats(task, params, cache, len(x)) if training else [{} for _ in params]
    return float(loss), backward(task, params, cache, dout), stats


def loss_and_grads_native(task, params, x, y, training=True):
    """(loss incl. L2, grads) on arrays already in the weights' dtype, in training mode unless not."""
    return training_step_values(task, params, x, y, training)[:2]


def loss_and_grads(task, params, x, y, training=True):
    """The loss (with any L2 term) and its gradient with respect to every trained weight, canonical
    ({} for a layer without weights); BatchNorm on the batch's statistics, or with training=False on
    its running ones."""
    x, y = validate.loss_call(task, params, x, y)
    params = build(task, params)
    return loss_and_grads_native(task, params, as_dtype(x, params), as_dtype(y, params), training)
