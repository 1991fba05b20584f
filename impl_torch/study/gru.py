"""A GRU, the architectures talk: GRU(8) reads a 6-bit stream (a bit as ±1), its last state -> 1 logit, the
stream's parity; log loss on the logit, Adam (torch's form) lr 0.01, full batch of all 64 streams.
PyTorch: an nn.Module, autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "gru"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 8, batch_first=True)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        _, h = self.gru(x)  # x (N, 6, 1); h: the last state, (layers = 1, N, 8)
        return self.fc(h[-1])  # (N, 1) logits


def reorder(a, dim):
    """Gate blocks along `dim`: canonical z, r, h <-> torch's r, z, n, one swap both ways
    (gru-gate-order/torch)."""
    first, second, candidate = a.chunk(3, dim)
    return torch.cat([second, first, candidate], dim)


def build(params):
    """weight_ih = Wᵀ (24, 1), weight_hh = Uᵀ (24, 8), bias_ih = b[0], bias_hh = b[1], each in torch's
    block order r, z, n. torch's n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) is the canonical ĥ, so
    both biases train. Dense: the one transpose (dense-layout/torch)."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    gru, dense = params
    W, U, b = (torch.from_numpy(gru[key]) for key in ("W", "U", "b"))
    with torch.no_grad():
        model.gru.weight_ih_l0.copy_(reorder(W, 1).T)  # (1, 24) z, r, h -> (24, 1) r, z, n
        model.gru.weight_hh_l0.copy_(reorder(U, 1).T)  # (8, 24) -> (24, 8)
        model.gru.bias_ih_l0.copy_(reorder(b[0], 0))  # the input bias
        model.gru.bias_hh_l0.copy_(reorder(b[1], 0))  # the recurrent bias, inside r ⊙ (...) for n
        model.fc.weight.copy_(torch.from_numpy(dense["W"].T))
        model.fc.bias.copy_(torch.from_numpy(dense["b"]))
    return model


def get_params(model, grad=False):
    """The weights, or their .grad, in the canonical layouts: the GRU's rows r, z, n -> z, r, h."""

    def numpy(t, gates=False):
        t = (t.grad if grad else t).detach()
        return (reorder(t, 0) if gates else t).numpy().copy()

    gru = model.gru
    b = np.stack([numpy(gru.bias_ih_l0, gates=True), numpy(gru.bias_hh_l0, gates=True)])  # (2, 24)
    return [
        {"W": numpy(gru.weight_ih_l0, gates=True).T, "U": numpy(gru.weight_hh_l0, gates=True).T, "b": b},
        {"W": numpy(model.fc.weight).T, "b": numpy(model.fc.bias)},
    ]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    # takes logits, σ inside and stable; F.binary_cross_entropy would take probabilities. Mean over N·1
    return F.binary_cross_entropy_with_logits(out, y)


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW, dL/dU and dL/db of each layer): backward() fills each weight's .grad."""
    model.zero_grad()
    value = loss(model(torch.from_numpy(x)), torch.from_numpy(y))
    value.backward()
    return value.item(), get_params(model, grad=True)


# --- update


def optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)  # (adam-epsilon/torch)


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
    """The catalog's 64 streams x (64, 6, 1) of ±1, y (64, 1) their parity 0 or 1, initial weights and
    batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
