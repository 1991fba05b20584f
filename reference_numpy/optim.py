"""The reference optimizers, one function per update rule, on canonical weights in place.

`opt` is the task's rosetta Optimizer; `t` counts steps from 1. Momentum buffers and Adam moments
live in `state`, one dict per layer, shaped like the weights.
"""

import numpy as np


def init_state(opt, params):
    zeros = [{key: np.zeros_like(value) for key, value in layer.items()} for layer in params]
    if opt.name == "adam":
        return {"m": zeros, "v": [{k: v.copy() for k, v in layer.items()} for layer in zeros]}
    return {"buf": zeros}


def sgd(opt, w, g, buf, t):
    """torch.optim.SGD / optax.sgd: buf = μ·buf + g; w −= lr·buf, or lr·(g + μ·buf) for Nesterov."""
    if not opt.momentum:
        w -= opt.lr * g
        return
    buf *= opt.momentum
    buf += g
    w -= opt.lr * (g + opt.momentum * buf if opt.nesterov else buf)


def adam(opt, w, g, m, v, t):
    """torch.optim.Adam / optax.adam: w −= lr·m̂/(√v̂ + ε), with m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)."""
    b1, b2 = opt.beta1, opt.beta2
    m[...] = b1 * m + (1 - b1) * g  # m = β1·m + (1−β1)·g
    v[...] = b2 * v + (1 - b2) * g * g  # v = β2·v + (1−β2)·g²
    if opt.form == "keras":
        # Keras's "epsilon hat": w −= α·m/(√v + ε̂), α = lr·√(1−β2ᵗ)/(1−β1ᵗ)
        alpha = opt.lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w -= alpha * m / (np.sqrt(v) + opt.eps)
        return
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    w -= opt.lr * m_hat / (np.sqrt(v_hat) + opt.eps)


def update(opt, params, grads, state, t):
    """One optimizer step on every weight of every layer."""
    for i, (layer, grad) in enumerate(zip(params, grads)):
        for key in layer:
            if opt.name == "adam":
                adam(opt, layer[key], grad[key], state["m"][i][key], state["v"][i][key], t)
            else:
                sgd(opt, layer[key], grad[key], state["buf"][i][key], t)
