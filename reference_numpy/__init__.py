"""The NumPy reference: hand-written backprop, the oracle every framework is checked against."""

from reference_numpy.mlp import build, forward, get_params, loss_and_grads
from reference_numpy.train import train

__all__ = ["build", "forward", "get_params", "loss_and_grads", "train"]
