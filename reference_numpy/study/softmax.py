"""Softmax classification, the ML handbook's multiclass head: a 2-100-3 ReLU net on a 3-arm spiral,
softmax cross-entropy + λ·ΣW² on the kernels, Adam (torch's form) lr 0.01, full batch.
NumPy: the forward pass, the backward pass and Adam by hand."""

import numpy as np

from foundation.catalog import get

TASK = "softmax"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
L2 = 1e-3

# --- model


def build(params):
    """NumPy's layout is the canonical one: [{"W": (2, 100), "b": (100,)}, {"W": (100, 3), "b": (3,)}]."""
    return [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in params]


def get_params(model):
    return [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in model]


def relu(z):
    return np.maximum(z, 0)


def forward(model, x):
    h = relu(x @ model[0]["W"] + model[0]["b"])  # (N, 100)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 3) logits


# --- loss


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)  # stable: the largest logit of each row is 0
    return z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))


def loss(out, y, model):
    ce = -np.mean(log_softmax(out)[np.arange(len(y)), y])  # y: class labels (N,)
    return ce + L2 * sum(np.sum(layer["W"] ** 2) for layer in model)  # + λ·ΣW², kernels only


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): dL/dz = (softmax(z) − onehot(y))/N, d(λ·ΣW²)/dW = 2λW."""
    z1 = x @ model[0]["W"] + model[0]["b"]  # (N, 100)
    h = relu(z1)
    out = h @ model[1]["W"] + model[1]["b"]  # (N, 3)
    d_out = np.exp(log_softmax(out))  # softmax (N, 3)
    d_out[np.arange(len(y)), y] -= 1
    d_out /= len(y)
    d_z1 = (d_out @ model[1]["W"].T) * (z1 > 0)  # (N, 100)
    g = [{"W": x.T @ d_z1, "b": d_z1.sum(axis=0)}, {"W": h.T @ d_out, "b": d_out.sum(axis=0)}]
    for layer, grad in zip(model, g):
        grad["W"] += 2 * L2 * layer["W"]
    return loss(out, y, model), g


# --- update


def optimizer(model):
    zeros = [{key: np.zeros_like(a) for key, a in layer.items()} for layer in model]
    return {"t": 0, "m": zeros, "v": [{key: a.copy() for key, a in layer.items()} for layer in zeros]}


def update(model, g, state):
    """torch.optim.Adam: m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ), w −= lr·m̂/(√v̂ + ε)."""
    state["t"] += 1
    t = state["t"]
    for layer, grad, m, v in zip(model, g, state["m"], state["v"]):
        for key in layer:
            m[key] = BETA1 * m[key] + (1 - BETA1) * grad[key]
            v[key] = BETA2 * v[key] + (1 - BETA2) * grad[key] ** 2
            m_hat, v_hat = m[key] / (1 - BETA1**t), v[key] / (1 - BETA2**t)
            layer[key] -= LR * m_hat / (np.sqrt(v_hat) + EPS)
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
    """The catalog's data (y: class labels 0, 1, 2), initial weights and batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
