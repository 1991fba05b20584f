"""A GRU, the architectures talk: GRU(8) reads a 6-bit stream (a bit as ±1), its last state -> 1 logit, the
stream's parity; log loss on the logit, Adam (torch's form) lr 0.01, full batch of all 64 streams.
JAX: a pytree of weights, lax.scan over time, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "gru"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


def build(params):
    """JAX's layout is the canonical one (Keras's reset_after=True GRU): W (1, 24), U (8, 24), gate
    blocks z, r, h; b (2, 24): b[0] the input bias, b[1] the recurrent one. Dense W (8, 1), b (1,)."""
    return [{key: jnp.asarray(a) for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: np.asarray(a) for key, a in layer.items()} for layer in model]


def gru(layer, x):
    """The last hidden state h_T (N, 8) of x (N, T, 1): one step per time step, in lax.scan."""

    def step(h, x_t):
        p_z, p_r, p_h = jnp.split(x_t @ layer["W"] + layer["b"][0], 3, axis=1)  # the input projection
        q_z, q_r, q_h = jnp.split(h @ layer["U"] + layer["b"][1], 3, axis=1)  # the recurrent projection
        z, r = jax.nn.sigmoid(p_z + q_z), jax.nn.sigmoid(p_r + q_r)
        cand = jnp.tanh(p_h + r * q_h)  # ĥ: r scales h U_h + b1_h, its bias included (reset_after)
        return z * h + (1 - z) * cand, None  # h_t = z ⊙ h_{t−1} + (1 − z) ⊙ ĥ

    h0 = jnp.zeros((x.shape[0], layer["U"].shape[0]), x.dtype)
    h, _ = lax.scan(step, h0, jnp.swapaxes(x, 0, 1))  # scan over T: (T, N, 1)
    return h


def predict(model, x):
    h = gru(model[0], x)  # (N, 8)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1) logits


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    # −y·log σ(z) − (1 − y)·log σ(−z), through log_sigmoid: stable; mean over all N·1 entries
    return jnp.mean(optax.sigmoid_binary_cross_entropy(predict(model, x), y))


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program: op by op, every op compiles


def grads(model, x, y):
    """(loss, dL/dW, dL/dU and dL/db of each layer): jax.grad of the loss, back through the scan."""
    value, g = value_and_grad(model, x, y)
    return float(value), get_params(g)


# --- update

OPTIMIZER = optax.adam(LR, b1=BETA1, b2=BETA2, eps=EPS)  # m̂/(√v̂ + ε) as torch (adam-epsilon/jax)


def optimizer(model):
    return OPTIMIZER.init(model)


@jax.jit  # traced once: the same 64 rows every step
def update(model, state, x, y):
    value, g = value_and_grad(model, x, y)
    updates, state = OPTIMIZER.update(g, state)
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
    """The catalog's 64 streams x (64, 6, 1) of ±1, y (64, 1) their parity 0 or 1, initial weights and
    batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
