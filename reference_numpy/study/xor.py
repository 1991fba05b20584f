"""XOR, the "11 lines" tutorial part 2: a 3-4-1 sigmoid net without biases, ½·SSE, SGD lr 1, full batch.
NumPy: the forward pass, and the backward pass by hand."""

import numpy as np

from foundation.catalog import get

TASK = "xor"  # the catalog task this file follows
LR = 1.0

# --- model


def build(params):
    """NumPy's layout is the canonical one: [{"W": (3, 4)}, {"W": (4, 1)}], y = x @ W."""
    return [{"W": layer["W"].copy()} for layer in params]


def get_params(model):
    return [{"W": layer["W"].copy()} for layer in model]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(model, x):
    h = sigmoid(x @ model[0]["W"])  # (N, 4)
    return sigmoid(h @ model[1]["W"])  # (N, 1)


# --- loss


def loss(out, y):
    return 0.5 * np.sum((out - y) ** 2)  # ½·Σ(out − y)²


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW of each layer): the chain rule by hand, σ'(z) = σ(z)·(1 − σ(z))."""
    h = sigmoid(x @ model[0]["W"])  # (N, 4)
    out = sigmoid(h @ model[1]["W"])  # (N, 1)
    d_out = (out - y) * out * (1 - out)  # dL/dz2 (N, 1)
    d_h = (d_out @ model[1]["W"].T) * h * (1 - h)  # dL/dz1 (N, 4)
    return loss(out, y), [{"W": x.T @ d_h}, {"W": h.T @ d_out}]


# --- update


def optimizer(model):
    return None  # plain SGD keeps no state


def update(model, g, state):
    for layer, grad in zip(model, g):
        layer["W"] -= LR * grad["W"]  # w −= lr·g
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
    """The catalog's data, initial weights and batches (full batch: every row, every step)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
