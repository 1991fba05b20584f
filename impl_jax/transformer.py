"""The transformer's nodes in JAX: the canonical formulas (foundation.layouts) in jnp, their backward
pass by jax.grad. Sequences are (N, T, E); the weights stay canonical, nothing converts.

embedding    out[n, t] = E[x[n, t]]: a gather, whose gradient jax.grad scatter-adds into E's rows
positions    x + P, P (T, E)
layernorm    γ·(x − μ)/√(σ² + ε) + β over the last axis, σ² biased
attention    Q = x Wq + bq, K, V alike, split into h heads of width d; softmax(Q Kᵀ/√d + mask) V,
             joined, then Wo, bo; a causal mask keeps key s ≤ query t
tied output  logits = h @ Eᵀ with the Embedding node's own table: the same leaf used twice, so
             jax.grad sums both uses into one gradient of E
"""

import math

import jax
import jax.numpy as jnp


def embedding(x, E):
    """Token ids (N, T) -> their rows of E (vocab, dim), (N, T, dim)."""
    return jnp.take(E, x, axis=0)


def position_embedding(x, P):
    return x + P  # (N, T, E) + (T, E)


def layernorm(x, gamma, beta, eps):
    """Over the last axis, σ² biased. Written out rather than jax.nn.standardize, whose default
    algorithm="fast" takes σ² = E[x²] − μ², which cancels where μ² ≫ σ²."""
    mean, var = jnp.mean(x, axis=-1, keepdims=True), jnp.var(x, axis=-1, keepdims=True)
    return gamma * ((x - mean) / jnp.sqrt(var + eps)) + beta


def attention(x, layer, heads, causal):
    """Self-attention of x (N, T, E): h heads of width d = E/h, scale 1/√d, the softmax in x's dtype
    (jax.nn.dot_product_attention's is float32 whatever the dtype: 8.5e-8 off in float64,
    docs/divergences.md dot-product-attention/jax)."""
    n, t, e = x.shape
    q, k, v = (split_heads(project(x, layer, p), heads) for p in "qkv")  # (N, T, h, d) each
    scores = jnp.einsum("nthd,nshd->nhts", q, k) * scale(q.shape[-1])  # (N, h, T, T): query t, key s
    if causal:
        scores = jnp.where(causal_mask(t), scores, -jnp.inf)
    weights = jax.nn.softmax(scores, axis=-1)  # over the keys
    out = jnp.einsum("nhts,nshd->nthd", weights, v).reshape(n, t, e)  # the heads joined again
    return project(out, layer, "o")


def split_heads(a, heads):
    """(N, T, E) -> (N, T, h, d): head j holds columns j·d … (j+1)·d (foundation.layouts)."""
    n, t, e = a.shape
    return a.reshape(n, t, heads, e // heads)


def scale(d):
    return 1 / math.sqrt(d)  # 1/√d, d the width of one head


def causal_mask(t):
    """(T, T), True where query t may see key s: s ≤ t, the diagonal included."""
    return jnp.tril(jnp.ones((t, t), dtype=bool))


def project(x, layer, p):
    """x @ W{p} + b{p}; no bias without "b{p}" (attention without biases)."""
    z = x @ layer[f"W{p}"]
    return z + layer[f"b{p}"] if f"b{p}" in layer else z


def tied_output(h, E):
    return h @ E.T  # (N, T, E) @ (E, vocab) -> (N, T, vocab)
