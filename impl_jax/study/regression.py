"""Sine regression, "neural networks in pictures": a 1-5-1 ReLU net fits 2·sin(x) + 5, MSE, SGD lr 0.01,
minibatches of 32 in the task's seeded order (catalog task "sine-relu").
JAX: a pytree of weights, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "sine-relu"  # the catalog task this file follows
LR = 0.01

# --- model


def build(params):
    """JAX's layout is the canonical one: [{"W": (1, 5), "b": (5,)}, {"W": (5, 1), "b": (1,)}]."""
    return [{"W": jnp.asarray(layer["W"]), "b": jnp.asarray(layer["b"])} for layer in params]


def get_params(model):
    return [{"W": np.asarray(layer["W"]), "b": np.asarray(layer["b"])} for layer in model]


def predict(model, x):
    h = jax.nn.relu(x @ model[0]["W"] + model[0]["b"])  # (N, 5)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1)


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    return jnp.mean((predict(model, x) - y) ** 2)  # mean over all N·1 entries


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program: op by op, every op compiles


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): jax.grad of the loss, a pytree shaped like the weights."""
    value, g = value_and_grad(model, x, y)
    return float(value), get_params(g)


# --- update

OPTIMIZER = optax.sgd(LR)  # w −= lr·g


def optimizer(model):
    return OPTIMIZER.init(model)


@jax.jit  # traced once per batch shape: (32, 1), then (8, 1) at each epoch's end
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
    """The catalog's data, initial weights and batches: rows of a seeded permutation per epoch, 32 a
    batch, the last one of each epoch shorter (1000 = 31·32 + 8)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
