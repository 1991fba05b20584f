"""float32 matmuls in full float32 on every framework: the one place that turns TF32 off.

On NVIDIA Ampere and later GPUs, float32 matmuls may run in TensorFloat-32 (10 mantissa bits, ≈1e-3
relative) by default, which no float32 tolerance of ours survives:
  TensorFlow: on (tf.config.experimental.tensor_float_32_execution_enabled() is True by default);
  JAX: jax_default_matmul_precision unset lets XLA pick TF32 for float32 dots on such GPUs;
  torch: off for matmuls (torch.get_float32_matmul_precision() == "highest"), on for cuDNN convs.
Each implementation calls strict_float32 at import; on a CPU the settings change nothing.
"""


def strict_float32(framework):
    """Full-precision float32 matmuls for `framework` ("torch", "jax", "tensorflow")."""
    if framework == "torch":
        import torch

        torch.set_float32_matmul_precision("highest")  # the default; set so no import can change it
        torch.backends.cudnn.allow_tf32 = False  # default True: convolutions in TF32
    elif framework == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif framework == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    else:
        raise ValueError(f"unknown framework {framework!r}; expected torch, jax or tensorflow")


def is_strict(framework):
    """Whether `framework` computes float32 matmuls in full float32 now."""
    if framework == "torch":
        import torch

        return torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.allow_tf32
    if framework == "jax":
        import jax

        return jax.config.jax_default_matmul_precision == "highest"
    import tensorflow as tf

    return not tf.config.experimental.tensor_float_32_execution_enabled()


def gpu_present(framework):
    """Whether `framework` sees a GPU in this process."""
    if framework == "torch":
        import torch

        return torch.cuda.is_available()
    if framework == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))
