"""A bidirectional LSTM, the architectures talk: an LSTM(8) reads 10 values uniform on [−1, 1] forward, a
second LSTM(8) reads them backward; [forward's last state, backward's last state] (16) -> 1 logit, is the
first value above the last? Binary cross-entropy on the logit, Adam (torch's form) lr 0.01, full batch.
PyTorch: an nn.Module (one nn.LSTM, bidirectional=True), autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "bilstm"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
DIRECTIONS = {"": "l0", "_r": "l0_reverse"}  # canonical suffix (W_r: the backward reading) -> torch's
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # nn.LSTM's, per direction: weight_ih_l0_reverse, …

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 8, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.lstm(x)  # x (N, 10, 1); out (N, 10, 16): [forward, backward] at each t, in time order
        # the backward reading ends at t = 0, out[:, 0, 8:]; out[:, -1, 8:] has read x_T only
        # (bidirectional-last-state/torch)
        h = torch.cat([out[:, -1, :8], out[:, 0, 8:]], dim=1)  # (N, 16)
        return self.fc(h)  # (N, 1) logits


def build(params):
    """Per direction: weight_ih = Wᵀ (32, 1), weight_hh = Uᵀ (32, 8), gate blocks i, f, g, o as canonical;
    torch adds two biases: b into bias_ih, bias_hh zero and frozen (lstm-bias/torch). The _l0_reverse
    weights are the backward reading's W_r, U_r, b_r. Dense: the one transpose (dense-layout/torch)."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    lstm, dense = params
    with torch.no_grad():
        for suffix, d in DIRECTIONS.items():
            weight_ih, weight_hh, bias_ih, bias_hh = (getattr(model.lstm, f"{name}_{d}") for name in NAMES)
            weight_ih.copy_(torch.from_numpy(lstm["W" + suffix].T))
            weight_hh.copy_(torch.from_numpy(lstm["U" + suffix].T))
            bias_ih.copy_(torch.from_numpy(lstm["b" + suffix]))
            bias_hh.zero_()
            bias_hh.requires_grad_(False)  # both biases get the same gradient: train one
        model.fc.weight.copy_(torch.from_numpy(dense["W"].T))
        model.fc.bias.copy_(torch.from_numpy(dense["b"]))
    return model


def get_params(model, grad=False):
    """The weights, or their .grad, in the canonical layouts: b = bias_ih + bias_hh; dL/db = bias_ih's."""

    def numpy(t):
        return (t.grad if grad else t).detach().numpy().copy()

    lstm = {}
    for suffix, d in DIRECTIONS.items():
        weight_ih, weight_hh, bias_ih, bias_hh = (getattr(model.lstm, f"{name}_{d}") for name in NAMES)
        b = numpy(bias_ih) if grad else numpy(bias_ih) + numpy(bias_hh)
        lstm |= {"W" + suffix: numpy(weight_ih).T, "U" + suffix: numpy(weight_hh).T, "b" + suffix: b}
    return [lstm, {"W": numpy(model.fc.weight).T, "b": numpy(model.fc.bias)}]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    return F.binary_cross_entropy_with_logits(out, y)  # takes logits (N, 1), targets (N, 1); the mean


# --- gradient


def grads(model, x, y):
    """(loss, dL/d of every weight): backward() fills each weight's .grad, both directions'."""
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
    """The catalog's 128 sequences x (N, 10, 1), y (N, 1) = 1 where x[:, 0] > x[:, −1], else 0; initial
    weights; batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
