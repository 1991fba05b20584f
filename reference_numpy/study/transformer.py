"""A tiny GPT, nanoGPT at toy size: tokens (N, 11) of minGPT's sort demo -> token table (3, 16) + learned
positions -> 2 pre-LayerNorm blocks (x + attention(LN(x)), 2 causal heads, no biases; then + MLP 16-64-16,
exact GELU) -> LayerNorm -> logits = h @ Eᵀ with the token table (tied); softmax cross-entropy over all
N·T positions, AdamW (torch's form) lr 1e-3, λ 0.01, minibatches of 32.
NumPy: the forward pass, the backward pass (attention through its softmax, LayerNorm, the table's two
uses summed) and AdamW by hand."""

import math

import numpy as np

from foundation.catalog import get

TASK = "transformer"  # the catalog task this file follows
LR, BETA1, BETA2, EPS, WD = 1e-3, 0.9, 0.999, 1e-8, 0.01
HEADS, LN_EPS = 2, 1e-5
BLOCKS = (2, 9)  # the index of each block's first node (b0.ln1, b1.ln1) in the canonical list
EMBED, POS, LN_F = 0, 1, 16

# --- model


def build(params):
    """NumPy's layout is the canonical one, a dict per node: embed E (3, 16), pos P (11, 16); per block
    ln1 gamma, beta; attn Wq, Wk, Wv, Wo (16, 16), x @ W, head j the columns j·8 … j·8 + 7; ln2; fc W
    (16, 64), b; proj W (64, 16), b; {} for the two adds; ln_f; {} for the tied head (it reads E)."""
    return [{key: a.copy() for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: a.copy() for key, a in layer.items()} for layer in model]


def layernorm(x, layer):
    """γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε), μ and the biased σ² of each position over its 16 features."""
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + LN_EPS)
    return layer["gamma"] * x_hat + layer["beta"], (x_hat, var)


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))  # stable: the largest of each row is 0
    return e / e.sum(axis=axis, keepdims=True)


def attention(x, layer):
    """softmax(Q Kᵀ/√d + causal mask) V per head, the heads joined, then Wo."""
    n, t, e = x.shape
    q, k, v = (np.reshape(x @ layer[f"W{p}"], (n, t, HEADS, e // HEADS)) for p in "qkv")  # (N, T, h, d)
    scale = 1 / math.sqrt(e // HEADS)
    scores = np.einsum("nthd,nshd->nhts", q, k) * scale  # (N, h, T, T): query t, key s
    causal = np.tril(np.ones((t, t), dtype=bool))  # key s ≤ query t; the diagonal is never masked
    p = softmax(np.where(causal, scores, -np.inf))  # exp(−inf) = 0: masked keys get no weight
    joined = np.einsum("nhts,nshd->nthd", p, v).reshape(n, t, e)
    return joined @ layer["Wo"], (x, q, k, v, p, joined, scale)


def erf(z):
    return np.frompyfunc(math.erf, 1, 1)(z).astype(z.dtype)  # NumPy has no erf: math.erf per element


def normal_cdf(z):
    return 0.5 * (1 + erf(z / math.sqrt(2)))  # the standard normal's CDF Φ(z)


def layers(model, x):
    """Every value the backward pass needs, by name."""
    v = {"h": model[EMBED]["E"][x] + model[POS]["P"]}  # (N, T, 16): each token's row + its position's
    for b, i in enumerate(BLOCKS):
        h = v["h"]
        v[f"a{b}"], v[f"ln1{b}"] = layernorm(h, model[i])
        att, v[f"attn{b}"] = attention(v[f"a{b}"], model[i + 1])
        v[f"r{b}"] = h + att  # the first residual
        v[f"m{b}"], v[f"ln2{b}"] = layernorm(v[f"r{b}"], model[i + 3])
        v[f"z{b}"] = v[f"m{b}"] @ model[i + 4]["W"] + model[i + 4]["b"]  # (N, T, 64)
        v[f"cdf{b}"] = normal_cdf(v[f"z{b}"])  # kept for GELU′
        v[f"g{b}"] = v[f"z{b}"] * v[f"cdf{b}"]  # GELU, the exact form z·Φ(z)
        v["h"] = v[f"r{b}"] + v[f"g{b}"] @ model[i + 5]["W"] + model[i + 5]["b"]  # the second residual
    v["f"], v["lnf"] = layernorm(v["h"], model[LN_F])
    v["out"] = v["f"] @ model[EMBED]["E"].T  # (N, T, 3) logits: the head tied to the token table
    return v


def forward(model, x):
    return layers(model, x)["out"]


# --- loss


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def loss(out, y):
    """The mean over all N·T positions of −log softmax(logits)[label]; y: int labels (N, T)."""
    return -np.mean(np.take_along_axis(log_softmax(out), y[..., None], axis=-1))


# --- gradient


def layernorm_backward(dy, cache, layer):
    """(dL/dx, {dL/dγ, dL/dβ}): with g = dy·γ, dx = (g − mean g − x̂·mean(g·x̂))/√(σ² + ε), means over the
    features of each position; γ's and β's gradients summed over every position."""
    x_hat, var = cache
    g = dy * layer["gamma"]
    dx = (g - g.mean(-1, keepdims=True) - x_hat * (g * x_hat).mean(-1, keepdims=True)) / np.sqrt(var + LN_EPS)
    return dx, {"gamma": (dy * x_hat).sum(axis=(0, 1)), "beta": dy.sum(axis=(0, 1))}


def attention_backward(d_out, cache, layer):
    """(dL/dx, the four kernels' gradients), back through Wo, the weighted sum, the softmax (a masked
    score has p = 0, so its gradient p·(dp − Σ p·dp) is 0 too) and the three projections."""
    x, q, k, v, p, joined, scale = cache
    n, t, e = x.shape
    g = {"Wo": np.einsum("nti,ntj->ij", joined, d_out)}
    d_joined = (d_out @ layer["Wo"].T).reshape(q.shape)  # (N, T, h, d)
    dp = np.einsum("nthd,nshd->nhts", d_joined, v)
    dv = np.einsum("nhts,nthd->nshd", p, d_joined)
    ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True)) * scale  # softmax's Jacobian, then the 1/√d
    dq = np.einsum("nhts,nshd->nthd", ds, k).reshape(n, t, e)
    dk = np.einsum("nhts,nthd->nshd", ds, q).reshape(n, t, e)
    dv = dv.reshape(n, t, e)
    for key, d in (("Wq", dq), ("Wk", dk), ("Wv", dv)):
        g[key] = np.einsum("nti,ntj->ij", x, d)
    dx = dq @ layer["Wq"].T + dk @ layer["Wk"].T + dv @ layer["Wv"].T  # x is read three times: the sum
    return dx, {key: g[key] for key in ("Wq", "Wk", "Wv", "Wo")}


def gelu_grad(z, cdf):
    """GELU′(z) = Φ(z) + z·φ(z), φ the standard normal's density."""
    return cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def grads(model, x, y):
    """(loss, the trained weights' gradients): the chain rule by hand, the last node first. The token
    table is read twice, by the embedding and by the tied head: its gradient is the sum of both."""
    v, g = layers(model, x), [{} for _ in model]
    d_out = np.exp(log_softmax(v["out"]))  # dL/dz = (softmax(z) − onehot(y))/(N·T)
    np.put_along_axis(d_out, y[..., None], np.take_along_axis(d_out, y[..., None], axis=-1) - 1, axis=-1)
    d_out /= y.size
    dE_head = np.einsum("ntv,nte->ve", d_out, v["f"])  # logits = f @ Eᵀ
    dh, g[LN_F] = layernorm_backward(d_out @ model[EMBED]["E"], v["lnf"], model[LN_F])
    for b, i in reversed(list(enumerate(BLOCKS))):
        # h = r + gelu(z) @ W + b: the residual passes dh to r unchanged
        g[i + 5] = {"W": np.einsum("nti,ntj->ij", v[f"g{b}"], dh), "b": dh.sum(axis=(0, 1))}
        dz = (dh @ model[i + 5]["W"].T) * gelu_grad(v[f"z{b}"], v[f"cdf{b}"])
        g[i + 4] = {"W": np.einsum("nti,ntj->ij", v[f"m{b}"], dz), "b": dz.sum(axis=(0, 1))}
        dm, g[i + 3] = layernorm_backward(dz @ model[i + 4]["W"].T, v[f"ln2{b}"], model[i + 3])
        dr = dh + dm  # r: the residual's and the MLP's
        da, g[i + 1] = attention_backward(dr, v[f"attn{b}"], model[i + 1])
        dx, g[i] = layernorm_backward(da, v[f"ln1{b}"], model[i])
        dh = dr + dx  # the block's input: the residual's and the attention's
    g[POS] = {"P": dh.sum(axis=0)}  # one row per position, summed over the batch
    dE = dE_head.copy()
    np.add.at(dE, x, dh)  # scatter-add: a token read at many positions gets all their gradients
    g[EMBED] = {"E": dE}  # the tied head's use + the embedding's
    return loss(v["out"], y), g


# --- update


def optimizer(model):
    zeros = [{key: np.zeros_like(a) for key, a in layer.items()} for layer in model]
    return {"t": 0, "m": zeros, "v": [{key: a.copy() for key, a in layer.items()} for layer in zeros]}


def update(model, g, state):
    """torch.optim.AdamW on every trained weight: w ← w − lr·λ·w (decoupled: λ never enters m or v), then
    Adam's w −= lr·m̂/(√v̂ + ε)."""
    state["t"] += 1
    t = state["t"]
    for layer, grad, m, v in zip(model, g, state["m"], state["v"]):
        for key in grad:
            layer[key] *= 1 - LR * WD  # torch's param.mul_(1 − lr·λ)
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
    """The catalog's 256 sort-demo sequences: x the first 11 of 6 digits (0–2) then the same sorted, y the
    next token at each position (int64 (256, 11) both); initial weights; the task's minibatches of 32."""
    task = get(TASK)
    x, y = task.data()
    return x, y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
