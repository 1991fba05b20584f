"""Softmax classification, the ML handbook's multiclass head: a 2-100-3 ReLU net on a 3-arm spiral,
softmax cross-entropy + λ·ΣW² on the kernels, Adam (torch's form) lr 0.01, full batch.
PyTorch: an nn.Module, autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "softmax"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
L2 = 1e-3

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 100)
        self.fc2 = nn.Linear(100, 3)

    def forward(self, x):
        x = self.fc1(x)  # (N, 100)
        x = F.relu(x)
        return self.fc2(x)  # (N, 3) logits


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


def loss(out, y, model):
    ce = F.cross_entropy(out, y)  # logits (N, 3), labels (N,) int64: log_softmax + mean NLL
    return ce + L2 * (model.fc1.weight.square().sum() + model.fc2.weight.square().sum())  # kernels only


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): backward() fills each weight's .grad."""
    model.zero_grad()
    value = loss(model(torch.from_numpy(x)), torch.from_numpy(y), model)
    value.backward()
    return value.item(), get_params(model, grad=True)


# --- update


def optimizer(model):
    """m̂/(√v̂ + ε) (adam-epsilon/torch); no weight_decay: torch's adds 2λ·W to every weight's
    gradient, biases too (weight-decay/torch)."""
    return torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)


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
    """The catalog's data (y: class labels 0, 1, 2), initial weights and batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
