"""JAX: the weights as a pytree, the loss a pure function, jax.grad for the backward pass, optax for
the optimizers, and the whole training schedule one compiled jax.lax.scan."""

from foundation import precision
from impl_jax.mlp import build, forward, get_params, loss_and_grads
from impl_jax.train import train

precision.strict_float32("jax")  # no TF32 matmuls on a GPU

__all__ = ["build", "forward", "get_params", "loss_and_grads", "train"]
