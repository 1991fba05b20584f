"""A residual block, the architectures talk: 8×8×1 bars -> conv 8 (3×3, stride 2) relu -> BatchNorm ("stem")
-> conv 8 relu -> BatchNorm -> conv 8 relu -> BatchNorm -> + stem -> relu -> global average pool -> 3 logits;
softmax cross-entropy, Adam (torch's form) lr 0.01, full batch.
PyTorch: an nn.Module (train() and eval() switch BatchNorm's statistics), autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "resnet"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # torch's defaults: r ← (1 − m)·r + m·batch

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(8, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(8, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW (N, 1, 8, 8)
        x = F.pad(x, (0, 1, 0, 1))  # TF's "same" at stride 2 pads the odd pixel after; torch refuses "same"
        stem = self.bn1(F.relu(self.conv1(x)))  # (N, 8, 4, 4)
        x = self.bn2(F.relu(self.conv2(stem)))
        x = self.bn3(F.relu(self.conv3(x)))
        x = F.relu(stem + x)  # the shortcut
        x = x.mean(dim=(2, 3))  # global average pool (N, 8)
        return self.fc(x)  # (N, 3) logits


def build(params):
    """Canonical conv W (kh, kw, in, out) -> Conv2d.weight (out, in, kh, kw) (conv-kernel/torch); BatchNorm
    gamma, beta -> weight, bias, the running statistics -> buffers; Dense: the one transpose."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    with torch.no_grad():
        for conv, p in zip((model.conv1, model.conv2, model.conv3, model.fc), params[0:5:2] + params[9:]):
            weight = p["W"].transpose(3, 2, 0, 1) if p["W"].ndim == 4 else p["W"].T
            assert conv.weight.shape == weight.shape
            conv.weight.copy_(torch.from_numpy(weight))
            conv.bias.copy_(torch.from_numpy(p["b"]))
        for bn, p in zip((model.bn1, model.bn2, model.bn3), params[1:6:2]):
            bn.weight.copy_(torch.from_numpy(p["gamma"]))
            bn.bias.copy_(torch.from_numpy(p["beta"]))
            bn.running_mean.copy_(torch.from_numpy(p["moving_mean"]))
            bn.running_var.copy_(torch.from_numpy(p["moving_variance"]))
    return model


def get_params(model, grad=False):
    """The weights (or the trained ones' .grad) in the canonical layouts, a dict per node."""

    def numpy(t):
        t = (t.grad if grad else t).detach().numpy()
        return t.transpose(2, 3, 1, 0).copy() if t.ndim == 4 else t.T.copy()

    def conv(m):
        return {"W": numpy(m.weight), "b": numpy(m.bias)}

    def norm(bn):
        weights = {"gamma": numpy(bn.weight), "beta": numpy(bn.bias)}
        if grad:  # the running statistics are not trained
            return weights
        return weights | {"moving_mean": numpy(bn.running_mean), "moving_variance": numpy(bn.running_var)}

    convs = [conv(m) for m in (model.conv1, model.conv2, model.conv3)]
    norms = [norm(bn) for bn in (model.bn1, model.bn2, model.bn3)]
    return [convs[0], norms[0], convs[1], norms[1], convs[2], norms[2], {}, {}, {}, conv(model.fc)]


def forward(model, x):
    model.eval()  # BatchNorm: the running statistics
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    return F.cross_entropy(out, y)  # logits (N, 3), labels (N,) int64: log_softmax + mean NLL


# --- gradient


def grads(model, x, y):
    """(loss, the trained weights' gradients): backward() fills each weight's .grad."""
    model.train()  # BatchNorm: the batch's statistics (and the running ones move)
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
    # gotcha: train() moves the running variance toward the unbiased one, ·n/(n − 1)
    # (batchnorm-running-var/torch); Keras's and this JAX's toward the biased one
    model.train()
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
    """The catalog's 30 drawn 8×8 bars (x NHWC, y: labels 0, 1, 2), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
