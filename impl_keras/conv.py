"""Convolution, transposed convolution, pooling and flatten in Keras 3: the stock keras.layers on NHWC
(channels_last, the default), each named after its node.

Canonical layouts are Keras's (foundation.layouts): Conv2D.kernel is (kh, kw, in, out), Conv2DTranspose's
(kh, kw, out, in) (the kernel of the conv it is the transpose of, applied unflipped), bias (out,), so
the canonical W and b load as they are. "same" is TensorFlow's rule on every backend (the odd pixel
bottom/right, also with stride 2). Pooling is p×p windows, stride p, "valid"; Keras's torch backend
would pad a "same" pooling with replicate, not zeros, but no task pools "same".
"""

import keras


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


def conv2d_params(layer):
    """{"W": kernel, "b": bias}: the canonical keys of a Conv2D's variables, and of a Conv2DTranspose's
    (its kernel (kh, kw, out, in) is canonical too)."""
    return {"W": layer.kernel, "b": layer.bias}


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


def maxpool2d(spec, name):
    """keras.layers.MaxPooling2D(p): strides default to pool_size, padding to "valid"."""
    return keras.layers.MaxPooling2D(pool_size=spec.size, name=name)


def avgpool2d(spec, name):
    """keras.layers.AveragePooling2D(p): strides default to pool_size, padding to "valid"."""
    return keras.layers.AveragePooling2D(pool_size=spec.size, name=name)


def global_avgpool2d(spec, name):
    """(N, H, W, C) -> (N, C): each channel's mean over the image."""
    return keras.layers.GlobalAveragePooling2D(name=name)


def flatten(spec, name):
    """(N, H, W, C) -> (N, H·W·C), row-major over (H, W, C): the canonical order on channels_last;
    sequences (N, T, C) -> (N, T·C) likewise."""
    return keras.layers.Flatten(name=name)
