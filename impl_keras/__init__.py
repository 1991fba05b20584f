"""Keras 3: a functional keras.Model of stock layers, compile and fit, on the backend KERAS_BACKEND
selects (tensorflow, jax or torch); canonical NumPy weights in and out."""

import keras

from foundation import precision
from impl_keras.mlp import build, forward, get_params, loss_and_grads
from impl_keras.train import steps_per_execution, train

precision.strict_float32(keras.backend.backend())  # no TF32 matmuls on a GPU, on any backend

__all__ = ["build", "forward", "get_params", "loss_and_grads", "steps_per_execution", "train"]
