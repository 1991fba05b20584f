"""The reference optimizers, one function per update rule, on canonical weights in place.

`opt` is the task's rosetta Optimizer; `t` counts steps from 1 and `lr` is the learning rate of
step t. Momentum buffers and Adam moments live in `state`, one dict per layer, shaped like the weights.
"""

import numpy as np

from foundation.tasks import RUNNING


def learning_rate(opt, step):
    """The task's learning rate of 0-based `step` (its lr_drops)."""
    return opt.lr_at(step)


def sgd(opt, w, g, buf, lr):
    """torch.optim.SGD / optax.sgd: buf = μ·buf + g; w −= lr·buf, or lr·(g + μ·buf) for Nesterov."""
    if not opt.momentum:
        w -= lr * g
        return
    if opt.form == "keras":
        sgd_keras(opt, w, g, buf, lr)
        return
    buf *= opt.momentum
    buf += g
    w -= lr * (g + opt.momentum * buf if opt.nesterov else buf)


def sgd_keras(opt, w, g, v, lr):
    """keras.optimizers.SGD: v = μ·v − lr·g; w += v, or w += μ·v − lr·g for Nesterov.

    v holds lr·buf of the torch form, so the two agree while lr is constant and part once it
    changes: Keras's velocity keeps the old lr's steps, torch's buffer takes the new lr at once."""
    v *= opt.momentum
    v -= lr * g
    w += opt.momentum * v - lr * g if opt.nesterov else v


def adam(opt, w, g, m, v, t, lr):
    """torch.optim.Adam / optax.adam: w −= lr·m̂/(√v̂ + ε), with m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)."""
    if opt.form == "keras":
        adam_keras(opt, w, g, m, v, t, lr)
        return
    b1, b2 = opt.beta1, opt.beta2
    m[...] = b1 * m + (1 - b1) * g  # m = β1·m + (1−β1)·g
    v[...] = b2 * v + (1 - b2) * g * g  # v = β2·v + (1−β2)·g²
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    w -= lr * m_hat / (np.sqrt(v_hat) + opt.eps)


def adam_keras(opt, w, g, m, v, t, lr):
    """keras.optimizers.Adam, "epsilon hat": w −= α·m/(√v + ε̂), α = lr·√(1−β2ᵗ)/(1−β1ᵗ).

    As keras/src/optimizers/adam.py: lr, β1ᵗ and β2ᵗ in the weights' dtype (in float32, 1 − 0.999ᵗ
    is then off by ~1e-5 at t = 1), and the moments updated as m += (g − m)·(1−β1)."""
    dtype = w.dtype.type
    m += (g - m) * (1 - opt.beta1)
    v += (g * g - v) * (1 - opt.beta2)
    alpha = dtype(lr) * np.sqrt(1 - dtype(opt.beta2) ** t) / (1 - dtype(opt.beta1) ** t)
    w -= alpha * m / (np.sqrt(v) + opt.eps)


def make(opt, params):
    """The optimizer's state: Adam's moments or momentum's buffers, one dict per layer like the weights."""
    zeros = [
        {key: np.zeros_like(value) for key, value in layer.items() if key not in RUNNING} for layer in params
    ]
    if opt.name == "adam":
        return {"m": zeros, "v": [{k: v.copy() for k, v in layer.items()} for layer in zeros]}
    return {"buf": zeros}


def update(opt, params, grads, state, t):
    """Step t (from 1) on every weight of every layer."""
    lr = learning_rate(opt, t - 1)
    for i, (layer, grad) in enumerate(zip(params, grads)):
        for key in grad:  # the trained weights: BatchNorm's running statistics have no gradient
            if opt.weight_decay:  # AdamW, decoupled: w ← w − lr·λ·w, then Adam (torch's mul_(1 − lr·λ))
                layer[key] *= 1 - lr * opt.weight_decay
            if opt.name == "adam":
                adam(opt, layer[key], grad[key], state["m"][i][key], state["v"][i][key], t, lr)
            else:
                sgd(opt, layer[key], grad[key], state["buf"][i][key], lr)
