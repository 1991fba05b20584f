"""A small CNN, the architectures talk: 8×8×1 bars -> conv 4 (3×3, same) relu -> conv 8 (3×3, stride 2, same)
relu -> max pool 2 -> flatten (32) -> 3 logits, softmax cross-entropy, Adam (torch's form) lr 3e-3.
PyTorch: an nn.Module, autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "cnn"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 3e-3, 0.9, 0.999, 1e-8

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2)
        self.fc = nn.Linear(32, 3)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW (N, 1, 8, 8)
        x = F.relu(self.conv1(x))  # (N, 4, 8, 8)
        x = F.pad(x, (0, 1, 0, 1))  # TF's "same" at stride 2 pads the odd pixel after; torch refuses "same"
        x = F.relu(self.conv2(x))  # (N, 8, 4, 4)
        x = F.max_pool2d(x, 2)  # (N, 8, 2, 2)
        x = x.permute(0, 2, 3, 1).flatten(1)  # (N, 32) in (H, W, C) order (nchw-flatten/torch)
        return self.fc(x)  # (N, 3) logits


def build(params):
    """Canonical conv W (kh, kw, in, out) -> Conv2d.weight (out, in, kh, kw) (conv-kernel/torch); Dense
    W (in, out) -> Linear.weight (out, in) (dense-layout/torch). params[2], params[3]: pool, flatten."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    with torch.no_grad():
        for layer, p in zip((model.conv1, model.conv2, model.fc), (params[0], params[1], params[4])):
            weight = p["W"].transpose(3, 2, 0, 1) if p["W"].ndim == 4 else p["W"].T
            assert layer.weight.shape == weight.shape
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(p["b"]))
    return model


def get_params(model, grad=False):
    """The weights, or their .grad, back in the canonical layouts."""

    def numpy(t):
        t = (t.grad if grad else t).detach().numpy()
        return t.transpose(2, 3, 1, 0).copy() if t.ndim == 4 else t.T.copy()

    def conv(m):
        return {"W": numpy(m.weight), "b": numpy(m.bias)}

    return [conv(model.conv1), conv(model.conv2), {}, {}, conv(model.fc)]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    return F.cross_entropy(out, y)  # logits (N, 3), labels (N,) int64: log_softmax + mean NLL


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): backward() fills each weight's .grad."""
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
    """The catalog's 90 drawn 8×8 bars and diagonals (x NHWC, y: labels 0, 1, 2), initial weights, batches."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
