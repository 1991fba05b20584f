"""2-D convolution, transposed convolution, pooling and flatten in JAX: lax forwards, the backward
pass by jax.grad.

Layouts are canonical (foundation.layouts): images NHWC (N, H, W, C), kernel W (kh, kw, C, F) = lax's
"HWIO", bias b (F,). lax's "SAME" is TensorFlow's rule (padtype_to_pads: ⌈H/s⌉ outputs, the odd
pixel after), the reference's same_padding.

transposed  kernel W (kh, kw, F, C) as Keras's Conv2DTranspose: lax.conv_transpose with
            transpose_kernel=True (spatial flip, in/out swapped: the input gradient of a conv by W)
max pool    lax.reduce_window(max): jax.grad sends the gradient to the first max of the window, as
            the reference, torch and TensorFlow. jax.grad of jnp.max over a reshape would split it
            equally among tied maxima (jnp.max's JVP divides by the count of maxima).
avg pool    lax.reduce_window(add) / p²
global avg  the mean over H and W: (N, H, W, C) -> (N, C)
flatten     (N, H, W, C) -> (N, H·W·C), or (N, T, C) -> (N, T·C), row-major as the reference.
"""

import jax.numpy as jnp
import numpy as np
from jax import lax

NHWC = ("NHWC", "HWIO", "NHWC")  # x, kernel, out


def conv2d(x, W, b, stride=1, padding="valid"):
    """out[n, y, x, f] = b[f] + Σ_{i, j, c} xp[n, s·y + i, s·x + j, c] · W[i, j, c, f]: (N, Ho, Wo, F)."""
    out = lax.conv_general_dilated(x, W, (stride, stride), padding.upper(), dimension_numbers=NHWC)
    return out + b


def conv2d_transpose(x, W, b, stride):
    """out[n, s·y + i, s·x + j, f] = b[f] + Σ_c x[n, y, x, c] · W[i, j, f, c]:
    (N, (H − 1)·s + kh, (W − 1)·s + kw, F)."""
    kh, kw = W.shape[:2]
    # every tap of every pixel: padding k − 1 on both sides of the s-dilated input; lax's "VALID"
    # gives H·s + max(k − s, 0) rows (Keras's size): s − k more than (H − 1)·s + k when k < s
    full = ((kh - 1, kh - 1), (kw - 1, kw - 1))
    out = lax.conv_transpose(x, W, (stride, stride), full, dimension_numbers=NHWC, transpose_kernel=True)
    return out + b


def pool_window(x, p, init, op):
    """op over each p×p window, stride p, "valid": (N, H//p, W//p, C)."""
    window = (1, p, p, 1)
    # init a NumPy scalar: reduce_window picks its differentiable max/sum only for a concrete init
    # (a jnp.array under jit is a tracer: the generic reduction, which jax.grad cannot differentiate)
    return lax.reduce_window(x, np.array(init, x.dtype), op, window, window, "VALID")


def maxpool2d(x, p):
    return pool_window(x, p, -np.inf, lax.max)


def avgpool2d(x, p):
    return pool_window(x, p, 0, lax.add) / (p * p)


def global_avgpool2d(x):
    """(N, H, W, C) -> (N, C): each channel's mean."""
    return jnp.mean(x, axis=(1, 2))


def flatten(x):
    """(N, H, W, C) -> (N, H·W·C); (N, T, C) -> (N, T·C)."""
    return x.reshape(x.shape[0], -1)
