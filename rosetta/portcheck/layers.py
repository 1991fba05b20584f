"""What every adapter reports, framework-free: each native layer as a `Layer`, grouped into blocks.

A block is one parametrized layer (Dense/Linear, Conv2D, LSTM, GRU, BatchNorm, LayerNorm) and the
parameter-free layers after it (activations, pooling, Flatten); a Keras Dense or Conv2D with a fused
activation arrives here already split into two `Layer`s. Every array the adapters hand over is
canonical (rosetta.layouts): images NHWC, conv kernels (kh, kw, in, out), recurrent gate blocks
i, f, g, o (LSTM) and z, r, h (GRU), an LSTM's one bias; an LSTM/GRU's output is its last hidden state.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from reference_numpy.mlp import activation

PARAMETRIZED = ("dense", "conv2d", "lstm", "gru", "batchnorm", "layernorm")
PASSTHROUGH = ("dropout", "flatten")  # no arithmetic in inference mode
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
    "prelu",
)


@dataclass(frozen=True)
class Layer:
    kind: str  # a PARAMETRIZED or PASSTHROUGH kind, or "act"
    name: str  # as the framework calls it, for the table: "Linear(3→5)", "LeakyReLU(0.3)"
    n_in: int = 0
    n_out: int = 0
    bias: bool = False
    act: str = ""  # kind "act": one of FUNCTIONS
    alpha: float | None = None  # leaky_relu slope, elu α
    eps: float | None = None  # batchnorm, layernorm
    momentum: float | None = None  # batchnorm: the batch mean's weight in the running mean (torch's m)
    rate: float = 0.0  # dropout
    config: tuple = ()  # conv2d (kernel, stride); pool (size, "max" | "avg"): compared as structure
    shape: tuple = ()  # flatten: its input (H, W, C), canonical NHWC; () when flat already


@dataclass
class Block:
    layers: list = field(default_factory=list)  # the Layers: the parametrized one first

    @property
    def head(self):
        return self.layers[0]

    @property
    def acts(self):
        return [layer for layer in self.layers if layer.kind == "act"]

    def describe(self):
        return " → ".join(layer.name for layer in self.layers)


class NotSupported(ValueError):
    """A layer the check cannot compare yet, raised before any number."""


def group(layers):
    """Layers in forward order -> blocks; a leading Flatten/Dropout belongs to no block."""
    blocks = []
    for layer in layers:
        if layer.kind in PARAMETRIZED:
            blocks.append(Block([layer]))
        elif blocks:
            blocks[-1].layers.append(layer)
        elif layer.kind not in PASSTHROUGH:
            raise NotSupported(f"not supported yet: {layer.name} before the first Dense/Linear layer")
    if not blocks:
        raise NotSupported("not supported yet: a model without a Dense/Linear layer")
    return blocks


def split_outputs(layers, x, outputs):
    """The input and every layer's output -> [(input, pre, post)] per block: what enters the
    parametrized layer, its output, and the block's last output."""
    per_block, previous = [], x
    for layer, out in zip(layers, outputs):
        if layer.kind in PARAMETRIZED:
            per_block.append([previous, out, out])
        elif per_block:
            per_block[-1][2] = out
        previous = out
    return [tuple(triple) for triple in per_block]


# ---- the functions in NumPy, for testing a suspected cause on captured arrays ----


def apply(act, z, alpha):
    """a = f(z) for one of FUNCTIONS; `alpha` is the slope, ELU's α or PReLU's weights."""
    if act == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
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
