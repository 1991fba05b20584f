"""Sine regression, "neural networks in pictures": a 1-5-1 ReLU net fits 2·sin(x) + 5, MSE, SGD lr 0.01,
minibatches of 32 in the task's seeded order (catalog task "sine-relu").
PyTorch: an nn.Module, autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "sine-relu"  # the catalog task this file follows
LR = 0.01

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 5)
        self.fc2 = nn.Linear(5, 1)

    def forward(self, x):
        x = self.fc1(x)  # (N, 5)
        x = F.relu(x)
        return self.fc2(x)  # (N, 1)


def build(params):
    """Canonical W (in, out) -> Linear.weight (out, in): the one transpose (dense-layout/torch)."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    with torch.no_grad():
        for fc, layer in zip((model.fc1, model.fc2), params):
            assert fc.weight.shape == layer["W"].T.shape
            fc.weight.copy_(torch.from_numpy(layer["W"].T))
            fc.bias.copy_(torch.from_numpy(layer["b"]))
    return model


def get_params(model, grad=False):
    """Linear.weight (out, in) and bias, or their .grad, -> canonical W (in, out), b."""

    def numpy(t):
        return (t.grad if grad else t).detach().numpy().copy()

    return [{"W": numpy(fc.weight).T, "b": numpy(fc.bias)} for fc in (model.fc1, model.fc2)]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    # gotcha: out (N, 1) against y (N,) broadcasts to (N, N), only a warning (mse-broadcast/torch)
    return F.mse_loss(out, y)


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): backward() fills each weight's .grad."""
    model.zero_grad()
    value = loss(model(torch.from_numpy(x)), torch.from_numpy(y))
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
        value = loss(out, y[rows])
        value.backward()
        opt.step()
        losses.append(value.item())
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
