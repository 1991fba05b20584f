"""The task catalog: the single source of truth every framework reads.

A task is a model, its initial weights, a loss with an optional L2 penalty, an optimizer, a batch
schedule and the data. `get(name)` returns a catalog task; `make` builds an ad-hoc one for any MLP.
Layouts beyond Dense: foundation.layouts.

The model is a graph: a tuple of nodes in topological order, each a layer (Dense `Layer`, Conv2D,
Conv2DTranspose, Pool2D, GlobalAveragePooling2D, Flatten, BatchNorm, Activation, LSTM, GRU,
Bidirectional, Add, Concatenate, and the transformer's Embedding, PositionEmbedding, LayerNorm,
MultiHeadAttention, TiedOutput) with a `name` and the names of the nodes it reads, `inputs` ("x": the
model's input). Both default to a chain: node i is named "i" and reads the node before it, so a plain
tuple of layers is a sequential model. The last node is the output.
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from foundation import data as datasets
from foundation import initializers
from foundation.checks import number, whole
from foundation.errors import ArgumentError, unknown
from foundation.initializers import KERNEL_INITIALIZERS
from foundation.layouts import ATTENTION_KEYS, PADDINGS, output_size

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "prelu")
# gelu: the exact z·Φ(z) (erf), torch nn.GELU()'s and Keras "gelu"'s default; jax.nn.gelu, nnx.gelu and
# keras.ops.gelu default to the tanh approximation (docs/divergences.md)
# leaky_relu, elu: torch's and jax.nn's defaults. prelu: the initial α of every unit, torch's 0.25
# (Keras starts at 0, docs/divergences.md).
DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0, "prelu": 0.25}
LOSSES = ("half_sse", "sse_2n", "mse", "bce_logits", "softmax_ce", "multitask")
METRICS = ("mae", "mse", "accuracy")
CONV_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a != "prelu")
POOLS = ("max", "avg")
OPTIMIZERS = ("sgd", "adam")  # adam with a weight_decay: AdamW's decoupled decay
FORMS = ("torch", "keras")  # whose formula a stateful optimizer follows (DESIGN.md §5)


@dataclass(frozen=True)
class Node:
    """What every layer has as a node of the graph: its name ("" : its index) and the names of the
    nodes it reads (() : the node before it, or "x" for the first node)."""

    name: str = field(default="", kw_only=True, repr=False)
    inputs: tuple = field(default=(), kw_only=True, repr=False)

    def output_shape(self, shape):
        return shape

    def weight_shapes(self, shape):
        return {}


@dataclass(frozen=True)
class Layer(Node):
    """Dense: y = f(x @ W + b) on a flat input (features,)."""

    units: int
    activation: str = "linear"
    bias: bool = True
    alpha: float = 0.0  # leaky_relu: the negative slope; elu: the scale α; prelu: the initial α

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise unknown("activation", self.activation, ACTIVATIONS)
        whole("layer units", self.units)
        number("layer alpha", self.alpha, lambda a: True, "a finite number")

    def output_shape(self, shape):
        if len(shape) == 2:  # a sequence (T, F): the same kernel at every position, as Keras's Dense
            return (shape[0], self.units)
        if len(shape) != 1:
            raise ArgumentError(f"a Dense layer takes a flat input (features,), got {shape}; "
                                "put a Flatten() before it")  # fmt: skip
        return (self.units,)

    def weight_shapes(self, shape):
        shapes = {"W": (shape[-1], self.units)}
        if self.bias:
            shapes["b"] = (self.units,)
        if self.activation == "prelu":
            shapes["alpha"] = (self.units,)
        return shapes


def image(shape, layer):
    """(H, W, C) of a per-sample image shape; an error naming `layer` for anything else."""
    if len(shape) != 3:
        raise ArgumentError(f"{layer} takes images (H, W, C), got input shape {shape}")
    return shape


@dataclass(frozen=True)
class Conv2D(Node):
    """A 2-D convolution of NHWC images with a square kernel and a bias, then the activation."""

    filters: int
    kernel: int = 3
    stride: int = 1
    padding: str = "valid"  # or "same", TensorFlow's rule (foundation.layouts)
    activation: str = "relu"
    alpha: float = 0.0  # leaky_relu: the negative slope; elu: the scale α

    def __post_init__(self):
        for name in ("filters", "kernel", "stride"):
            whole(f"Conv2D {name}", getattr(self, name))
        if self.padding not in PADDINGS:
            raise unknown("padding", self.padding, PADDINGS)
        if self.activation == "prelu":
            raise ArgumentError(f"Conv2D activation 'prelu': a learned α per unit is for Dense layers only; "
                                f"expected one of {', '.join(CONV_ACTIVATIONS)}")  # fmt: skip
        if self.activation not in CONV_ACTIVATIONS:
            raise unknown("activation", self.activation, CONV_ACTIVATIONS)
        number("Conv2D alpha", self.alpha, lambda a: True, "a finite number")

    def output_shape(self, shape):
        h, w, _ = image(shape, "Conv2D")
        return tuple(output_size(n, self.kernel, self.stride, self.padding) for n in (h, w)) + (self.filters,)

    def weight_shapes(self, shape):
        return {"W": (self.kernel, self.kernel, shape[2], self.filters), "b": (self.filters,)}


@dataclass(frozen=True)
class Pool2D(Node):
    """Max or average pooling: size×size windows, stride = size, "valid" (no weights)."""

    size: int = 2
    kind: str = "max"

    def __post_init__(self):
        whole("Pool2D size", self.size)
        if self.kind not in POOLS:
            raise unknown("pooling kind", self.kind, POOLS)

    def output_shape(self, shape):
        h, w, c = image(shape, "Pool2D")
        return tuple(output_size(n, self.size, self.size, "valid") for n in (h, w)) + (c,)


@dataclass(frozen=True)
class Flatten(Node):
    """(H, W, C) -> (H·W·C,) row-major over NHWC as Keras's Flatten; (T, C) -> (T·C,) (no weights)."""

    def output_shape(self, shape):
        if len(shape) < 2:
            raise ArgumentError(f"Flatten takes images (H, W, C) or sequences (T, C), got {shape}")
        return (math.prod(shape),)


@dataclass(frozen=True)
class LSTM(Node):
    """Many-to-one LSTM on sequences (T, F): the output is the last hidden state h_T, (units,).
    Gate blocks i, f, g, o; one bias (foundation.layouts)."""

    units: int

    def __post_init__(self):
        whole("LSTM units", self.units)

    def output_shape(self, shape):
        return sequence(shape, "LSTM", self.units)

    def weight_shapes(self, shape):
        width = 4 * self.units
        return {"W": (shape[1], width), "U": (self.units, width), "b": (width,)}


@dataclass(frozen=True)
class GRU(Node):
    """Many-to-one GRU, Keras's reset_after=True form: gate blocks z, r, h; b[0] the input bias, b[1]
    the recurrent bias (foundation.layouts)."""

    units: int

    def __post_init__(self):
        whole("GRU units", self.units)

    def output_shape(self, shape):
        return sequence(shape, "GRU", self.units)

    def weight_shapes(self, shape):
        width = 3 * self.units
        return {"W": (shape[1], width), "U": (self.units, width), "b": (2, width)}


def sequence(shape, layer, units):
    """(units,): the last hidden state of a recurrent layer reading sequences (T, F)."""
    if len(shape) != 2:
        raise ArgumentError(f"{layer} takes sequences (T, F), got input shape {shape}")
    return (units,)


@dataclass(frozen=True)
class Conv2DTranspose(Node):
    """A learned upsampling, the transpose of a Conv2D: "valid", square kernel, output size
    (H − 1)·stride + kernel; kernel "W" (kh, kw, filters, in) as Keras, bias, then the activation."""

    filters: int
    kernel: int = 2
    stride: int = 2
    activation: str = "linear"
    alpha: float = 0.0

    def __post_init__(self):
        for name in ("filters", "kernel", "stride"):
            whole(f"Conv2DTranspose {name}", getattr(self, name))
        if self.activation not in CONV_ACTIVATIONS:
            raise unknown("activation", self.activation, CONV_ACTIVATIONS)

    def output_shape(self, shape):
        h, w, _ = image(shape, "Conv2DTranspose")
        return ((h - 1) * self.stride + self.kernel, (w - 1) * self.stride + self.kernel, self.filters)

    def weight_shapes(self, shape):
        return {"W": (self.kernel, self.kernel, self.filters, shape[2]), "b": (self.filters,)}


@dataclass(frozen=True)
class GlobalAveragePooling2D(Node):
    """(H, W, C) -> (C,): each channel's mean over the image (no weights)."""

    def output_shape(self, shape):
        return image(shape, "GlobalAveragePooling2D")[2:]


@dataclass(frozen=True)
class Activation(Node):
    """An activation on its own node (after a BatchNorm or an Add): a = f(z), no weights."""

    activation: str = "relu"
    alpha: float = 0.0

    def __post_init__(self):
        if self.activation not in CONV_ACTIVATIONS:
            raise unknown("activation", self.activation, CONV_ACTIVATIONS)


@dataclass(frozen=True)
class BatchNorm(Node):
    """y = γ·(x − μ)/√(σ² + ε) + β per channel (the last axis). Training: μ, σ² of the batch (over every
    axis but the last), and the running statistics move toward them, r ← (1 − m)·r + m·batch (torch's
    momentum m; Keras's is 1 − m); the running σ² takes the batch's biased variance (Keras, Flax) or,
    with unbiased_var, its unbiased one, ·n/(n − 1) (torch). Inference: the running statistics.
    Weights {"gamma", "beta"} (trained), {"moving_mean", "moving_variance"} (the running statistics, not
    trained)."""

    momentum: float = 0.1
    eps: float = 1e-5
    unbiased_var: bool = False

    def __post_init__(self):
        number("BatchNorm momentum", self.momentum, lambda v: 0 < v <= 1, "a number in (0, 1]")
        number("BatchNorm eps", self.eps, lambda v: v > 0, "a finite number > 0")

    def weight_shapes(self, shape):
        return {key: (shape[-1],) for key in BATCHNORM_KEYS}


BATCHNORM_KEYS = ("gamma", "beta", "moving_mean", "moving_variance")
RUNNING = ("moving_mean", "moving_variance")  # weights a training step sets, not the optimizer


@dataclass(frozen=True)
class Bidirectional(Node):
    """An LSTM or GRU reading the sequence forward and a second one (weights "W_r", "U_r",
    "b_r") reading it backward, outputs concatenated [forward, backward]: the last states (2u,), or
    with return_sequences every step's (T, 2u), the backward states put back in time order (Keras)."""

    layer: LSTM | GRU
    return_sequences: bool = False

    def __post_init__(self):
        if not isinstance(self.layer, (LSTM, GRU)):
            raise ArgumentError(f"Bidirectional: expected an LSTM or GRU, got {self.layer!r}")

    def output_shape(self, shape):
        (units,) = self.layer.output_shape(shape)
        return (shape[0], 2 * units) if self.return_sequences else (2 * units,)

    def weight_shapes(self, shape):
        one = self.layer.weight_shapes(shape)
        return {**one, **{f"{key}_r": value for key, value in one.items()}}


@dataclass(frozen=True)
class Add(Node):
    """The sum of two or more inputs of one shape (a residual connection)."""

    def output_shape(self, shapes):
        if len(set(shapes)) != 1:
            raise ArgumentError(f"Add takes inputs of one shape, got {', '.join(map(str, shapes))}")
        return shapes[0]


@dataclass(frozen=True)
class Concatenate(Node):
    """The inputs joined along the last axis; every other axis equal."""

    def output_shape(self, shapes):
        if len({shape[:-1] for shape in shapes}) != 1:
            raise ArgumentError(f"Concatenate joins the last axis; the others must agree, got "
                                f"{', '.join(map(str, shapes))}")  # fmt: skip
        return shapes[0][:-1] + (sum(shape[-1] for shape in shapes),)


# ---- the transformer's nodes (issue 25): tokens (T,) in, sequences (T, E) between them ----


@dataclass(frozen=True)
class Embedding(Node):
    """Token ids (T,) -> their rows of the table "E" (vocab, dim), (T, dim)."""

    vocab: int
    dim: int

    def __post_init__(self):
        whole("Embedding vocab", self.vocab)
        whole("Embedding dim", self.dim)

    def output_shape(self, shape):
        if len(shape) != 1:
            raise ArgumentError(f"Embedding takes token ids (T,), got input shape {shape}")
        return (shape[0], self.dim)

    def weight_shapes(self, shape):
        return {"E": (self.vocab, self.dim)}


@dataclass(frozen=True)
class PositionEmbedding(Node):
    """Learned positions: x + P, P (T, dim) one row per position (GPT-2's wpe)."""

    def output_shape(self, shape):
        return sequence_of(shape, "PositionEmbedding")

    def weight_shapes(self, shape):
        return {"P": shape}


@dataclass(frozen=True)
class LayerNorm(Node):
    """y = γ·(x − μ)/√(σ² + ε) + β, μ and the biased σ² of each position over its last axis; weights
    {"gamma", "beta"} (dim,). ε is stated: torch 1e-5, Keras 1e-3, Flax NNX 1e-6 by default."""

    eps: float = 1e-5

    def __post_init__(self):
        number("LayerNorm eps", self.eps, lambda v: v > 0, "a finite number > 0")

    def weight_shapes(self, shape):
        return {"gamma": shape[-1:], "beta": shape[-1:]}


@dataclass(frozen=True)
class MultiHeadAttention(Node):
    """Self-attention of a sequence (T, E) with `heads` heads of width d = E/heads, scale 1/√d, and
    with causal=True position t attending to positions ≤ t; weights foundation.layouts's
    ATTENTION_KEYS, Wq, Wk, Wv, Wo (E, E), with bias=True the biases bq, bk, bv, bo (E,)."""

    heads: int
    causal: bool = True
    bias: bool = True

    def __post_init__(self):
        whole("MultiHeadAttention heads", self.heads)

    def output_shape(self, shape):
        t, e = sequence_of(shape, "MultiHeadAttention")
        if e % self.heads:
            raise ArgumentError(f"MultiHeadAttention: the width {e} does not split into {self.heads} heads")
        return shape

    def weight_shapes(self, shape):
        e = shape[-1]
        return {key: (e, e) if key.startswith("W") else (e,) for key in ATTENTION_KEYS
                if key.startswith("W") or self.bias}  # fmt: skip


@dataclass(frozen=True)
class TiedOutput(Node):
    """The output projection tied to an Embedding node's table: logits = h @ Eᵀ, (T, dim) -> (T, vocab),
    no weights of its own (the table's gradient sums both uses)."""

    vocab: int
    embedding: str = "embed"  # the name of the Embedding node whose table it shares

    def output_shape(self, shape):
        return (sequence_of(shape, "TiedOutput")[0], self.vocab)


def sequence_of(shape, layer):
    """A sequence's (T, E); an error naming `layer` for anything else."""
    if len(shape) != 2:
        raise ArgumentError(f"{layer} takes sequences (T, E), got input shape {shape}")
    return shape


LAYER_KINDS = (Layer, Conv2D, Conv2DTranspose, Pool2D, GlobalAveragePooling2D, Flatten, BatchNorm,
               Activation, LSTM, GRU, Bidirectional, Add, Concatenate, Embedding, PositionEmbedding,
               LayerNorm, MultiHeadAttention, TiedOutput)  # fmt: skip
RECURRENT = (LSTM, GRU, Bidirectional)
MERGES = (Add, Concatenate)  # the nodes reading two inputs or more
ACTIVATED = (Layer, Conv2D, Conv2DTranspose, Activation)  # the nodes that end in an activation
INPUT = "x"  # the name of the model's input in `inputs`


def wiring(layers):
    """(names, inputs): each node's name and the names it reads, the chain's defaults filled in."""
    names = tuple(spec.name or str(i) for i, spec in enumerate(layers))
    inputs = tuple(spec.inputs or ((names[i - 1],) if i else (INPUT,)) for i, spec in enumerate(layers))
    return names, inputs


def check_graph(layers):
    """Unique names, inputs that name an earlier node (or "x"), merges with two inputs or more and other
    nodes with one, and every node but the last read by another: an error naming the node."""
    names, inputs = wiring(layers)
    seen = {INPUT}
    for i, (spec, name, reads) in enumerate(zip(layers, names, inputs)):
        where = f"layer {i} {spec}" + (f" {name!r}" if spec.name else "")
        if name in seen:
            raise ArgumentError(f"{where}: the name {name!r} is taken; every node needs its own")
        if not isinstance(reads, tuple) or any(read not in seen for read in reads):
            raise ArgumentError(f"{where}: inputs {reads!r} must name earlier nodes or {INPUT!r}")
        wanted = "two inputs or more" if isinstance(spec, MERGES) else "one input"
        if (len(reads) >= 2) != isinstance(spec, MERGES) or not reads:
            raise ArgumentError(f"{where}: takes {wanted}, got {len(reads)}")
        seen.add(name)
    unread = set(names[:-1]) - {read for reads in inputs for read in reads}
    if unread:
        raise ArgumentError(f"nodes {sorted(unread)} are read by no other node; the last node is the output")


def infer_shapes(shape, layers):
    """[(in_shape, out_shape), ...] per node from one sample's input shape (Task.layer_shapes); a
    merge's in_shape is the tuple of its inputs' shapes."""
    names, inputs = wiring(layers)
    values, shapes = {INPUT: shape}, []
    for i, (spec, name, reads) in enumerate(zip(layers, names, inputs)):
        shape = tuple(values[read] for read in reads) if isinstance(spec, MERGES) else values[reads[0]]
        try:
            out = spec.output_shape(shape)
        except ArgumentError as exc:
            raise ArgumentError(f"layer {i} {spec}: {exc}") from None
        shapes.append((shape, out))
        values[name] = out
    return shapes


@dataclass(frozen=True)
class Optimizer:
    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    form: str = "torch"  # "torch": torch/optax formulas; "keras": Keras's (Adam's ε̂, momentum's v)
    lr_drops: tuple = ()  # ((step, lr), ...): from 0-based step `step` on, the learning rate is `lr`
    # AdamW (Loshchilov & Hutter), decoupled: each step first w ← w − lr·λ·w on every trained weight,
    # then Adam's update; torch AdamW, optax.adamw, Keras AdamW (Adam with weight_decay=λ) alike
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise unknown("optimizer", self.name, OPTIMIZERS)
        if self.form not in FORMS:
            raise unknown("optimizer form", self.form, FORMS)
        number("optimizer lr", self.lr, lambda v: v > 0, "a finite number > 0")
        number("optimizer momentum", self.momentum, lambda v: v >= 0, "a finite number ≥ 0")
        if self.nesterov and not self.momentum:
            raise ArgumentError("optimizer nesterov: needs a momentum > 0")
        for beta in ("beta1", "beta2"):
            number(f"optimizer {beta}", getattr(self, beta), lambda v: 0 <= v < 1, "a number in [0, 1)")
        number("optimizer eps", self.eps, lambda v: v >= 0, "a finite number ≥ 0")
        number("optimizer weight_decay", self.weight_decay, lambda v: v >= 0, "a finite number ≥ 0")
        if self.weight_decay and self.name != "adam":
            raise ArgumentError("optimizer weight_decay: decoupled decay is AdamW's, for adam only")
        for drop in self.lr_drops:
            if not isinstance(drop, tuple) or len(drop) != 2:
                raise ArgumentError(f"optimizer lr_drops: expected (step, lr) pairs, got {drop!r}")
            whole("optimizer lr_drops step", drop[0], low=0)
            number("optimizer lr_drops lr", drop[1], lambda v: v > 0, "a finite number > 0")

    def lr_at(self, step):
        """The learning rate of 0-based step `step` (piecewise constant)."""
        lr = self.lr
        for start, value in self.lr_drops:
            lr = value if step >= start else lr
        return lr


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    n_in: int | tuple  # features; or (T, F) for sequences, (H, W, C) for NHWC images
    layers: tuple
    loss: str
    optimizer: Optimizer
    make_data: Callable = field(repr=False)
    epochs: int = 1
    batch_size: int | None = None  # None: full batch, one step per epoch
    l2: float = 0.0  # penalty λ·ΣW² over the kernels (never the biases)
    init: str = "glorot_uniform"
    seed: int = 0  # initial weights
    shuffle_seed: int = 0  # minibatch order
    metric: str = "mse"
    family: str = "adhoc"
    # multitask: the output's first n_regression columns are regression outputs (MSE), the rest class
    # logits (softmax CE); loss = w₁·MSE + w₂·CE with (w₁, w₂) = loss_weights
    n_regression: int = 0
    loss_weights: tuple = (1.0, 1.0)

    def __post_init__(self):
        for kind, name, valid in [
            ("loss", self.loss, LOSSES),
            ("metric", self.metric, METRICS),
            ("initializer", self.init, KERNEL_INITIALIZERS),
        ]:
            if name not in valid:
                raise unknown(kind, name, valid)
        self.check_model()
        whole("epochs", self.epochs)
        if self.batch_size is not None:
            whole("batch_size", self.batch_size)
        number("l2", self.l2, lambda v: v >= 0, "a finite number ≥ 0")
        others = [f"layer {i} {spec}" for i, spec in enumerate(self.layers) if not isinstance(spec, Layer)]
        if self.l2 and others:
            raise ArgumentError(f"l2: the L2 penalty is for Dense layers only; set l2=0 or drop {others[0]}")
        if not isinstance(self.optimizer, Optimizer):
            raise ArgumentError(f"optimizer: expected a rosetta.tasks.Optimizer, got {self.optimizer!r}")

    def check_model(self):
        self.check_input()
        if not isinstance(self.layers, tuple) or not self.layers:
            raise ArgumentError(f"layers: expected a non-empty tuple of layers, got {self.layers!r}")
        for i, spec in enumerate(self.layers):
            if not isinstance(spec, LAYER_KINDS):
                kinds = ", ".join(kind.__name__ for kind in LAYER_KINDS)
                raise ArgumentError(f"layer {i}: expected a rosetta.tasks {kinds}, got {spec!r}")
        check_graph(self.layers)
        for i, (spec, reads) in enumerate(zip(self.layers, self.inputs)):
            if isinstance(spec, RECURRENT) and reads != (INPUT,):
                raise ArgumentError(f"layer {i} {spec}: a recurrent layer must read the input sequence "
                                    f"(T, F), {INPUT!r}")  # fmt: skip
            if isinstance(spec, Embedding) != (reads == (INPUT,) and self.tokens):
                raise ArgumentError(f"layer {i} {spec}: token ids (n_in (T,)) are read by Embedding nodes "
                                    f"and only by them")  # fmt: skip
        self.check_tied()
        self.check_head()
        infer_shapes(self.input_shape, self.layers)  # every layer fits its input, else an error naming it
        if self.loss == "softmax_ce" and self.n_out < 2:
            raise ArgumentError(
                f"softmax_ce needs at least 2 outputs (classes), the last layer has {self.n_out}"
            )
        if self.loss == "multitask":
            self.check_multitask()

    def check_tied(self):
        """Each TiedOutput names an Embedding node of its vocabulary and of its input's width."""
        nodes = dict(zip(self.names, self.layers))
        for i, spec in enumerate(self.layers):
            table = nodes.get(spec.embedding) if isinstance(spec, TiedOutput) else None
            if isinstance(spec, TiedOutput) and not (
                isinstance(table, Embedding) and table.vocab == spec.vocab
            ):
                raise ArgumentError(f"layer {i} {spec}: embedding {spec.embedding!r} must name an Embedding "
                                    f"node of vocab {spec.vocab}")  # fmt: skip

    def check_head(self):
        """The output node: a Dense layer, or for an MSE loss a convolution's images (an autoencoder)."""
        head = self.layers[-1]
        if isinstance(head, (Layer, TiedOutput)) or (
            self.loss == "mse" and isinstance(head, (Conv2D, Conv2DTranspose))
        ):
            return
        raise ArgumentError(f"the last layer (the head) must be a Dense rosetta.tasks.Layer (or, with the "
                            f"mse loss, a Conv2D or Conv2DTranspose), got {head}")  # fmt: skip

    def check_input(self):
        """n_in: a whole number, or a tuple (T,) of token ids, (T, F) or (H, W, C) of whole numbers."""
        if not isinstance(self.n_in, tuple):
            whole("n_in", self.n_in)
            return
        if len(self.n_in) not in (1, 2, 3):
            raise ArgumentError(f"n_in: expected features, (T,) for token ids, (T, F) for sequences or "
                                f"(H, W, C) for images, got {self.n_in!r}")  # fmt: skip
        for size in self.n_in:
            whole("n_in", size)

    def check_multitask(self):
        """1 ≤ n_regression ≤ outputs − 2 (at least two classes); two finite weights ≥ 0."""
        whole("n_regression", self.n_regression, 1, self.n_out - 2)
        if not isinstance(self.loss_weights, tuple) or len(self.loss_weights) != 2:
            raise ArgumentError(f"loss_weights: expected (w1, w2), got {self.loss_weights!r}")
        for w in self.loss_weights:
            number("loss_weights", w, lambda v: v >= 0, "a finite number ≥ 0")

    @property
    def input_shape(self):
        """One sample's input shape: (n_in,), (T,), (T, F) or (H, W, C); x is (N, *input_shape)."""
        return self.n_in if isinstance(self.n_in, tuple) else (self.n_in,)

    @property
    def tokens(self):
        """The input is token ids (N, T), integers, read by Embedding nodes."""
        return isinstance(self.n_in, tuple) and len(self.n_in) == 1

    @property
    def vocab(self):
        """The token ids' range [0, vocab): the first Embedding's."""
        return next(spec.vocab for spec in self.layers if isinstance(spec, Embedding))

    @property
    def names(self):
        """Each node's name: its own, or its index."""
        return wiring(self.layers)[0]

    @property
    def inputs(self):
        """Each node's inputs: the names it reads ("x": the model's input)."""
        return wiring(self.layers)[1]

    @property
    def is_chain(self):
        """Every node reads the one before it: a sequential model."""
        return all(reads == ((self.names[i - 1],) if i else (INPUT,)) for i, reads in enumerate(self.inputs))

    @property
    def output_shape(self):
        """One sample's output shape: (K,) of a Dense head, (H, W, C) of a convolution's."""
        return self.layer_shapes[-1][1]

    @property
    def n_out(self):
        """The width of the output (the Dense head's units; a convolution's channels)."""
        return self.output_shape[-1]

    @property
    def layer_shapes(self):
        """[(in_shape, out_shape), ...] of one sample, per layer; an error names a layer that cannot
        take the shape it gets (a Dense layer on images, a Conv2D on a sequence, a window too big)."""
        return infer_shapes(self.input_shape, self.layers)

    @property
    def weight_shapes(self):
        """[{"W": shape, "b": shape, ...}, ...] per layer, {} for a layer without weights."""
        return [spec.weight_shapes(shape) for spec, (shape, _) in zip(self.layers, self.layer_shapes)]

    @property
    def has_batchnorm(self):
        return any(isinstance(spec, BatchNorm) for spec in self.layers)

    @property
    def is_mlp(self):
        return isinstance(self.n_in, int) and all(isinstance(spec, Layer) for spec in self.layers)

    @property
    def sizes(self):
        """(n_in, units, ..., n_out) of an all-Dense task."""
        if not self.is_mlp:
            raise ArgumentError(f"task {self.name!r}: sizes are for all-Dense tasks; use input_shape, "
                                "layer_shapes and n_out")  # fmt: skip
        return (self.n_in, *(layer.units for layer in self.layers))

    def data(self):
        """(x, y): x float64 (N, *input_shape), int64 token ids (N, T); y float64 targets, or int64 class
        labels for softmax_ce, (N,) or per position (N, T) (multitask: y is (N, n_regression + K), the
        regression targets then the one-hot classes)."""
        return self.make_data()

    def init_params(self, dtype="float64"):
        """Canonical initial weights, one dict per layer ({} for Pool2D and Flatten): kernels drawn
        layer by layer from one stream seeded by `seed`, in float64, then cast to `dtype`."""
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        draw, rng = initializers.drawer(self.init, self.seed)
        params = []
        for spec, shapes in zip(self.layers, self.weight_shapes):
            layer = initial_weights(spec, shapes, draw, rng)
            params.append({key: value.astype(dtype) for key, value in layer.items()})
        return params

    @functools.cached_property
    def n_samples(self):
        return len(self.data()[0])  # generated once per task

    @property
    def steps_per_epoch(self):
        return 1 if self.batch_size is None else math.ceil(self.n_samples / self.batch_size)

    @property
    def steps(self):
        return self.epochs * self.steps_per_epoch

    def batches(self, steps=None):
        """The row selectors of each step, in order, as a list: slice(None) for full batch, else the
        minibatches of `batch_size` (the last one shorter) of a seeded permutation drawn anew each epoch."""
        steps = self.steps if steps is None else steps
        if self.batch_size is None:
            return [slice(None)] * steps
        n, size, per_epoch = self.n_samples, self.batch_size, self.steps_per_epoch
        rows = []
        for epoch in range(math.ceil(steps / per_epoch)):
            order = np.random.default_rng([self.shuffle_seed, epoch]).permutation(n)
            rows += [order[k * size : (k + 1) * size] for k in range(per_epoch)]
        return rows[:steps]

    def evaluate(self, out, y):
        """The task's metric of the network output `out` on targets/labels `y` (multitask: the
        accuracy of its class columns)."""
        if self.loss == "multitask":
            out, y = out[:, self.n_regression :], y[:, self.n_regression :]
        if self.metric == "mae":
            return float(np.mean(np.abs(y - out)))
        if self.metric == "mse":
            return float(np.mean((y - out) ** 2))
        if out.shape[-1] == 1:  # one sigmoid output: class 1 above ½, i.e. a logit above 0
            return float(np.mean((out > (0 if self.loss == "bce_logits" else 0.5)) == (y > 0.5)))
        labels = y if y.ndim == out.ndim - 1 else np.argmax(y, axis=-1)
        return float(np.mean(np.argmax(out, axis=-1) == labels))


def initial_weights(spec, shapes, draw, rng):
    """One layer's initial weights in float64, shaped as `shapes` (Task.weight_shapes)."""
    if isinstance(spec, Layer):
        fan_in, units = shapes["W"]
        layer = initializers.dense(draw, rng, fan_in, units, spec.bias)
        if spec.activation == "prelu":  # a learned α per unit, as Keras's PReLU, starting at spec.alpha
            layer["alpha"] = np.full(units, spec.alpha)
        return layer
    if isinstance(spec, Conv2D):
        return initializers.conv(draw, rng, shapes["W"])
    if isinstance(spec, LSTM):
        return initializers.lstm(draw, rng, shapes["W"][0], spec.units)
    if isinstance(spec, GRU):
        return initializers.gru(draw, rng, shapes["W"][0], spec.units)
    if isinstance(spec, Conv2DTranspose):
        return initializers.conv_transpose(draw, rng, shapes["W"])
    if isinstance(spec, BatchNorm):
        return initializers.batchnorm(shapes["gamma"][0])
    if isinstance(spec, (Embedding, PositionEmbedding)):
        key, shape = next(iter(shapes.items()))
        return {key: initializers.embedding(rng, shape)}
    if isinstance(spec, LayerNorm):
        return initializers.layernorm(shapes["gamma"][0])
    if isinstance(spec, MultiHeadAttention):
        return initializers.attention(draw, rng, shapes["Wq"][0], spec.bias)
    if isinstance(spec, Bidirectional):
        forward = initial_weights(spec.layer, {"W": shapes["W"]}, draw, rng)
        backward = initial_weights(spec.layer, {"W": shapes["W"]}, draw, rng)
        return {**forward, **{f"{key}_r": value for key, value in backward.items()}}
    return {}  # Pool2D, GlobalAveragePooling2D, Flatten, Activation, Add, Concatenate, TiedOutput


def make(
    sizes,
    activations,
    loss="mse",
    optimizer=Optimizer(),
    bias=True,
    l2=0.0,
    alpha=None,
    n=16,
    batch_size=None,
    epochs=3,
    seed=0,
    name="adhoc",
    n_regression=1,
    loss_weights=(1.0, 1.0),
):
    """An ad-hoc task: any MLP `sizes` = (n_in, h1, ..., n_out) on seeded random data (multitask:
    `n_regression` regression columns, the other n_out − n_regression one-hot classes)."""
    sizes, activations = tuple(sizes), tuple(activations)
    if len(sizes) < 2:
        raise ArgumentError(f"sizes: expected (n_in, ..., n_out), at least 2 numbers, got {sizes!r}")
    for size in sizes:
        whole("sizes", size)
    if len(activations) != len(sizes) - 1:
        raise ArgumentError(f"need {len(sizes) - 1} activations for sizes {sizes}, got {len(activations)}")
    whole("n", n)
    layers = tuple(
        Layer(units, act, bias, DEFAULT_ALPHA.get(act, 0.0) if alpha is None else alpha)
        for units, act in zip(sizes[1:], activations)
    )
    labels = {"softmax_ce": "classes", "bce_logits": "binary", "multitask": "multitask"}.get(loss, "real")

    def make_data():
        return datasets.blobs(n, sizes[0], sizes[-1], labels, seed, n_regression)

    metric = "accuracy" if labels in ("classes", "multitask") else "mse"
    return Task(
        name,
        f"ad-hoc MLP {sizes}",
        sizes[0],
        layers,
        loss,
        optimizer,
        make_data,
        epochs,
        batch_size,
        l2,
        seed=seed,
        shuffle_seed=seed,
        metric=metric,
        n_regression=n_regression if loss == "multitask" else 0,
        loss_weights=loss_weights,
    )


def with_optimizer(task, **changes):
    """The same task with some optimizer settings changed (e.g. form="keras", eps=1e-7)."""
    return replace(task, optimizer=replace(task.optimizer, **changes))


def with_formula(task, changes):
    """The task following a framework's own formula (foundation.frameworks.formula): optimizer settings,
    and unbiased_var for every BatchNorm node."""
    changes = dict(changes)
    unbiased = changes.pop("unbiased_var", None)
    task = with_optimizer(task, **changes) if changes else task
    if unbiased is None:
        return task
    layers = tuple(replace(spec, unbiased_var=unbiased) if isinstance(spec, BatchNorm) else spec
                   for spec in task.layers)  # fmt: skip
    return replace(task, layers=layers)
