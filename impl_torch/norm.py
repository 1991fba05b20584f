"""Batch normalization in PyTorch: nn.BatchNorm2d on NCHW images, nn.BatchNorm1d on flat features.

Canonical (foundation.layouts): per channel, the last axis, {"gamma", "beta"} trained and the running
{"moving_mean", "moving_variance"}. torch keeps them as weight, bias and the buffers running_mean,
running_var, with the channels on dim 1 (NCHW images, (N, C) features; a sequence (N, T, C) is
transposed to (N, C, T)).

momentum  torch's momentum is the task's m as it is, r ← (1 − m)·r + m·batch (Keras's is 1 − m).
running   updated inside each training-mode forward, with the batch's UNBIASED variance ·n/(n − 1)
          (the task's unbiased_var form, foundation.frameworks.formula); the normalization itself
          divides by the biased one. eval() normalizes with the running statistics instead.
"""

import torch
from torch import nn

from foundation.tasks import BATCHNORM_KEYS  # gamma, beta, moving_mean, moving_variance


class Transpose(nn.Module):
    """(N, T, C) <-> (N, C, T): a sequence's channels onto dim 1 for nn.BatchNorm1d and back."""

    def forward(self, x):
        return x.transpose(1, 2)


def batchnorm(spec, layer, in_shape):
    """[nn.BatchNorm2d] for images (H, W, C), [nn.BatchNorm1d] for features (C,), [Transpose,
    nn.BatchNorm1d, Transpose] for sequences (T, C); holding a copy of the canonical weights."""
    gamma, beta, mean, var = (torch.tensor(layer[key]) for key in BATCHNORM_KEYS)
    channels = in_shape[-1]
    for key, value in zip(BATCHNORM_KEYS, (gamma, beta, mean, var)):
        assert value.shape == (channels,), f"{key} is {tuple(value.shape)}, expected {(channels,)}"
    kind = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
    module = kind(channels, eps=spec.eps, momentum=spec.momentum, dtype=gamma.dtype)
    with torch.no_grad():
        module.weight.copy_(gamma)
        module.bias.copy_(beta)
        module.running_mean.copy_(mean)
        module.running_var.copy_(var)
    return [Transpose(), module, Transpose()] if len(in_shape) == 2 else [module]


def batchnorm_params(module, grads=False):
    """The canonical weights of an nn.BatchNorm1d/2d (grads=True: the gradients of gamma and beta
    only; the running statistics are set by the forward, not trained)."""
    if grads:
        return {"gamma": numpy(module.weight.grad), "beta": numpy(module.bias.grad)}
    tensors = module.weight, module.bias, module.running_mean, module.running_var
    return dict(zip(BATCHNORM_KEYS, map(numpy, tensors)))


def numpy(tensor):
    return tensor.detach().numpy().copy()
