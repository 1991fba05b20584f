"""An LSTM, the architectures talk: LSTM(8) reads 10 steps of a sine wave, its last state -> 1 output, the
next value; MSE, Adam (torch's form) lr 0.01, minibatches of 32 in the task's seeded order.
JAX: a pytree of weights, lax.scan over time, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "lstm"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


def build(params):
    """JAX's layout is the canonical one: LSTM W (1, 32), U (8, 32), b (32,), gate blocks i, f, g, o;
    Dense W (8, 1), b (1,)."""
    return [{key: jnp.asarray(a) for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: np.asarray(a) for key, a in layer.items()} for layer in model]


def lstm(layer, x):
    """The last hidden state h_T (N, 8) of x (N, T, 1): one step per time step, in lax.scan."""

    def step(carry, x_t):
        h, c = carry
        a = x_t @ layer["W"] + h @ layer["U"] + layer["b"]  # (N, 4u)
        i, f, g, o = jnp.split(a, 4, axis=1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)  # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = jax.nn.sigmoid(o) * jnp.tanh(c)  # h_t = o ⊙ tanh(c_t)
        return (h, c), None

    zeros = jnp.zeros((x.shape[0], layer["U"].shape[0]), x.dtype)
    (h, _), _ = lax.scan(step, (zeros, zeros), jnp.swapaxes(x, 0, 1))  # scan over T: (T, N, 1)
    return h


def predict(model, x):
    h = lstm(model[0], x)  # (N, 8)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1)


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    return jnp.mean((predict(model, x) - y) ** 2)  # mean over all N·1 entries


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


@jax.jit  # traced once per batch shape: 32 rows, then 8 at each epoch's end
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
    """The catalog's 200 windows x (N, 10, 1), y (N, 1), initial weights and batches: 32 a batch in a
    seeded order per epoch, the last one shorter (200 = 6·32 + 8)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
