"""A fully-convolutional denoiser, the architectures talk: 8×8×1 noisy bars -> conv 8 (2×2, stride 2) relu
("down1", 4×4) -> conv 16 (2×2, stride 2) relu (2×2) -> transposed conv 8 (2×2, stride 2) relu ("up1", 4×4)
-> concatenate [down1, up1] (4×4×16, U-Net's skip) -> transposed conv 1 (2×2, stride 2) sigmoid (8×8×1);
mean squared error against the clean bars, Adam (torch's form) lr 0.01, full batch.
NumPy: the forward pass, the backward pass (the skip's two gradients added) and Adam by hand."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from foundation.catalog import get

TASK = "deconv"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


def build(params):
    """NumPy's layout is the canonical one, a dict per node: conv W (kh, kw, in, out), b (out,); transposed
    conv W (kh, kw, out, in) as Keras, b (out,); images NHWC; the concatenation's node, model[3], is {}."""
    return [{key: a.copy() for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: a.copy() for key, a in layer.items()} for layer in model]


def conv2d(x, W, b, stride):
    """out[n, y, x, f] = b[f] + Σ_{i, j, c} x[n, s·y + i, s·x + j, c]·W[i, j, c, f], "valid" (no padding)."""
    cols = sliding_window_view(x, W.shape[:2], axis=(1, 2))[:, ::stride, ::stride]  # (N, Ho, Wo, C, kh, kw)
    return np.einsum("nyxcij,ijcf->nyxf", cols, W) + b, (cols, W, x.shape, stride)


def conv2d_transpose(x, W, b, stride):
    """out[n, s·y + i, s·x + j, f] = b[f] + Σ_c x[n, y, x, c]·W[i, j, f, c]: each input pixel paints a kh×kw
    patch, (N, (H − 1)·s + kh, (W − 1)·s + kw, F); the input gradient of a conv by W, no kernel flip."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = W.shape
    out = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, f), x.dtype)
    for i, j in np.ndindex(kh, kw):  # tap (i, j) of input (y, x) writes out[s·y + i, s·x + j]
        out[:, i : i + stride * h : stride, j : j + stride * w : stride] += x @ W[i, j].T
    return out + b, (x, W, stride)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(model, x):
    return layers(model, x)["out"]


def layers(model, x):
    """Every value the backward pass needs, by name."""
    v = {}
    v["z0"], v["conv0"] = conv2d(x, model[0]["W"], model[0]["b"], 2)  # (N, 4, 4, 8)
    v["down1"] = np.maximum(v["z0"], 0)
    v["z1"], v["conv1"] = conv2d(v["down1"], model[1]["W"], model[1]["b"], 2)  # (N, 2, 2, 16)
    a1 = np.maximum(v["z1"], 0)
    v["z2"], v["deconv2"] = conv2d_transpose(a1, model[2]["W"], model[2]["b"], 2)  # (N, 4, 4, 8)
    up1 = np.maximum(v["z2"], 0)
    joined = np.concatenate([v["down1"], up1], axis=-1)  # the skip: (N, 4, 4, 8 + 8), down1's channels first
    z4, v["deconv4"] = conv2d_transpose(joined, model[4]["W"], model[4]["b"], 2)  # (N, 8, 8, 1)
    v["out"] = sigmoid(z4)
    return v


# --- loss


def loss(out, y):
    return np.mean((out - y) ** 2)  # mean over all N·8·8·1 pixels


# --- gradient


def conv2d_backward(d_out, cache):
    """(dL/dx, dL/dW, dL/db) of conv2d from dL/dout (N, Ho, Wo, F)."""
    cols, W, x_shape, stride = cache
    ho, wo = d_out.shape[1:3]
    d_cols = np.einsum("nyxf,ijcf->nyxcij", d_out, W)
    dx = np.zeros(x_shape, d_out.dtype)
    for i, j in np.ndindex(W.shape[:2]):  # tap (i, j) of output (y, x) read x[s·y + i, s·x + j]
        dx[:, i : i + stride * ho : stride, j : j + stride * wo : stride] += d_cols[..., i, j]
    dW = np.einsum("nyxcij,nyxf->ijcf", cols, d_out)
    return dx, dW, d_out.sum(axis=(0, 1, 2))


def conv2d_transpose_backward(d_out, cache):
    """(dL/dx, dL/dW, dL/db) of conv2d_transpose from dL/dout: each tap reads back the pixels it wrote."""
    x, W, stride = cache
    h, w = x.shape[1:3]
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for i, j in np.ndindex(W.shape[:2]):
        tap = d_out[:, i : i + stride * h : stride, j : j + stride * w : stride]  # (N, H, W, F)
        dx += tap @ W[i, j]
        dW[i, j] = np.einsum("nyxf,nyxc->fc", tap, x)
    return dx, dW, d_out.sum(axis=(0, 1, 2))


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): the chain rule by hand, the last node first; down1 is read
    twice (conv 2 and the skip), so its gradient is the sum of both readers'."""
    v, g = layers(model, x), [{} for _ in model]
    out = v["out"]
    d_z4 = 2 * (out - y) / out.size * out * (1 - out)  # dL/dout · σ'(z) = dL/dout · σ(1 − σ)
    d_joined, g[4]["W"], g[4]["b"] = conv2d_transpose_backward(d_z4, v["deconv4"])
    c = v["down1"].shape[-1]
    d_skip, d_up1 = d_joined[..., :c], d_joined[..., c:]  # the concatenation splits its gradient
    d_a1, g[2]["W"], g[2]["b"] = conv2d_transpose_backward(d_up1 * (v["z2"] > 0), v["deconv2"])
    d_down1, g[1]["W"], g[1]["b"] = conv2d_backward(d_a1 * (v["z1"] > 0), v["conv1"])
    d_z0 = (d_down1 + d_skip) * (v["z0"] > 0)  # + the skip's gradient
    _, g[0]["W"], g[0]["b"] = conv2d_backward(d_z0, v["conv0"])
    return loss(out, y), g


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
    """The catalog's 48 drawn 8×8 bars with N(0, 0.3²) noise (x NHWC), the clean pictures (y, the same
    shape), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
