"""Softmax classification, the ML handbook's multiclass head: a 2-100-3 ReLU net on a 3-arm spiral,
softmax cross-entropy + λ·ΣW² on the kernels, Adam (torch's form) lr 0.01, full batch.
JAX: a pytree of weights, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "softmax"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
L2 = 1e-3

# --- model


def build(params):
    """JAX's layout is the canonical one: [{"W": (2, 100), "b": (100,)}, {"W": (100, 3), "b": (3,)}]."""
    return [{"W": jnp.asarray(layer["W"]), "b": jnp.asarray(layer["b"])} for layer in params]


def get_params(model):
    return [{"W": np.asarray(layer["W"]), "b": np.asarray(layer["b"])} for layer in model]


def predict(model, x):
    h = jax.nn.relu(x @ model[0]["W"] + model[0]["b"])  # (N, 100)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 3) logits


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    ce = optax.softmax_cross_entropy_with_integer_labels(predict(model, x), y).mean()  # y: labels (N,)
    return ce + L2 * sum(jnp.sum(layer["W"] ** 2) for layer in model)  # + λ·ΣW², kernels only


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
    """The catalog's data (y: class labels 0, 1, 2), initial weights and batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
