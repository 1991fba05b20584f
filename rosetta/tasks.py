"""The task catalog: the single source of truth every framework reads.

A task is a model (layer sizes, activations, biases), its initial weights, a loss with an optional
L2 penalty, an optimizer, a batch schedule and the data. `get(name)` returns a catalog task; `make`
builds an ad-hoc one for any MLP.
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from rosetta import data as datasets
from rosetta.errors import ArgumentError, unknown
from rosetta.initializers import KERNEL_INITIALIZERS, init_params
from rosetta.validate import number, whole

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "prelu")
# leaky_relu, elu: torch's and jax.nn's defaults. prelu: the initial α of every unit, torch's 0.25
# (Keras starts at 0, docs/divergences.md).
DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0, "prelu": 0.25}
LOSSES = ("half_sse", "sse_2n", "mse", "bce_logits", "softmax_ce", "multitask")
METRICS = ("mae", "mse", "accuracy")
OPTIMIZERS = ("sgd", "adam")
FORMS = ("torch", "keras")  # whose formula a stateful optimizer follows (DESIGN.md §5)


@dataclass(frozen=True)
class Layer:
    units: int
    activation: str = "linear"
    bias: bool = True
    alpha: float = 0.0  # leaky_relu: the negative slope; elu: the scale α; prelu: the initial α

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise unknown("activation", self.activation, ACTIVATIONS)
        whole("layer units", self.units)
        number("layer alpha", self.alpha, lambda a: True, "a finite number")


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
    n_in: int
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
        if not isinstance(self.optimizer, Optimizer):
            raise ArgumentError(f"optimizer: expected a rosetta.tasks.Optimizer, got {self.optimizer!r}")

    def check_model(self):
        whole("n_in", self.n_in)
        if not self.layers or not all(isinstance(layer, Layer) for layer in self.layers):
            raise ArgumentError(
                f"layers: expected a non-empty tuple of rosetta.tasks.Layer, got {self.layers!r}"
            )
        if self.loss == "softmax_ce" and self.layers[-1].units < 2:
            raise ArgumentError(
                f"softmax_ce needs at least 2 outputs (classes), the last layer has {self.layers[-1].units}"
            )
        if self.loss == "multitask":
            self.check_multitask()

    def check_multitask(self):
        """1 ≤ n_regression ≤ outputs − 2 (at least two classes); two finite weights ≥ 0."""
        whole("n_regression", self.n_regression, 1, self.layers[-1].units - 2)
        if not isinstance(self.loss_weights, tuple) or len(self.loss_weights) != 2:
            raise ArgumentError(f"loss_weights: expected (w1, w2), got {self.loss_weights!r}")
        for w in self.loss_weights:
            number("loss_weights", w, lambda v: v >= 0, "a finite number ≥ 0")

    @property
    def sizes(self):
        return (self.n_in, *(layer.units for layer in self.layers))

    def data(self):
        """(x, y): x float64 (N, n_in); y float64 targets, or int64 class labels for softmax_ce
        (multitask: y is (N, n_regression + K), the regression targets then the one-hot classes)."""
        return self.make_data()

    def init_params(self, dtype="float64"):
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        biases = [layer.bias for layer in self.layers]
        params = init_params(self.sizes, biases, self.init, self.seed, dtype)
        for spec, layer in zip(self.layers, params):
            if spec.activation == "prelu":  # a learned α per unit, as Keras's PReLU, starting at spec.alpha
                layer["alpha"] = np.full(spec.units, spec.alpha, dtype=dtype)
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
        if out.shape[1] == 1:  # one sigmoid output: class 1 above ½, i.e. a logit above 0
            return float(np.mean((out > (0 if self.loss == "bce_logits" else 0.5)) == (y > 0.5)))
        labels = y if y.ndim == 1 else np.argmax(y, axis=1)
        return float(np.mean(np.argmax(out, axis=1) == labels))


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


def names():
    from rosetta.catalog import CATALOG

    return list(CATALOG)


def get(name):
    """The catalog task `name`; an unknown name raises an error listing the valid ones."""
    from rosetta.catalog import BENCHMARKS, CATALOG

    known = {**CATALOG, **BENCHMARKS}
    if name not in known:
        raise unknown("task", name, known)
    return known[name]
