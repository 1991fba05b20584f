"""Sine regression, "neural networks in pictures": a 1-5-1 ReLU net fits 2·sin(x) + 5, MSE, SGD lr 0.01,
minibatches of 32 in the task's seeded order (catalog task "sine-relu").
NumPy: the forward pass, and the backward pass by hand."""

import numpy as np

from foundation.catalog import get

TASK = "sine-relu"  # the catalog task this file follows
LR = 0.01

# --- model


def build(params):
    """NumPy's layout is the canonical one: [{"W": (1, 5), "b": (5,)}, {"W": (5, 1), "b": (1,)}]."""
    return [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in params]


def get_params(model):
    return [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in model]


def relu(z):
    return np.maximum(z, 0)


def forward(model, x):
    h = relu(x @ model[0]["W"] + model[0]["b"])  # (N, 5)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1)


# --- loss


def loss(out, y):
    return np.mean((out - y) ** 2)  # mean over all N·1 entries


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): the chain rule by hand, relu'(z) = [z > 0]."""
    z1 = x @ model[0]["W"] + model[0]["b"]  # (N, 5)
    h = relu(z1)
    out = h @ model[1]["W"] + model[1]["b"]  # (N, 1)
    d_out = 2 * (out - y) / out.size  # dL/dout (N, 1)
    d_z1 = (d_out @ model[1]["W"].T) * (z1 > 0)  # dL/dz1 (N, 5)
    g = [{"W": x.T @ d_z1, "b": d_z1.sum(axis=0)}, {"W": h.T @ d_out, "b": d_out.sum(axis=0)}]
    return loss(out, y), g


# --- update


def optimizer(model):
    return None  # plain SGD keeps no state


def update(model, g, state):
    for layer, grad in zip(model, g):
        for key in layer:
            layer[key] -= LR * grad[key]  # w −= lr·g
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
    """The catalog's data, initial weights and batches: rows of a seeded permutation per epoch, 32 a
    batch, the last one of each epoch shorter (1000 = 31·32 + 8)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
