"""A residual block, the architectures talk: 8×8×1 bars -> conv 8 (3×3, stride 2) relu -> BatchNorm ("stem")
-> conv 8 relu -> BatchNorm -> conv 8 relu -> BatchNorm -> + stem -> relu -> global average pool -> 3 logits;
softmax cross-entropy, Adam (torch's form) lr 0.01, full batch.
NumPy: the forward pass, the backward pass (the shortcut's two gradients added) and Adam by hand."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from foundation.catalog import get

TASK = "resnet"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # running statistics r ← (1 − m)·r + m·batch

# --- model


def build(params):
    """NumPy's layout is the canonical one, a dict per node: conv W (kh, kw, in, out), b; BatchNorm gamma,
    beta, moving_mean, moving_variance (8,); {} for the add, the relu and the pool; Dense W (8, 3), b."""
    return [{key: a.copy() for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: a.copy() for key, a in layer.items()} for layer in model]


def conv2d(x, W, b, stride, pad):
    """out[n, y, x, f] = b[f] + Σ_{i, j, c} xp[n, s·y + i, s·x + j, c]·W[i, j, c, f]; pad (before, after)."""
    xp = np.pad(x, ((0, 0), pad, pad, (0, 0)))
    cols = sliding_window_view(xp, W.shape[:2], axis=(1, 2))[:, ::stride, ::stride]  # (N, Ho, Wo, C, kh, kw)
    return np.einsum("nyxcij,ijcf->nyxf", cols, W) + b, (cols, W, x.shape, stride, pad)


def batchnorm(x, layer, training):
    """γ·(x − μ)/√(σ² + ε) + β per channel; μ, σ² of the batch (biased) when training, else the running."""
    mean = x.mean(axis=(0, 1, 2)) if training else layer["moving_mean"]
    var = x.var(axis=(0, 1, 2)) if training else layer["moving_variance"]
    x_hat = (x - mean) / np.sqrt(var + BN_EPS)
    return layer["gamma"] * x_hat + layer["beta"], (x_hat, mean, var)


def layers(model, x, training):
    """Every value the backward pass needs, by name."""
    v = {}
    v["z0"], v["conv0"] = conv2d(x, model[0]["W"], model[0]["b"], 2, (0, 1))  # (N, 4, 4, 8): TF's "same"
    v["stem"], v["bn1"] = batchnorm(np.maximum(v["z0"], 0), model[1], training)
    v["z2"], v["conv2"] = conv2d(v["stem"], model[2]["W"], model[2]["b"], 1, (1, 1))
    v["h3"], v["bn3"] = batchnorm(np.maximum(v["z2"], 0), model[3], training)
    v["z4"], v["conv4"] = conv2d(v["h3"], model[4]["W"], model[4]["b"], 1, (1, 1))
    residual, v["bn5"] = batchnorm(np.maximum(v["z4"], 0), model[5], training)
    v["sum"] = v["stem"] + residual  # the shortcut
    v["pooled"] = np.maximum(v["sum"], 0).mean(axis=(1, 2))  # (N, 8)
    v["out"] = v["pooled"] @ model[9]["W"] + model[9]["b"]  # (N, 3) logits
    return v


def forward(model, x):
    return layers(model, x, training=False)["out"]  # inference: BatchNorm's running statistics


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


def batchnorm_backward(dy, cache, layer):
    """(dL/dx, {dL/dγ, dL/dβ}) through the batch statistics too: with g = dy·γ,
    dx = (g − mean g − x̂·mean(g·x̂))/√(σ² + ε)."""
    x_hat, _, var = cache
    g = dy * layer["gamma"]
    axes = (0, 1, 2)
    dx = (g - g.mean(axis=axes) - x_hat * (g * x_hat).mean(axis=axes)) / np.sqrt(var + BN_EPS)
    return dx, {"gamma": (dy * x_hat).sum(axis=axes), "beta": dy.sum(axis=axes)}


def grads(model, x, y):
    """(loss, the trained weights' gradients): the chain rule by hand, the last node first; the stem is
    read twice (conv 2 and the shortcut), so its gradient is the sum of both readers'."""
    v, g = layers(model, x, training=True), [{} for _ in model]
    d_out = np.exp(log_softmax(v["out"]))  # dL/dz = (softmax(z) − onehot(y))/N
    d_out[np.arange(len(y)), y] -= 1
    d_out /= len(y)
    g[9] = {"W": v["pooled"].T @ d_out, "b": d_out.sum(axis=0)}
    d_sum = (d_out @ model[9]["W"].T)[:, None, None, :] / 16 * (v["sum"] > 0)  # the pool's mean over 4×4
    d_a4, g[5] = batchnorm_backward(d_sum, v["bn5"], model[5])
    d_h3, g[4]["W"], g[4]["b"] = conv2d_backward(d_a4 * (v["z4"] > 0), v["conv4"])
    d_a2, g[3] = batchnorm_backward(d_h3, v["bn3"], model[3])
    d_stem, g[2]["W"], g[2]["b"] = conv2d_backward(d_a2 * (v["z2"] > 0), v["conv2"])
    d_a0, g[1] = batchnorm_backward(d_stem + d_sum, v["bn1"], model[1])  # + the shortcut's gradient
    _, g[0]["W"], g[0]["b"] = conv2d_backward(d_a0 * (v["z0"] > 0), v["conv0"])
    return loss(v["out"], y), g


# --- update


def optimizer(model):
    zeros = [{key: np.zeros_like(a) for key, a in layer.items()} for layer in model]
    return {"t": 0, "m": zeros, "v": [{key: a.copy() for key, a in layer.items()} for layer in zeros]}


def update(model, g, state):
    """torch.optim.Adam on the trained weights (those with a gradient): w −= lr·m̂/(√v̂ + ε)."""
    state["t"] += 1
    t = state["t"]
    for layer, grad, m, v in zip(model, g, state["m"], state["v"]):
        for key in grad:
            m[key] = BETA1 * m[key] + (1 - BETA1) * grad[key]
            v[key] = BETA2 * v[key] + (1 - BETA2) * grad[key] ** 2
            m_hat, v_hat = m[key] / (1 - BETA1**t), v[key] / (1 - BETA2**t)
            layer[key] -= LR * m_hat / (np.sqrt(v_hat) + EPS)
    return model, state


def running(model, x):
    """Each BatchNorm's running statistics, moved toward the statistics of the batch x (biased variance)."""
    v = layers(model, x, training=True)
    for i, name in ((1, "bn1"), (3, "bn3"), (5, "bn5")):
        _, mean, var = v[name]
        model[i]["moving_mean"] = (1 - BN_MOMENTUM) * model[i]["moving_mean"] + BN_MOMENTUM * mean
        model[i]["moving_variance"] = (1 - BN_MOMENTUM) * model[i]["moving_variance"] + BN_MOMENTUM * var
    return model


# --- loop


def train(params, x, y, batches):
    model = build(params)
    state = optimizer(model)
    losses = []
    for rows in batches:
        value, g = grads(model, x[rows], y[rows])
        model = running(model, x[rows])  # the statistics of this step's forward pass, before the update
        model, state = update(model, g, state)
        losses.append(value)
    return get_params(model), np.array(losses)


# --- data


def load(dtype="float64", steps=None):
    """The catalog's 30 drawn 8×8 bars (x NHWC, y: labels 0, 1, 2), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
