"""Convolution, transposed convolution, pooling and flatten in Keras 3: the stock keras.layers on NHWC
(channels_last, the default), each named after its node.

Canonical layouts are Keras's (foundation.layouts): Conv2D.kernel is (kh, kw, in, out), Conv2DTranspose's
(kh, kw, out, in) (the kernel of the conv it is the transpose of, applied unflipped), bias (out,), so
the canonical W and b load as they are. "same" is TensorFlow's rule on every backend (the odd pixel
bottom/right, also with stride 2). Pooling is p×p windows, stride p, "valid"; Keras's torch backend
would pad a "same" pooling with replicate, not zeros, but no task pools "same".
"""

import keras

from foundation.errors import unknown

POOLS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}


def conv2d(spec, activation, name):
    """keras.layers.Conv2D(filters, k, s, padding); `activation` is Dense's (mlp.activation)."""
    return keras.layers.Conv2D(
        spec.filters,
        spec.kernel,  # an int: a square k×k kernel
        strides=spec.stride,
        padding=spec.padding,  # "valid" | "same"
        activation=activation,
        kernel_initializer="zeros",  # the task's weights replace it
        name=name,
    )


def conv2d_transpose(spec, activation, name):
    """keras.layers.Conv2DTranspose(filters, k, s, "valid"): (N, H, W, C) -> (N, (H − 1)·s + k, …, filters).
    output_padding=0: its default (None) adds max(s − k, 0) rows and columns, H·s for a kernel k < s."""
    return keras.layers.Conv2DTranspose(
        spec.filters,
        spec.kernel,
        strides=spec.stride,
        padding="valid",
        output_padding=0,
        activation=activation,
        kernel_initializer="zeros",
        name=name,
    )


def conv_variables(layer):
    """{"W": kernel, "b": bias} of a Conv2D or Conv2DTranspose: the canonical keys of its variables."""
    return {"W": layer.kernel, "b": layer.bias}


def pool2d(spec, name):
    """MaxPooling2D(p) or AveragePooling2D(p): strides default to pool_size, padding to "valid"."""
    if spec.kind not in POOLS:
        raise unknown("pooling kind", spec.kind, POOLS)
    return POOLS[spec.kind](pool_size=spec.size, name=name)


def global_avgpool2d(spec, name):
    """(N, H, W, C) -> (N, C): each channel's mean over the image."""
    return keras.layers.GlobalAveragePooling2D(name=name)


def flatten(spec, name):
    """(N, H, W, C) -> (N, H·W·C), row-major over (H, W, C): the canonical order on channels_last;
    sequences (N, T, C) -> (N, T·C) likewise."""
    return keras.layers.Flatten(name=name)
