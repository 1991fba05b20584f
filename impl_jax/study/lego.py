"""Gaussian XOR, the Lego tutorial: a 2-3-2 sigmoid net without biases on 300 Gaussian points, one-hot
targets, Σ(out − y)²/(2N) + λ·ΣW²/(2N), SGD lr 10, full batch.
JAX: a pytree of weights, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "xor-gauss"  # the catalog task this file follows
LR = 10.0
LAMBDA, N = 1e-3, 300  # the tutorial's λ and N: one full batch of 300 points
L2 = LAMBDA / (2 * N)  # λ·ΣW²/(2N): a constant times ΣW²

# --- model


def build(params):
    """JAX's layout is the canonical one: [{"W": (2, 3)}, {"W": (3, 2)}], y = x @ W."""
    return [{"W": jnp.asarray(layer["W"])} for layer in params]


def get_params(model):
    return [{"W": np.asarray(layer["W"])} for layer in model]


def predict(model, x):
    h = jax.nn.sigmoid(x @ model[0]["W"])  # (N, 3)
    return jax.nn.sigmoid(h @ model[1]["W"])  # (N, 2)


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    out = predict(model, x)
    sse = jnp.sum((out - y) ** 2) / (2 * len(out))  # Σ(out − y)²/(2N), y one-hot (N, 2)
    return sse + L2 * sum(jnp.sum(layer["W"] ** 2) for layer in model)  # + λ·ΣW²/(2N)


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program: op by op, every op compiles


def grads(model, x, y):
    """(loss, dL/dW of each layer): jax.grad of the loss, a pytree shaped like the weights."""
    value, g = value_and_grad(model, x, y)
    return float(value), get_params(g)


# --- update

OPTIMIZER = optax.sgd(LR)  # w −= lr·g


def optimizer(model):
    return OPTIMIZER.init(model)


@jax.jit
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
    """The catalog's data (y: one-hot), initial weights and batches (full batch: every row, every step)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
