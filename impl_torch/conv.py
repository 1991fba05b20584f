"""2-D convolution, pooling and flatten in PyTorch, for a model that takes canonical NHWC images.

torch's Conv2d, ConvTranspose2d, MaxPool2d and AvgPool2d read NCHW (N, C, H, W) and keep the kernel
as (out, in, kh, kw), the transposed one as (in, out, kh, kw); canonical is NHWC, (kh, kw, in, out)
and for the transposed conv (kh, kw, out, in) (foundation.layouts). So the model permutes once at its
input (ToNCHW), once before Flatten (FlattenNHWC) and once at an image output (ToNHWC); conv2d,
conv2d_transpose and their *_params are the only places where a kernel is permuted.

conv      "same" is TensorFlow's rule, the odd pixel bottom/right: nn.ZeroPad2d with
          foundation.layouts.same_padding, then Conv2d(padding=0). Conv2d(padding="same") refuses
          stride > 1, so every "same" takes this one path.
transpose ConvTranspose2d(stride=s, padding=0): output (H − 1)·s + k, tap (i, j) of input (y, x)
          adds into output (s·y + i, s·x + j), Keras's Conv2DTranspose: no kernel flip.
pool      MaxPool2d(p) / AvgPool2d(p): window = stride = p, no padding, the leftover rows dropped.
          MaxPool2d's gradient goes to the first max of a window, like the reference's.
          Global average pooling: the mean over H and W of NCHW.
flatten   back to NHWC before flattening: nn.Flatten on NCHW would order the features (C, H, W).
"""

import torch
from torch import nn

from foundation.layouts import same_padding


class ToNCHW(nn.Module):
    """(N, H, W, C) -> (N, C, H, W): the model's input permute."""

    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class ToNHWC(nn.Module):
    """(N, C, H, W) -> (N, H, W, C): an image output back to canonical."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


# ---- convolution ----


def conv2d(spec, layer, in_shape):
    """[nn.ZeroPad2d ("same" only), nn.Conv2d] holding a copy of {"W": (k, k, C, F), "b": (F,)};
    in_shape (H, W, C), per sample."""
    h, w, c = in_shape
    k, s = spec.kernel, spec.stride
    W, b = torch.tensor(layer["W"]), torch.tensor(layer["b"])  # (k, k, C, F), (F,)
    assert W.shape == (k, k, c, spec.filters), f"W is {tuple(W.shape)}, expected {(k, k, c, spec.filters)}"
    assert b.shape == (spec.filters,), f"b is {tuple(b.shape)}, expected {(spec.filters,)}"
    conv = nn.Conv2d(c, spec.filters, k, stride=s, padding=0, dtype=W.dtype)
    with torch.no_grad():
        conv.weight.copy_(W.permute(3, 2, 0, 1))  # (kh, kw, in, out) -> Conv2d.weight (out, in, kh, kw)
        conv.bias.copy_(b)
    if spec.padding == "valid":
        return [conv]
    (top, bottom), (left, right) = same_padding(h, k, s), same_padding(w, k, s)
    return [nn.ZeroPad2d((left, right, top, bottom)), conv]  # ZeroPad2d's order: (left, right, top, bottom)


def conv2d_params(conv, grads=False):
    """The canonical {"W": (kh, kw, in, out), "b": (out,)} of an nn.Conv2d (grads=True: its gradients)."""
    W, b = (conv.weight.grad, conv.bias.grad) if grads else (conv.weight, conv.bias)
    W = W.detach().permute(2, 3, 1, 0)  # Conv2d.weight (out, in, kh, kw) -> (kh, kw, in, out)
    expected = (*conv.kernel_size, conv.in_channels, conv.out_channels)
    assert W.shape == expected, f"W is {tuple(W.shape)}, expected {expected}"
    return {"W": W.contiguous().numpy().copy(), "b": b.detach().numpy().copy()}


def conv2d_transpose(spec, layer, in_shape):
    """nn.ConvTranspose2d holding a copy of {"W": (k, k, F, C), "b": (F,)}; in_shape (H, W, C)."""
    c, k = in_shape[2], spec.kernel
    W, b = torch.tensor(layer["W"]), torch.tensor(layer["b"])  # (k, k, F, C), (F,)
    assert W.shape == (k, k, spec.filters, c), f"W is {tuple(W.shape)}, expected {(k, k, spec.filters, c)}"
    assert b.shape == (spec.filters,), f"b is {tuple(b.shape)}, expected {(spec.filters,)}"
    conv = nn.ConvTranspose2d(c, spec.filters, k, stride=spec.stride, padding=0, dtype=W.dtype)
    with torch.no_grad():
        conv.weight.copy_(W.permute(3, 2, 0, 1))  # (kh, kw, out, in) -> weight (in, out, kh, kw)
        conv.bias.copy_(b)
    return conv


def conv2d_transpose_params(conv, grads=False):
    """The canonical {"W": (kh, kw, out, in), "b": (out,)} of an nn.ConvTranspose2d (grads=True: its
    gradients)."""
    W, b = (conv.weight.grad, conv.bias.grad) if grads else (conv.weight, conv.bias)
    W = W.detach().permute(2, 3, 1, 0)  # ConvTranspose2d.weight (in, out, kh, kw) -> (kh, kw, out, in)
    expected = (*conv.kernel_size, conv.out_channels, conv.in_channels)
    assert W.shape == expected, f"W is {tuple(W.shape)}, expected {expected}"
    return {"W": W.contiguous().numpy().copy(), "b": b.detach().numpy().copy()}


# ---- pooling ----


def maxpool2d(spec):
    """nn.MaxPool2d(p): stride p (torch's default stride is the window), no padding."""
    return nn.MaxPool2d(spec.size)


def avgpool2d(spec):
    """nn.AvgPool2d(p): stride p, no padding."""
    return nn.AvgPool2d(spec.size)


class GlobalAvgPool2d(nn.Module):
    """(N, C, H, W) -> (N, C): each channel's mean over the image."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def global_avgpool2d():
    return GlobalAvgPool2d()


# ---- flatten ----


class FlattenNHWC(nn.Module):
    """(N, C, H, W) -> (N, H·W·C), row-major over (H, W, C) as canonical (Keras's Flatten on NHWC)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


def flatten(in_shape):
    """FlattenNHWC for images (H, W, C), in canonical order; nn.Flatten for sequences (T, C) -> (N, T·C)."""
    return FlattenNHWC() if len(in_shape) == 3 else nn.Flatten()
