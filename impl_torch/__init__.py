"""PyTorch: an nn.Module walking the task's graph, autograd, torch.optim; canonical NumPy in and out."""

from foundation import precision
from impl_torch.mlp import build, forward, get_params, loss_and_grads
from impl_torch.train import train

precision.strict_float32("torch")  # no TF32 matmuls or convolutions on a GPU

__all__ = ["build", "forward", "get_params", "loss_and_grads", "train"]
