"""A small CNN, the architectures talk: 8×8×1 bars -> conv 4 (3×3, same) relu -> conv 8 (3×3, stride 2, same)
relu -> max pool 2 -> flatten (32) -> 3 logits, softmax cross-entropy, Adam (torch's form) lr 3e-3.
JAX: a pytree of weights, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "cnn"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 3e-3, 0.9, 0.999, 1e-8
# lax's names for the canonical layouts: images NHWC, kernels (kh, kw, in, out) = "HWIO"
NHWC = ("NHWC", "HWIO", "NHWC")

# --- model


def build(params):
    """JAX's layout is the canonical one; model[2] and model[3], the pool's and the flatten's, are {}."""
    return [{key: jnp.asarray(a) for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: np.asarray(a) for key, a in layer.items()} for layer in model]


def predict(model, x):
    x = lax.conv_general_dilated(x, model[0]["W"], (1, 1), "SAME", dimension_numbers=NHWC)  # (N, 8, 8, 4)
    x = jax.nn.relu(x + model[0]["b"])
    x = lax.conv_general_dilated(x, model[1]["W"], (2, 2), "SAME", dimension_numbers=NHWC)  # (N, 4, 4, 8)
    x = jax.nn.relu(x + model[1]["b"])
    # lax.reduce_window: the gradient goes to one max, as torch's and TF's (maxpool-ties/jax)
    x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")  # (N, 2, 2, 8)
    x = x.reshape(len(x), -1)  # (N, 32)
    return x @ model[4]["W"] + model[4]["b"]  # (N, 3) logits


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(predict(model, x), y).mean()  # y: labels (N,)


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program: op by op, every op compiles


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): jax.grad of the loss, a pytree shaped like the weights."""
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
    """The catalog's 90 drawn 8×8 bars and diagonals (x NHWC, y: labels 0, 1, 2), initial weights, batches."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
