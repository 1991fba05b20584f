"""The transformer's layers in plain NumPy, each forward followed by its hand-written backward.

Shapes: token ids x (N, T) int; sequences (N, T, E); h heads of width d = E/h. Weights canonical
(foundation.layouts): the token table "E" (vocab, E), the positions "P" (T, E), LayerNorm "gamma",
"beta" (E,), attention Wq, Wk, Wv, Wo (E, E) with head j in columns j·d … (j+1)·d, optional biases.

embedding   y = E[x]                         dE = scatter-add of dy into the rows x read
position_embedding  y = x + P                        dP = Σ over the batch of dy,  dx = dy
layernorm   x̂ = (x − μ)/√(σ² + ε) per position, y = γ·x̂ + β
            dγ = Σ dy·x̂,  dβ = Σ dy,  with g = dy·γ:  dx = (g − mean g − x̂·mean(g·x̂))/√(σ² + ε)
attention   Q = x Wq + bq (K, V alike), split into heads; S = Q Kᵀ/√d, masked (causal: key s ≤ query t);
            P = softmax(S) over the keys; O = P V, heads joined; y = O Wo + bo
            dO = dy Woᵀ;  dP = dO Vᵀ;  dV = Pᵀ dO;  dS = P ⊙ (dP − Σ_s P ⊙ dP)/√d (a masked entry has
            P = 0, so dS = 0 there);  dQ = dS K;  dK = dSᵀ Q;  dx = dQ Wqᵀ + dK Wkᵀ + dV Wvᵀ
gelu        z·Φ(z) (exact, erf);  gelu' = Φ(z) + z·φ(z)
tied_output logits = h Eᵀ:  dh = dlogits E,  dE += dlogitsᵀ h (the table's second use)
"""

import math

import numpy as np

# ---- token and position embeddings ----


def embedding(x, E):
    """(E[x], x): each token's row of the table, (N, T, E)."""
    return E[x], x


def embedding_backward(dy, x, vocab):
    """dE (vocab, E): a token read at several places gets the sum of their gradients."""
    dE = np.zeros((vocab, dy.shape[-1]), dy.dtype)
    np.add.at(dE, x, dy)
    return dE


def position_embedding(x, P):
    """x + P: position t's row added at position t of every sequence."""
    return x + P, None


def position_embedding_backward(dy):
    return dy, dy.sum(axis=0)  # (dx, dP)


# ---- layer normalization, over the last axis of each position ----


def layernorm(x, layer, eps):
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)  # σ² biased
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return layer["gamma"] * x_hat + layer["beta"], (x_hat, inv_std, layer["gamma"])


def layernorm_backward(dy, saved):
    """(dx, {"gamma", "beta"}): γ's and β's gradients summed over every position of the batch."""
    x_hat, inv_std, gamma = saved
    rows = tuple(range(dy.ndim - 1))
    g = dy * gamma
    dx = (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True)) * inv_std
    return dx, {"gamma": (dy * x_hat).sum(axis=rows), "beta": dy.sum(axis=rows)}


# ---- multi-head self-attention ----


def attention(x, layer, heads, causal):
    """(y, saved) for x (N, T, E): softmax(Q Kᵀ/√d + mask) V per head, joined, then Wo."""
    q, k, v = (split_heads(project(x, layer, p), heads) for p in "qkv")  # (N, h, T, d)
    scale = 1 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(0, 1, 3, 2) * scale  # (N, h, T, T): query t (rows), key s (columns)
    if causal:
        t = x.shape[1]
        scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)  # keys s ≤ t
    p = softmax(scores)  # exp(−inf) = 0: a masked key gets no weight; the diagonal is never masked
    o = join_heads(p @ v)  # (N, T, E)
    return project(o, layer, "o"), (x, q, k, v, p, o, scale, layer)


def attention_backward(dy, saved):
    """(dx, grads) from dy = dL/d(the attention's output), (N, T, E)."""
    x, q, k, v, p, o, scale, layer = saved
    rows = (0, 1)  # a bias's gradient: summed over every position of every sequence
    grads = {"Wo": np.einsum("nti,ntj->ij", o, dy)}
    do = split_heads(dy @ layer["Wo"].T, q.shape[1])  # (N, h, T, d)
    dp = do @ v.transpose(0, 1, 3, 2)  # (N, h, T, T)
    dv = p.transpose(0, 1, 3, 2) @ do
    ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True)) * scale  # softmax's Jacobian, then 1/√d
    dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
    dx = 0
    for name, d in (("q", dq), ("k", dk), ("v", dv)):
        d = join_heads(d)  # (N, T, E)
        grads[f"W{name}"] = np.einsum("nti,ntj->ij", x, d)
        dx = dx + d @ layer[f"W{name}"].T  # x is read three times: the three gradients add up
    if "bo" in layer:
        grads |= {f"b{name}": join_heads(d).sum(axis=rows) for name, d in (("q", dq), ("k", dk), ("v", dv))}
        grads["bo"] = dy.sum(axis=rows)
    return dx, {key: grads[key] for key in layer}


def split_heads(a, heads):
    """(N, T, h·d) -> (N, h, T, d): head j is columns j·d … (j+1)·d."""
    n, t, e = a.shape
    return a.reshape(n, t, heads, e // heads).transpose(0, 2, 1, 3)


def join_heads(a):
    """(N, h, T, d) -> (N, T, h·d), the inverse of split_heads."""
    n, h, t, d = a.shape
    return a.transpose(0, 2, 1, 3).reshape(n, t, h * d)


def project(x, layer, p):
    """x Wp + bp (no bias: x Wp)."""
    return x @ layer[f"W{p}"] + layer[f"b{p}"] if f"b{p}" in layer else x @ layer[f"W{p}"]


def softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))  # the largest of each row is 0: no overflow
    return e / e.sum(axis=-1, keepdims=True)


# ---- GELU and the tied output projection ----


def erf(z):
    """NumPy has no erf: math.erf per element, in float64, then the array's dtype."""
    return np.vectorize(math.erf, otypes=[np.float64])(z).astype(z.dtype)


def gelu(z):
    return 0.5 * z * (1 + erf(z / math.sqrt(2)))  # z·Φ(z)


def gelu_grad(z):
    """Φ(z) + z·φ(z)."""
    return 0.5 * (1 + erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def tied_output(h, E):
    """logits = h Eᵀ, (N, T, E) -> (N, T, vocab): the token table as the output kernel."""
    return h @ E.T, (h, E)


def tied_output_backward(dy, saved):
    """(dh, the table's gradient from this use), to be added to the embedding's."""
    h, E = saved
    return dy @ E, np.einsum("ntv,nte->ve", dy, h)
