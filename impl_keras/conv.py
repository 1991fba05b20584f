"""Convolution, pooling and flatten in Keras 3: the stock keras.layers on NHWC (channels_last, the default).

Canonical layouts are Keras's (rosetta.layouts): Conv2D.kernel is (kh, kw, in, out) and Conv2D.bias
(out,), so set_weights takes the canonical W and b as they are. "same" is TensorFlow's rule on every
backend (the odd pixel bottom/right, also with stride 2). Pooling is p×p windows, stride p, "valid";
Keras's torch backend would pad a "same" pooling with replicate, not zeros, but no task pools "same".
"""

import keras
import numpy as np
from keras import ops

from rosetta.errors import unknown

POOLS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}


def conv2d(spec, activation):
    """keras.layers.Conv2D(filters, k, s, padding); `activation` is Dense's (mlp.activation)."""
    return keras.layers.Conv2D(
        spec.filters,
        spec.kernel,  # an int: a square k×k kernel
        strides=spec.stride,
        padding=spec.padding,  # "valid" | "same"
        activation=activation,
        kernel_initializer="zeros",  # set_weights replaces it with the task's
    )


def pool2d(spec):
    """MaxPooling2D(p) or AveragePooling2D(p): strides default to pool_size, padding to "valid"."""
    if spec.kind not in POOLS:
        raise unknown("pooling kind", spec.kind, POOLS)
    return POOLS[spec.kind](pool_size=spec.size)


def flatten(spec):
    """(N, H, W, C) -> (N, H·W·C), row-major over (H, W, C): the canonical order on channels_last."""
    return keras.layers.Flatten()


def conv2d_params(layer, arrays):
    """The canonical {"W", "b"} of a Conv2D from the next two of `arrays` (its variables or grads)."""
    W, b = (np.array(ops.convert_to_numpy(next(arrays))) for _ in range(2))
    shape = (*layer.kernel_size, layer.kernel.shape[2], layer.filters)  # (kh, kw, in, out)
    assert W.shape == shape and b.shape == (layer.filters,), f"Conv2D W is {W.shape}, b is {b.shape}"
    return {"W": W, "b": b}
