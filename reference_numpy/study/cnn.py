"""A small CNN, the architectures talk: 8×8×1 bars -> conv 4 (3×3, same) relu -> conv 8 (3×3, stride 2, same)
relu -> max pool 2 -> flatten (32) -> 3 logits, softmax cross-entropy, Adam (torch's form) lr 3e-3.
NumPy: the forward pass, the backward pass and Adam by hand."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from foundation.catalog import get

TASK = "cnn"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 3e-3, 0.9, 0.999, 1e-8

# --- model


def build(params):
    """NumPy's layout is the canonical one: conv W (kh, kw, in, out), b (out,), images NHWC; Dense W (32, 3).
    One dict per layer: the pool's and the flatten's, model[2] and model[3], are empty."""
    return [{key: a.copy() for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: a.copy() for key, a in layer.items()} for layer in model]


def conv2d(x, W, b, stride, pad):
    """out[n, y, x, f] = b[f] + Σ_{i, j, c} xp[n, s·y + i, s·x + j, c]·W[i, j, c, f]; pad (before, after)."""
    xp = np.pad(x, ((0, 0), pad, pad, (0, 0)))
    cols = sliding_window_view(xp, W.shape[:2], axis=(1, 2))[:, ::stride, ::stride]  # (N, Ho, Wo, C, kh, kw)
    return np.einsum("nyxcij,ijcf->nyxf", cols, W) + b, (cols, W, x.shape, stride, pad)


def maxpool2(x):
    """(N, 4, 4, 8) -> (N, 2, 2, 8): each 2×2 window's max; the window as the last axis (N, 2, 2, 8, 4)."""
    n, h, w, c = x.shape
    win = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
    return win.max(axis=-1), win


def forward(model, x):
    return layers(model, x)[-1]


def layers(model, x):
    """Every activation, for the backward pass."""
    z1, conv1 = conv2d(x, model[0]["W"], model[0]["b"], 1, (1, 1))  # (N, 8, 8, 4)
    a1 = np.maximum(z1, 0)
    # TF's "same" at stride 2 on 8 pixels pads (0, 1): the odd pixel after
    z2, conv2 = conv2d(a1, model[1]["W"], model[1]["b"], 2, (0, 1))  # (N, 4, 4, 8)
    a2 = np.maximum(z2, 0)
    pooled, win = maxpool2(a2)  # (N, 2, 2, 8)
    flat = pooled.reshape(len(x), -1)  # (N, 32), row-major over (H, W, C)
    out = flat @ model[4]["W"] + model[4]["b"]  # (N, 3) logits
    return conv1, z1, conv2, z2, win, flat, out


# --- loss


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)  # stable: the largest logit of each row is 0
    return z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))


def loss(out, y):
    return -np.mean(log_softmax(out)[np.arange(len(y)), y])  # y: class labels (N,)


# --- gradient


def conv2d_backward(d_out, cache):
    """(dL/dx, dL/dW, dL/db) of conv2d from dL/dout (N, Ho, Wo, F)."""
    cols, W, x_shape, stride, pad = cache
    ho, wo = d_out.shape[1:3]
    d_cols = np.einsum("nyxf,ijcf->nyxcij", d_out, W)
    dxp = np.zeros((x_shape[0], x_shape[1] + sum(pad), x_shape[2] + sum(pad), x_shape[3]), d_out.dtype)
    for i, j in np.ndindex(W.shape[:2]):  # tap (i, j) of output (y, x) read xp[s·y + i, s·x + j]
        dxp[:, i : i + stride * ho : stride, j : j + stride * wo : stride] += d_cols[..., i, j]
    h, w = x_shape[1:3]
    dW = np.einsum("nyxcij,nyxf->ijcf", cols, d_out)
    return dxp[:, pad[0] : pad[0] + h, pad[0] : pad[0] + w], dW, d_out.sum(axis=(0, 1, 2))


def maxpool2_backward(d_pooled, win):
    """The gradient goes to each window's first max (row-major), as torch and TensorFlow route it."""
    first = np.argmax(win, axis=-1)[..., None]
    d_win = np.zeros(win.shape, d_pooled.dtype)
    np.put_along_axis(d_win, first, d_pooled[..., None], axis=-1)
    n, ho, wo, c, _ = win.shape
    return d_win.reshape(n, ho, wo, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * ho, 2 * wo, c)


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): the chain rule by hand, from the logits back to conv 1."""
    conv1, z1, conv2, z2, win, flat, out = layers(model, x)
    d_out = np.exp(log_softmax(out))  # dL/dz = (softmax(z) − onehot(y))/N
    d_out[np.arange(len(y)), y] -= 1
    d_out /= len(y)
    dense = {"W": flat.T @ d_out, "b": d_out.sum(axis=0)}
    d_pooled = (d_out @ model[4]["W"].T).reshape(len(x), 2, 2, 8)
    d_z2 = maxpool2_backward(d_pooled, win) * (z2 > 0)
    d_a1, dW2, db2 = conv2d_backward(d_z2, conv2)
    _, dW1, db1 = conv2d_backward(d_a1 * (z1 > 0), conv1)
    return loss(out, y), [{"W": dW1, "b": db1}, {"W": dW2, "b": db2}, {}, {}, dense]


# --- update


def optimizer(model):
    zeros = [{key: np.zeros_like(a) for key, a in layer.items()} for layer in model]
    return {"t": 0, "m": zeros, "v": [{key: a.copy() for key, a in layer.items()} for layer in zeros]}


def update(model, g, state):
    """torch.optim.Adam: m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ), w −= lr·m̂/(√v̂ + ε)."""
    state["t"] += 1
    t = state["t"]
    for layer, grad, m, v in zip(model, g, state["m"], state["v"]):
        for key in layer:
            m[key] = BETA1 * m[key] + (1 - BETA1) * grad[key]
            v[key] = BETA2 * v[key] + (1 - BETA2) * grad[key] ** 2
            m_hat, v_hat = m[key] / (1 - BETA1**t), v[key] / (1 - BETA2**t)
            layer[key] -= LR * m_hat / (np.sqrt(v_hat) + EPS)
    return model, state


# --- loop


def train(params, x, y, batches):
    model = build(params)
    state = optimizer(model)
    losses = []
    for rows in batches:
        value, g = grads(model, x[rows], y[rows])
        model, state = update(model, g, state)
        losses.append(value)
    return get_params(model), np.array(losses)


# --- data


def load(dtype="float64", steps=None):
    """The catalog's 90 drawn 8×8 bars and diagonals (x NHWC, y: labels 0, 1, 2), initial weights, batches."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
