"""A tiny GPT, nanoGPT at toy size: tokens (N, 11) of minGPT's sort demo -> token table (3, 16) + learned
positions -> 2 pre-LayerNorm blocks (x + attention(LN(x)), 2 causal heads, no biases; then + MLP 16-64-16,
exact GELU) -> LayerNorm -> logits = h @ Eᵀ with the token table (tied); softmax cross-entropy over all
N·T positions, AdamW (torch's form) lr 1e-3, λ 0.01, minibatches of 32.
JAX: pure functions of a pytree of weights (no init: the weights come in), jax.grad, jax.jit, optax.adamw."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "transformer"  # the catalog task this file follows
LR, BETA1, BETA2, EPS, WD = 1e-3, 0.9, 0.999, 1e-8, 0.01
HEADS, LN_EPS = 2, 1e-5
BLOCKS = (2, 9)  # the index of each block's first node (b0.ln1, b1.ln1) in the canonical list
EMBED, POS, LN_F = 0, 1, 16

# --- model


def build(params):
    """JAX's layout is the canonical one, a list of dicts (a pytree): E, P, per block LayerNorm γ, β, Wq,
    Wk, Wv, Wo (x @ W, head j the columns j·8 … j·8 + 7), fc and proj W, b; {} for the adds and the head."""
    return [{key: jnp.asarray(a) for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: np.asarray(a) for key, a in layer.items()} for layer in model]


def layernorm(x, layer):
    """γ·(x − μ)/√(σ² + ε) + β over the 16 features, σ² biased (jnp.var's default, ddof=0)."""
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    return layer["gamma"] * (x - mean) / jnp.sqrt(var + LN_EPS) + layer["beta"]


def attention(x, layer):
    """softmax(Q Kᵀ/√d + causal mask) V per head, the heads joined, then Wo."""
    n, t, e = x.shape
    q, k, v = ((x @ layer[f"W{p}"]).reshape(n, t, HEADS, e // HEADS) for p in "qkv")  # (N, T, h, d)
    scores = jnp.einsum("nthd,nshd->nhts", q, k) / math.sqrt(e // HEADS)  # (N, h, T, T): query t, key s
    # key s ≤ query t; −inf is safe here: no row is all masked (the diagonal stays), else softmax is NaN.
    # Hand-written, not jax.nn.dot_product_attention: its softmax is float32 (dot-product-attention/jax)
    scores = jnp.where(jnp.tril(jnp.ones((t, t), dtype=bool)), scores, -jnp.inf)
    p = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("nhts,nshd->nthd", p, v).reshape(n, t, e) @ layer["Wo"]


def predict(model, x):
    h = model[EMBED]["E"][x] + model[POS]["P"]  # (N, T, 16): a gather; jax.grad scatter-adds into E
    for i in BLOCKS:
        h = h + attention(layernorm(h, model[i]), model[i + 1])
        # gotcha: jax.nn.gelu's default is the tanh approximation; torch's nn.GELU() the erf form
        # (gelu-approximate/jax)
        z = jax.nn.gelu(layernorm(h, model[i + 3]) @ model[i + 4]["W"] + model[i + 4]["b"], approximate=False)
        h = h + z @ model[i + 5]["W"] + model[i + 5]["b"]
    return layernorm(h, model[LN_F]) @ model[EMBED]["E"].T  # (N, T, 3) logits: the tied head reads E too


def forward(model, x):
    return np.asarray(jax.jit(predict)(model, x))  # compiled whole, not op by op


# --- loss


def loss(model, x, y):
    """The mean over all N·T positions; y: int labels (N, T)."""
    return optax.softmax_cross_entropy_with_integer_labels(predict(model, x), y).mean()


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program, not op by op


def grads(model, x, y):
    """(loss, the trained weights' gradients): jax.grad of the loss, a pytree shaped like the weights; E is
    one leaf read twice, so its gradient is the sum of both uses."""
    value, g = value_and_grad(model, x, y)
    return float(value), get_params(g)


# --- update

# w ← w − lr·(m̂/(√v̂ + ε) + λ·w) on every leaf: torch's AdamW, the decay decoupled (weight-decay/jax)
OPTIMIZER = optax.adamw(LR, b1=BETA1, b2=BETA2, eps=EPS, weight_decay=WD)


def optimizer(model):
    return OPTIMIZER.init(model)


@jax.jit
def update(model, state, x, y):
    value, g = value_and_grad(model, x, y)
    updates, state = OPTIMIZER.update(g, state, model)  # adamw reads the weights: pass them
    return optax.apply_updates(model, updates), state, value


# --- loop


def train(params, x, y, batches):
    model = build(params)
    state = optimizer(model)
    losses = []
    for rows in batches:
        model, state, value = update(model, state, x[rows], y[rows])
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
