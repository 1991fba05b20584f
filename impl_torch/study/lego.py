"""Gaussian XOR, the Lego tutorial: a 2-3-2 sigmoid net without biases on 300 Gaussian points, one-hot
targets, Σ(out − y)²/(2N) + λ·ΣW²/(2N), SGD lr 10, full batch.
PyTorch: an nn.Module, autograd, torch.optim."""

import numpy as np
import torch
from torch import nn

from foundation.catalog import get

TASK = "xor-gauss"  # the catalog task this file follows
LR = 10.0
LAMBDA, N = 1e-3, 300  # the tutorial's λ and N: one full batch of 300 points
L2 = LAMBDA / (2 * N)  # λ·ΣW²/(2N): a constant times ΣW²

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 3, bias=False)
        self.fc2 = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        x = self.fc1(x)  # (N, 3)
        x = torch.sigmoid(x)
        x = self.fc2(x)  # (N, 2)
        return torch.sigmoid(x)


def build(params):
    """Canonical W (in, out) -> Linear.weight (out, in): the one transpose (dense-layout/torch)."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    with torch.no_grad():
        for fc, layer in zip((model.fc1, model.fc2), params):
            assert fc.weight.shape == layer["W"].T.shape
            fc.weight.copy_(torch.from_numpy(layer["W"].T))
    return model


def get_params(model, grad=False):
    """Linear.weight (out, in), or its .grad, -> canonical W (in, out)."""
    fcs = (model.fc1, model.fc2)
    return [{"W": (fc.weight.grad if grad else fc.weight).detach().numpy().T.copy()} for fc in fcs]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y, model):
    sse = torch.sum((out - y) ** 2) / (2 * len(out))  # Σ(out − y)²/(2N), y one-hot (N, 2)
    return sse + L2 * (model.fc1.weight.square().sum() + model.fc2.weight.square().sum())  # + λ·ΣW²/(2N)


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW of each layer): backward() fills each weight's .grad."""
    model.zero_grad()
    value = loss(model(torch.from_numpy(x)), torch.from_numpy(y), model)
    value.backward()
    return value.item(), get_params(model, grad=True)


# --- update


def optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=LR)  # step(): w −= lr·w.grad


# --- loop


def train(params, x, y, batches):
    model = build(params)
    opt = optimizer(model)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for rows in batches:
        opt.zero_grad()
        out = model(x[rows])
        value = loss(out, y[rows], model)
        value.backward()
        opt.step()
        losses.append(value.item())
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
