"""2-D convolution, pooling and flatten in JAX: lax forwards, the backward pass by jax.grad.

Layouts are canonical (rosetta.layouts): images NHWC (N, H, W, C), kernel W (kh, kw, C, F) = lax's
"HWIO", bias b (F,). lax's "SAME" is TensorFlow's rule (padtype_to_pads: ⌈H/s⌉ outputs, the odd
pixel after), the reference's same_padding.

max pool  lax.reduce_window(max): jax.grad sends the gradient to the first max of the window, as the
          reference, torch and TensorFlow. jax.grad of jnp.max over a reshape would split it equally
          among tied maxima (jnp.max's JVP divides by the count of maxima).
avg pool  lax.reduce_window(add) / p²
flatten   (N, H, W, C) -> (N, H·W·C), row-major as the reference.
"""

import numpy as np
from jax import lax

NHWC = ("NHWC", "HWIO", "NHWC")  # x, kernel, out


def conv2d(x, W, b, stride=1, padding="valid"):
    """out[n, y, x, f] = b[f] + Σ_{i, j, c} xp[n, s·y + i, s·x + j, c] · W[i, j, c, f]: (N, Ho, Wo, F)."""
    out = lax.conv_general_dilated(x, W, (stride, stride), padding.upper(), dimension_numbers=NHWC)
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


def flatten(x):
    """(N, H, W, C) -> (N, H·W·C)."""
    return x.reshape(x.shape[0], -1)
