"""The reference batch normalization in plain NumPy, forward and hand-written backward.

Per channel c (the last axis), over the n = N·H·W (or N) values of the batch, with weights γ, β:
training   μ = mean x,  σ² = mean (x − μ)² (biased),  x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β
           dβ = Σ dy,  dγ = Σ dy·x̂,  with g = dy·γ:  dx = (g − mean g − x̂·mean(g·x̂))/√(σ² + ε)
           (inference: μ, σ² are constants, dx = g/√(r_σ² + ε))
running    r_μ ← (1 − m)·r_μ + m·μ,  r_σ² ← (1 − m)·r_σ² + m·σ²·(n/(n − 1) if unbiased else 1)
inference  y = γ·(x − r_μ)/√(r_σ² + ε) + β
"""

import numpy as np


def batchnorm(x, layer, eps, training):
    """(y, cache): batch statistics when training, else the running ones."""
    axes = tuple(range(x.ndim - 1))  # every axis but the channels
    mean = x.mean(axis=axes) if training else layer["moving_mean"]
    var = x.var(axis=axes) if training else layer["moving_variance"]
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return layer["gamma"] * x_hat + layer["beta"], (x_hat, inv_std, layer["gamma"], mean, var, training)


def batchnorm_backward(dy, cache):
    """(dx, {"gamma", "beta"}): through the batch statistics too after a training-mode forward."""
    x_hat, inv_std, gamma, _, _, training = cache
    axes, dtype = tuple(range(dy.ndim - 1)), dy.dtype
    # the sums and means of products nearly cancel: accumulated in float64, as the Dense bias's sum
    dy, x_hat = dy.astype(np.float64), x_hat.astype(np.float64)
    g = dy * gamma
    dx = (g - g.mean(axis=axes) - x_hat * (g * x_hat).mean(axis=axes)) * inv_std if training else g * inv_std
    grads = {"gamma": (dy * x_hat).sum(axis=axes), "beta": dy.sum(axis=axes)}
    return dx.astype(dtype), {key: value.astype(dtype) for key, value in grads.items()}


def running_stats(layer, cache, n, momentum, unbiased):
    """The running statistics after one training step that saw n values per channel."""
    _, _, _, mean, var, _ = cache
    var = var * (n / (n - 1)) if unbiased else var
    return {"moving_mean": (1 - momentum) * layer["moving_mean"] + momentum * mean,
            "moving_variance": (1 - momentum) * layer["moving_variance"] + momentum * var}  # fmt: skip
