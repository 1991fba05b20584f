"""Batch normalization in Keras 3: the stock keras.layers.BatchNormalization over the last axis (the
channels of NHWC images, the features of a Dense output).

Canonical {"gamma", "beta", "moving_mean", "moving_variance"} are its gamma, beta (trainable) and moving_mean,
moving_variance (not trainable), each (C,).
training   (fit's train_step, loss_and_grads: model(x, training=True)) the batch's mean and biased
           variance from ops.moments: TensorFlow's tf.nn.moments and jax's jnp.var subtract the mean
           first, the torch backend computes E[x²] − E[x]² (float32: relative error ~ (mean/std)²·1e-7,
           1.3e-5 at mean/std = 10, 1.9e-3 at 100; two passes stay below 1e-6);
           the moving statistics r ← momentum·r + (1 − momentum)·batch, Keras's momentum = 1 − m for
           the task's (torch's) m. The moving variance takes the biased variance (torch: unbiased).
inference  (model(x, training=False)) the moving statistics.
y = γ·(x − μ)·rsqrt(σ² + ε) + β, the backend's ops.batch_normalization. Keras casts the input to
result_type(dtype, "float32") first: float16 computes in float32, float64 in float64 (on jax and torch
with float64_fixes.type_promotion).
"""

import keras


def batchnorm(spec, name):
    """keras.layers.BatchNormalization(axis=-1, momentum=1 − m, epsilon=ε). Its batch weight is then
    1 − (1 − m): 0.09999999999999998 for m = 0.1, 2.8e-17 from m, below float64's rounding."""
    return keras.layers.BatchNormalization(axis=-1, momentum=1 - spec.momentum, epsilon=spec.eps, name=name)


def batchnorm_params(layer):
    """{"gamma", "beta", "moving_mean", "moving_variance"}: the canonical keys of its variables."""
    return {
        "gamma": layer.gamma,
        "beta": layer.beta,
        "moving_mean": layer.moving_mean,
        "moving_variance": layer.moving_variance,
    }
