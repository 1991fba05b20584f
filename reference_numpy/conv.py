"""The reference 2-D convolution, pooling and flatten in plain NumPy, forward and hand-written backward.

Layouts are canonical (foundation.layouts): images NHWC (N, H, W, C), kernel W (kh, kw, C, F), bias b (F,),
stride s, padding "valid" or "same" (TensorFlow's rule). The convolution's arrays follow the dtype of
the kernel (float64 or float32); the input is cast to it. xp is the padded input.

conv      out[n, y, x, f] = b[f] + Σ_{i, j, c} xp[n, s·y + i, s·x + j, c] · W[i, j, c, f]
          dW[i, j, c, f] = Σ_{n, y, x} xp[n, s·y + i, s·x + j, c] · dout[n, y, x, f]
          db[f] = Σ_{n, y, x} dout[n, y, x, f]
          dxp[n, s·y + i, s·x + j, c] += Σ_f dout[n, y, x, f] · W[i, j, c, f]; dx = dxp without the padding
transpose out[n, s·y + i, s·x + j, f] += Σ_c x[n, y, x, c] · W[i, j, f, c] + b[f], "valid", W (kh, kw, F, C):
          the conv's input gradient as a layer (a learned upsampling), output (H − 1)·s + kh
          dx[n, y, x, c] = Σ_{i, j, f} dout[n, s·y + i, s·x + j, f] · W[i, j, f, c]
          dW[i, j, f, c] = Σ_{n, y, x} dout[n, s·y + i, s·x + j, f] · x[n, y, x, c]
max pool  p×p windows, stride p, "valid": out = the window's max. Its gradient goes to one element, the
          first max in row-major window order, as torch, TensorFlow and lax.reduce_window (jax.grad of a
          plain jnp.max splits it equally among tied maxima).
avg pool  out = the window's mean; every element of the window gets dout / p².
flatten   (N, H, W, C) -> (N, H·W·C), row-major as Keras's Flatten on NHWC (torch's NCHW: permute first).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from foundation.layouts import check_conv, check_image, output_size, same_padding

# ---- convolution ----


def paddings(h, w, kh, kw, stride, padding):
    """((top, bottom), (left, right))."""
    if padding == "same":
        return same_padding(h, kh, stride), same_padding(w, kw, stride)
    return (0, 0), (0, 0)


def patches(xp, kh, kw, stride):
    """Every kh×kw patch the kernel meets, as a view: (N, Ho, Wo, C, kh, kw)."""
    return sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]


def conv2d(x, W, b, stride=1, padding="valid"):
    """out (N, Ho, Wo, F) and the cache for conv2d_backward."""
    n, h, w, c = check_image(x)
    kh, kw, _ = check_conv(W, b, c)
    ho, wo = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    (top, bottom), (left, right) = paddings(h, w, kh, kw, stride, padding)
    xp = np.pad(np.asarray(x, dtype=W.dtype), ((0, 0), (top, bottom), (left, right), (0, 0)))
    cols = patches(xp, kh, kw, stride)  # (N, Ho, Wo, C, kh, kw)
    assert cols.shape[1:3] == (ho, wo), (cols.shape, ho, wo)
    out = np.einsum("nyxcij,ijcf->nyxf", cols, W, optimize=True) + b  # (N, Ho, Wo, F)
    return out, (xp, cols, W, stride, (top, left), (h, w))


def conv2d_backward(dout, cache):
    """(dx (N, H, W, C), dW (kh, kw, C, F), db (F,)) from dout (N, Ho, Wo, F)."""
    xp, cols, W, stride, (top, left), (h, w) = cache
    kh, kw = W.shape[:2]
    ho, wo = dout.shape[1:3]
    dW = np.einsum("nyxcij,nyxf->ijcf", cols, dout, optimize=True)
    db = dout.sum(axis=(0, 1, 2))
    dcols = np.einsum("nyxf,ijcf->nyxcij", dout, W, optimize=True)  # (N, Ho, Wo, C, kh, kw)
    dxp = np.zeros_like(xp)
    for i in range(kh):
        for j in range(kw):  # kernel tap (i, j) of output (y, x) reads xp[s·y + i, s·x + j]
            dxp[:, i : i + stride * ho : stride, j : j + stride * wo : stride] += dcols[..., i, j]
    return dxp[:, top : top + h, left : left + w], dW, db


def conv2d_transpose(x, W, b, stride):
    """out (N, (H − 1)·s + kh, (W − 1)·s + kw, F) and the cache for conv2d_transpose_backward."""
    n, h, w, c = check_image(x)
    kh, kw, f, _ = W.shape
    x = np.asarray(x, dtype=W.dtype)
    out = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, f), dtype=W.dtype)
    for i, j in np.ndindex(kh, kw):  # tap (i, j) of input (y, x) writes out[s·y + i, s·x + j]
        out[:, i : i + stride * h : stride, j : j + stride * w : stride] += x @ W[i, j].T
    return out + b, (x, W, stride)


def conv2d_transpose_backward(dout, cache):
    """(dx (N, H, W, C), dW (kh, kw, F, C)) from dout (N, Ho, Wo, F)."""
    x, W, stride = cache
    h, w = x.shape[1:3]
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for i, j in np.ndindex(W.shape[:2]):
        tap = dout[:, i : i + stride * h : stride, j : j + stride * w : stride]  # (N, H, W, F)
        dx += tap @ W[i, j]
        dW[i, j] = np.einsum("nyxf,nyxc->fc", tap, x, optimize=True)
    return dx, dW


# ---- pooling: p×p windows, stride p, "valid" ----


def windows(x, p):
    """The p×p windows, each flattened row-major: (N, H//p, W//p, C, p·p); the leftover rows dropped."""
    n, h, w, c = check_image(x)
    ho, wo = output_size(h, p, p, "valid"), output_size(w, p, p, "valid")
    blocks = x[:, : ho * p, : wo * p].reshape(n, ho, p, wo, p, c)
    return blocks.transpose(0, 1, 3, 5, 2, 4).reshape(n, ho, wo, c, p * p)


def unwindow(dwin, shape, p):
    """windows' inverse for gradients: (N, Ho, Wo, C, p·p) -> (N, H, W, C), zero on the dropped rows."""
    n, ho, wo, c, _ = dwin.shape
    dx = np.zeros(shape, dtype=dwin.dtype)
    blocks = dwin.reshape(n, ho, wo, c, p, p).transpose(0, 1, 4, 2, 5, 3)  # (N, Ho, p, Wo, p, C)
    dx[:, : ho * p, : wo * p] = blocks.reshape(n, ho * p, wo * p, c)
    return dx


def maxpool2d(x, p):
    win = windows(x, p)
    first = np.argmax(win, axis=-1)[..., None]  # argmax: the first max in row-major window order
    return np.take_along_axis(win, first, axis=-1)[..., 0], (x.shape, p, first)


def maxpool2d_backward(dout, cache):
    shape, p, first = cache
    dwin = np.zeros(dout.shape + (p * p,), dtype=dout.dtype)
    np.put_along_axis(dwin, first, dout[..., None], axis=-1)
    return unwindow(dwin, shape, p)


def avgpool2d(x, p):
    return windows(x, p).mean(axis=-1), (x.shape, p)


def avgpool2d_backward(dout, cache):
    shape, p = cache
    return unwindow(np.repeat(dout[..., None] / (p * p), p * p, axis=-1), shape, p)


def global_avgpool2d(x):
    """(N, H, W, C) -> (N, C): each channel's mean."""
    return x.mean(axis=(1, 2)), x.shape


def global_avgpool2d_backward(dout, shape):
    """Every pixel of a channel gets dout / (H·W)."""
    n, h, w, c = shape
    return np.broadcast_to((dout / (h * w))[:, None, None, :], shape).copy()


# ---- flatten ----


def flatten(x):
    """(N, H, W, C) -> (N, H·W·C), row-major over (H, W, C); (N, T, C) -> (N, T·C)."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout, cache):
    return dout.reshape(cache)
