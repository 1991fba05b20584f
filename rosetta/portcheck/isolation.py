"""A check leaves the user's process as it found it. rosetta's framework packages set process-wide
options when imported (impl_torch and impl_keras turn TF32 off, impl_jax turns jax_enable_x64 on) and
a check imports them for a loss given by name; so every such option of each framework already imported
is read before the check and put back after it."""

import contextlib
import sys


def torch_settings():
    import torch

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    return [
        (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
        (lambda: cudnn.allow_tf32, lambda value: setattr(cudnn, "allow_tf32", value)),
        (lambda: matmul.allow_tf32, lambda value: setattr(matmul, "allow_tf32", value)),
        (torch.get_default_dtype, torch.set_default_dtype),
    ]


def jax_settings():
    import jax

    return [
        (lambda key=key: getattr(jax.config, key), lambda value, key=key: jax.config.update(key, value))
        for key in ("jax_enable_x64", "jax_default_matmul_precision")
    ]


def tensorflow_settings():
    import tensorflow as tf

    tf32 = tf.config.experimental
    return [(tf32.tensor_float_32_execution_enabled, tf32.enable_tensor_float_32_execution)]


def keras_settings():
    import keras

    return [
        (keras.config.floatx, keras.config.set_floatx),
        (keras.config.dtype_policy, keras.config.set_dtype_policy),
    ]


SETTINGS = {
    "torch": torch_settings,
    "jax": jax_settings,
    "tensorflow": tensorflow_settings,
    "keras": keras_settings,
}


def snapshot():
    """[(setter, value)] of every setting of the frameworks imported now."""
    pairs = [pair for name, settings in SETTINGS.items() if name in sys.modules for pair in settings()]
    return [(set_, get()) for get, set_ in pairs]


@contextlib.contextmanager
def preserved():
    saved = snapshot()
    try:
        yield
    finally:
        for set_, value in saved:
            set_(value)
