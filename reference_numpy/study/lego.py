"""Gaussian XOR, the Lego tutorial: a 2-3-2 sigmoid net without biases on 300 Gaussian points, one-hot
targets, Σ(out − y)²/(2N) + λ·ΣW²/(2N), SGD lr 10, full batch.
NumPy: the forward pass, and the backward pass by hand."""

import numpy as np

from foundation.catalog import get

TASK = "xor-gauss"  # the catalog task this file follows
LR = 10.0
LAMBDA, N = 1e-3, 300  # the tutorial's λ and N: one full batch of 300 points
L2 = LAMBDA / (2 * N)  # λ·ΣW²/(2N): a constant times ΣW²

# --- model


def build(params):
    """NumPy's layout is the canonical one: [{"W": (2, 3)}, {"W": (3, 2)}], y = x @ W."""
    return [{"W": layer["W"].copy()} for layer in params]


def get_params(model):
    return [{"W": layer["W"].copy()} for layer in model]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(model, x):
    h = sigmoid(x @ model[0]["W"])  # (N, 3)
    return sigmoid(h @ model[1]["W"])  # (N, 2)


# --- loss


def loss(out, y, model):
    sse = np.sum((out - y) ** 2) / (2 * len(out))  # Σ(out − y)²/(2N), y one-hot (N, 2)
    return sse + L2 * sum(np.sum(layer["W"] ** 2) for layer in model)  # + λ·ΣW²/(2N)


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW of each layer): the chain rule by hand, σ'(z) = σ(z)·(1 − σ(z)), d(L2·ΣW²)/dW = 2·L2·W."""
    h = sigmoid(x @ model[0]["W"])  # (N, 3)
    out = sigmoid(h @ model[1]["W"])  # (N, 2)
    d_out = (out - y) / len(out) * out * (1 - out)  # dL/dz2 (N, 2)
    d_h = (d_out @ model[1]["W"].T) * h * (1 - h)  # dL/dz1 (N, 3)
    g = [{"W": x.T @ d_h}, {"W": h.T @ d_out}]
    for layer, grad in zip(model, g):
        grad["W"] += 2 * L2 * layer["W"]
    return loss(out, y, model), g


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
    """The catalog's data (y: one-hot), initial weights and batches (full batch: every row, every step)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
