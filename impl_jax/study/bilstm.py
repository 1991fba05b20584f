"""A bidirectional LSTM, the architectures talk: an LSTM(8) reads 10 values uniform on [−1, 1] forward, a
second LSTM(8) reads them backward; [forward's last state, backward's last state] (16) -> 1 logit, is the
first value above the last? Binary cross-entropy on the logit, Adam (torch's form) lr 0.01, full batch.
JAX: a pytree of weights, one LSTM cell in lax.scan over x and over x reversed, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "bilstm"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
BACK = "_r"  # the suffix of the backward reading's weights: W_r, U_r, b_r

# --- model


def build(params):
    """JAX's layout is the canonical one: the forward LSTM W (1, 32), U (8, 32), b (32,), the backward one
    W_r, U_r, b_r alike, gate blocks i, f, g, o; Dense W (16, 1), b (1,)."""
    return [{key: jnp.asarray(a) for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: np.asarray(a) for key, a in layer.items()} for layer in model]


def lstm(layer, x, suffix=""):
    """The last hidden state (N, 8) of the LSTM with weights W, U, b + suffix reading x (N, T, 1) from
    x[:, 0] to x[:, −1]: one step per time step, in lax.scan."""
    W, U, b = (layer[key + suffix] for key in ("W", "U", "b"))

    def step(carry, x_t):
        h, c = carry
        a = x_t @ W + h @ U + b  # (N, 4u)
        i, f, g, o = jnp.split(a, 4, axis=1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)  # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = jax.nn.sigmoid(o) * jnp.tanh(c)  # h_t = o ⊙ tanh(c_t)
        return (h, c), None

    zeros = jnp.zeros((x.shape[0], U.shape[0]), x.dtype)
    (h, _), _ = lax.scan(step, (zeros, zeros), jnp.swapaxes(x, 0, 1))  # scan over T: (T, N, 1)
    return h


def bilstm(layer, x):
    """[forward's h after x_T, backward's h after x_1] (N, 16)."""
    h_f = lstm(layer, x)
    h_b = lstm(layer, x[:, ::-1], BACK)  # the backward reading: x_T first, x_1 last
    return jnp.concatenate([h_f, h_b], axis=1)


def predict(model, x):
    h = bilstm(model[0], x)  # (N, 16)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1) logits


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    return optax.sigmoid_binary_cross_entropy(predict(model, x), y).mean()  # on logits; mean over N·1


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program: op by op, every op compiles


def grads(model, x, y):
    """(loss, dL/d of every weight): jax.grad of the loss, back through both scans."""
    value, g = value_and_grad(model, x, y)
    return float(value), get_params(g)


# --- update

OPTIMIZER = optax.adam(LR, b1=BETA1, b2=BETA2, eps=EPS)  # m̂/(√v̂ + ε) as torch (adam-epsilon/jax)


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
    """The catalog's 128 sequences x (N, 10, 1), y (N, 1) = 1 where x[:, 0] > x[:, −1], else 0; initial
    weights; batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
