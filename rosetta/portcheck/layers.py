"""What every adapter reports, framework-free: each native layer as a `Layer`, grouped into blocks.

A block is one parametrized layer (Dense/Linear, Conv2D, LSTM, GRU, BatchNorm, LayerNorm, Embedding,
multi-head attention) and the
parameter-free layers after it (activations, pooling, Flatten); a Keras Dense or Conv2D with a fused
activation arrives here already split into two `Layer`s. Every array the adapters hand over is
canonical (foundation.layouts): images NHWC, conv kernels (kh, kw, in, out), recurrent gate blocks
i, f, g, o (LSTM) and z, r, h (GRU), an LSTM's one bias; an LSTM/GRU's output is its last hidden state.
"""

import math
from dataclasses import dataclass

import numpy as np

from reference_numpy.mlp import activation

PARAMETRIZED = (
    "dense",
    "conv2d",
    "conv1d",
    "conv_transpose",
    "lstm",
    "gru",
    "batchnorm",
    "layernorm",
    "rmsnorm",
    "embedding",
    "attention",
)
PASSTHROUGH = ("dropout", "flatten", "reshape")  # no arithmetic in inference mode
FUNCTIONS = (
    "linear",
    "relu",
    "leaky_relu",
    "elu",
    "sigmoid",
    "tanh",
    "gelu",
    "gelu_tanh",
    "softmax",
    "log_softmax",
    "silu",
    "prelu",
)


@dataclass(frozen=True)
class Layer:
    kind: str  # a PARAMETRIZED or PASSTHROUGH kind, "act", "pool", graph.STRUCTURAL, "op" or "hidden"
    name: str  # as the framework calls it, for the table: "Linear(3→5)", "LeakyReLU(0.3)"
    n_in: int = 0
    n_out: int = 0
    bias: bool = False
    act: str = ""  # kind "act": one of FUNCTIONS
    alpha: float | None = None  # leaky_relu slope, elu α
    eps: float | None = None  # batchnorm, layernorm, rmsnorm
    momentum: float | None = None  # batchnorm: the batch mean's weight in the running mean (torch's m)
    rate: float = 0.0  # dropout
    config: tuple = ()  # conv2d (kernel, stride); pool (size, "max" | "avg"); attention (heads, head dim)
    shape: tuple = ()  # flatten: its input (H, W, C), canonical NHWC; () when flat; embedding: (padding_idx,)


def first_layer(layers):
    """The layer x goes into, as far as can be told before running the model: the first parametrized
    one, or, where that is an embedding, the largest table (a position table reads positions, not x)."""
    layers = [layer for layer in layers if layer.kind in PARAMETRIZED]
    if layers and layers[0].kind == "embedding":
        return max((layer for layer in layers if layer.kind == "embedding"), key=lambda layer: layer.n_in)
    return layers[0] if layers else None


class NotSupported(ValueError):
    """A layer the check cannot compare yet, raised before any number."""


@dataclass(frozen=True)
class Write:
    """One array of a model computed from canonical weights (rosetta.transfer): the native variable it
    replaces (a torch tensor, a Keras or Flax variable, a canonical array), its value in that variable's
    layout and dtype, the variable's native name, and how it reads in the canonical keys."""

    target: object
    value: np.ndarray
    name: str  # "fc1.weight", "dense/kernel", "linear1.kernel", "layers.0.W"
    rule: str  # "weight = Wᵀ"


# ---- the functions in NumPy, for testing a suspected cause on captured arrays ----


def apply(act, z, alpha):
    """a = f(z) for one of FUNCTIONS; `alpha` is the slope, ELU's α or PReLU's weights."""
    if act == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if act == "silu":
        return z / (1 + np.exp(-z))  # z·σ(z), "swish"
    if act == "log_softmax":
        shifted = z - z.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    if act == "gelu":
        return 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    if act == "gelu_tanh":
        return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    if act == "prelu":
        return np.where(z > 0, z, alpha * z)
    return activation(act, z, alpha)


def apply_block_acts(acts, z, alphas=None):
    """The block's activations in order, each with its own α unless `alphas` overrides them."""
    for i, layer in enumerate(acts):
        z = apply(layer.act, z, layer.alpha if alphas is None else alphas[i])
    return z
