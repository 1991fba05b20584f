"""A fully-convolutional denoiser, the architectures talk: 8×8×1 noisy bars -> conv 8 (2×2, stride 2) relu
("down1", 4×4) -> conv 16 (2×2, stride 2) relu (2×2) -> transposed conv 8 (2×2, stride 2) relu ("up1", 4×4)
-> concatenate [down1, up1] (4×4×16, U-Net's skip) -> transposed conv 1 (2×2, stride 2) sigmoid (8×8×1);
mean squared error against the clean bars, Adam (torch's form) lr 0.01, full batch.
PyTorch: an nn.Module (the forward reads down1 twice), autograd, torch.optim."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "deconv"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = nn.Conv2d(1, 8, 2, stride=2)
        self.down2 = nn.Conv2d(8, 16, 2, stride=2)
        # kernel = stride = 2, "valid": torch's default padding=0 matches, (H − 1)·2 + 2 = 2H; Keras's
        # "same" has no such twin (conv-transpose-same/torch)
        self.up1 = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.up2 = nn.ConvTranspose2d(16, 1, 2, stride=2)  # in: 8 + 8 channels

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW (N, 1, 8, 8)
        down1 = F.relu(self.down1(x))  # (N, 8, 4, 4)
        x = F.relu(self.down2(down1))  # (N, 16, 2, 2)
        up1 = F.relu(self.up1(x))  # (N, 8, 4, 4)
        x = torch.cat([down1, up1], dim=1)  # the skip: NCHW's channels are dim 1, (N, 16, 4, 4)
        x = torch.sigmoid(self.up2(x))  # (N, 1, 8, 8)
        return x.permute(0, 2, 3, 1)  # NCHW -> NHWC (N, 8, 8, 1), as the targets


def build(params):
    """Canonical conv W (kh, kw, in, out) -> Conv2d.weight (out, in, kh, kw) (conv-kernel/torch); transposed
    conv W (kh, kw, out, in) -> ConvTranspose2d.weight (in, out, kh, kw): the same permutation, the roles of
    in and out swapped with the layouts (conv-transpose-kernel/torch). params[3]: the concatenation."""
    model = Net().to(torch.from_numpy(params[0]["W"]).dtype)
    with torch.no_grad():
        for layer, p in zip((model.down1, model.down2, model.up1, model.up2), params[:3] + params[4:]):
            weight = p["W"].transpose(3, 2, 0, 1)
            assert layer.weight.shape == weight.shape
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(p["b"]))
    return model


def get_params(model, grad=False):
    """The weights, or their .grad, back in the canonical layouts."""

    def numpy(t):
        t = (t.grad if grad else t).detach().numpy()
        return t.transpose(2, 3, 1, 0).copy() if t.ndim == 4 else t.copy()

    def conv(m):
        return {"W": numpy(m.weight), "b": numpy(m.bias)}

    return [conv(model.down1), conv(model.down2), conv(model.up1), {}, conv(model.up2)]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    return F.mse_loss(out, y)  # both (N, 8, 8, 1): the mean over all N·8·8·1 pixels


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
    """The catalog's 48 drawn 8×8 bars with N(0, 0.3²) noise (x NHWC), the clean pictures (y, the same
    shape), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
