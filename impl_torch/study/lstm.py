"""An LSTM, the architectures talk: LSTM(8) reads 10 steps of a sine wave, its last state -> 1 output, the
next value; MSE, Adam (torch's form) lr 0.01, minibatches of 32 in the task's seeded order.
PyTorch: an nn.Module, autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "lstm"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 8, batch_first=True)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)  # x (N, 10, 1); h: the last state, (layers = 1, N, 8)
        return self.fc(h[-1])  # (N, 1)


def build(params):
    """weight_ih = Wᵀ (32, 1), weight_hh = Uᵀ (32, 8), gate blocks i, f, g, o as canonical; torch adds two
    biases: b into bias_ih, bias_hh zero and frozen (lstm-bias/torch). Dense: the one transpose
    (dense-layout/torch)."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    lstm, dense = params
    with torch.no_grad():
        model.lstm.weight_ih_l0.copy_(torch.from_numpy(lstm["W"].T))
        model.lstm.weight_hh_l0.copy_(torch.from_numpy(lstm["U"].T))
        model.lstm.bias_ih_l0.copy_(torch.from_numpy(lstm["b"]))
        model.lstm.bias_hh_l0.zero_()
        model.fc.weight.copy_(torch.from_numpy(dense["W"].T))
        model.fc.bias.copy_(torch.from_numpy(dense["b"]))
    model.lstm.bias_hh_l0.requires_grad_(False)  # both biases get the same gradient: train one
    return model


def get_params(model, grad=False):
    """The weights, or their .grad, in the canonical layouts: b = bias_ih + bias_hh; dL/db = bias_ih's."""

    def numpy(t):
        return (t.grad if grad else t).detach().numpy().copy()

    lstm = model.lstm
    b = numpy(lstm.bias_ih_l0) if grad else numpy(lstm.bias_ih_l0) + numpy(lstm.bias_hh_l0)
    return [
        {"W": numpy(lstm.weight_ih_l0).T, "U": numpy(lstm.weight_hh_l0).T, "b": b},
        {"W": numpy(model.fc.weight).T, "b": numpy(model.fc.bias)},
    ]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    # gotcha: out (N, 1) against y (N,) broadcasts to (N, N), only a warning (mse-broadcast/torch)
    return F.mse_loss(out, y)


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW, dL/dU and dL/db of each layer): backward() fills each weight's .grad."""
    model.zero_grad()
    value = loss(model(torch.from_numpy(x)), torch.from_numpy(y))
    value.backward()
    return value.item(), get_params(model, grad=True)


# --- update


def optimizer(model):
    trained = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(trained, lr=LR, betas=(BETA1, BETA2), eps=EPS)  # (adam-epsilon/torch)


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
    """The catalog's 200 windows x (N, 10, 1), y (N, 1), initial weights and batches: 32 a batch in a
    seeded order per epoch, the last one shorter (200 = 6·32 + 8)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
