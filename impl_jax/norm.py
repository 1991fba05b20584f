"""Batch normalization in JAX: the reference's formulas in jnp, the backward pass by jax.grad.

Per channel c (the last axis), over the n = N·H·W (or N) values of the batch, with weights γ, β:
training   μ = mean x,  σ² = mean (x − μ)² (biased),  x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β
           jax.grad differentiates through μ and σ² too
running    r_μ ← (1 − m)·r_μ + m·μ,  r_σ² ← (1 − m)·r_σ² + m·σ²·(n/(n − 1) if unbiased else 1)
inference  y = γ·(x − r_μ)/√(r_σ² + ε) + β

The running statistics are not trained: impl_jax/mlp.py splits them out of the pytree jax.grad and optax
see, and a training step sets them from running_stats.
"""

import jax.numpy as jnp


def batch_stats(x):
    """(μ, σ²) per channel over every axis but the last; σ² biased, as the reference's np.var."""
    axes = tuple(range(x.ndim - 1))
    return jnp.mean(x, axis=axes), jnp.var(x, axis=axes)


def batchnorm(x, layer, eps, training):
    """y (x's shape): the batch's statistics when training, else the running ones."""
    mean, var = batch_stats(x) if training else (layer["moving_mean"], layer["moving_variance"])
    inv_std = 1 / jnp.sqrt(var + eps)
    return layer["gamma"] * ((x - mean) * inv_std) + layer["beta"]


def running_stats(layer, x, momentum, unbiased):
    """The running statistics after a training step on the batch x (x: the node's input)."""
    mean, var = batch_stats(x)
    n = x.size // x.shape[-1]  # values per channel: N·H·W
    var = var * (n / (n - 1)) if unbiased else var
    return {"moving_mean": (1 - momentum) * layer["moving_mean"] + momentum * mean,
            "moving_variance": (1 - momentum) * layer["moving_variance"] + momentum * var}  # fmt: skip
