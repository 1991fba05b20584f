"""Our own canonical form: (task or spec, params), computed by reference_numpy's hand-written backprop.

A task's graph is recorded node by node, a Dense or convolution's activation as a node of its own
after it. As every framework's side is compared, BatchNorm runs on its running statistics here.

A spec is the JSON model description: {"sizes": [n_in, ..., n_out], "activations": [...], "bias": true,
"alpha": null, "output": null}; "output": "softmax" adds a softmax head (forward only: the losses take
logits). The optimizer is a rosetta.tasks.Optimizer, replayed by reference_numpy.optim.
"""

from dataclasses import replace

import numpy as np

from foundation import params as canonical_params
from foundation.arrays import as_dtype
from reference_numpy import mlp, optim
from rosetta import tasks
from rosetta.portcheck.graph import Graph, Node
from rosetta.portcheck.layers import PARAMETRIZED, Layer, NotSupported, Write, apply


def as_task(task_or_spec):
    if isinstance(task_or_spec, tasks.Task):
        return task_or_spec
    if isinstance(task_or_spec, str):
        return tasks.get(task_or_spec)
    spec = dict(task_or_spec)
    acts = list(spec["activations"])
    acts[-1] = "linear" if head(spec) else acts[-1]  # the softmax head is applied after the reference
    task = tasks.make(spec["sizes"], acts, alpha=spec.get("alpha"))
    bias = spec.get("bias", True)
    biases = bias if isinstance(bias, list) else [bias] * len(task.layers)  # one per layer, or for all
    return replace(task, layers=tuple(replace(layer, bias=b) for layer, b in zip(task.layers, biases)))


def head(spec):
    """ "softmax" when the spec's model ends in one ("output": "softmax", or a last "softmax" activation)."""
    last = spec.get("activations", [None])[-1]
    return "softmax" if "softmax" in (spec.get("output"), last) else None


WEIGHTED = (tasks.Layer, tasks.Conv2D, tasks.Conv2DTranspose, tasks.LSTM, tasks.GRU, tasks.Bidirectional,
            tasks.BatchNorm)  # fmt: skip


def weighted(task, per_layer):
    """The entries of the nodes that hold weights (pooling, Flatten, merges hold none)."""
    return [entry for spec, entry in zip(task.layers, per_layer) if isinstance(spec, WEIGHTED)]


def describe_layer(spec, shape):
    """A task node as a Layer, `shape` its per-sample input shape (a merge's: the tuple of them)."""
    if isinstance(spec, tasks.Conv2D):
        name = f"Conv2D({shape[2]}→{spec.filters}, k={spec.kernel}, s={spec.stride}, {spec.padding})"
        return Layer("conv2d", name, shape[2], spec.filters, True, config=(spec.kernel, spec.stride))
    if isinstance(spec, tasks.Conv2DTranspose):
        name = f"Conv2DTranspose({shape[2]}→{spec.filters}, k={spec.kernel}, s={spec.stride})"
        return Layer("conv_transpose", name, shape[2], spec.filters, True, config=(spec.kernel, spec.stride))
    if isinstance(spec, tasks.Pool2D):
        return Layer("pool", f"{spec.kind}pool({spec.size})", config=(spec.size, spec.kind))
    if isinstance(spec, tasks.GlobalAveragePooling2D):
        return Layer("pool", "GlobalAveragePooling2D", config=("global", "avg"))
    if isinstance(spec, tasks.Flatten):
        return Layer("flatten", "Flatten", shape=tuple(shape))
    if isinstance(spec, tasks.BatchNorm):
        name = f"BatchNorm(ε={spec.eps:g}, m={spec.momentum:g})"
        return Layer("batchnorm", name, shape[-1], shape[-1], True, eps=spec.eps, momentum=spec.momentum)
    if isinstance(spec, (tasks.Add, tasks.Concatenate)):
        return Layer("add" if isinstance(spec, tasks.Add) else "concat", type(spec).__name__)
    if isinstance(spec, tasks.Activation):
        return activation(spec)
    if isinstance(spec, tasks.Bidirectional):
        inner = describe_layer(spec.layer, shape)
        return Layer(inner.kind, f"Bidirectional({inner.name})", shape[1], 2 * spec.layer.units, True,
                     config=("bidirectional",))  # fmt: skip
    if isinstance(spec, (tasks.LSTM, tasks.GRU)):
        kind = type(spec).__name__
        return Layer(kind.lower(), f"{kind}({shape[1]}→{spec.units})", shape[1], spec.units, True)
    return Layer("dense", f"W({shape[0]}→{spec.units})", shape[0], spec.units, spec.bias)


def activation(spec):
    alpha = spec.alpha if spec.activation in tasks.DEFAULT_ALPHA else None
    name = spec.activation if alpha is None else f"{spec.activation}({alpha:g})"
    return Layer("act", name, act=spec.activation, alpha=alpha)


def fused(spec):
    """A Dense or convolution node ending in its own activation: recorded as a second node."""
    return (
        isinstance(spec, tasks.ACTIVATED)
        and not isinstance(spec, tasks.Activation)
        and spec.activation != "linear"
    )


def describe(task, head):
    """The task's graph as Nodes: each reads what its task node reads (a fused input's activation),
    a fused activation named "{name}:act", the softmax head "softmax"."""
    nodes, produced = [], {tasks.INPUT: tasks.INPUT}  # task node -> the graph node holding its output
    wiring = zip(task.layers, task.names, task.inputs, task.layer_shapes)
    for i, (spec, name, reads, (shape, _)) in enumerate(wiring):
        layer = describe_layer(spec, shape)
        owner = i if layer.kind in PARAMETRIZED else None
        nodes.append(Node(name, layer, tuple(produced[read] for read in reads), owner))
        produced[name] = name
        if fused(spec):
            nodes.append(Node(f"{name}:act", activation(spec), (name,)))
            produced[name] = f"{name}:act"
    if head == "softmax":
        nodes.append(Node("softmax", Layer("act", "softmax", act="softmax"), (produced[task.names[-1]],)))
    return nodes


class CanonicalModel:
    framework = "canonical"

    def __init__(self, model):
        self.task, params = as_task(model[0]), model[1]
        self.given = params  # the user's arrays: rosetta.transfer writes into them
        self.indices = weighted(self.task, range(len(self.task.layers)))  # each anchor's layer
        self.head = head(model[0]) if isinstance(model[0], dict) else None
        self.dtype = str(canonical_params.validate(self.task, params))
        self.params = mlp.build(self.task, params)  # a copy
        self.nodes, self.compute_dtype, self.notes = describe(self.task, self.head), self.dtype, []
        self.layers = [node.layer for node in self.nodes]
        self.first = next(layer for layer in self.layers if layer.kind in PARAMETRIZED)

    def bind(self, x):
        values = {"x": self.tensor(x), **self.outputs(x)}
        self.graph = Graph(list(self.nodes), values, self.nodes[-1].name)
        return self.graph

    def weights(self):
        return weighted(self.task, mlp.build(self.task, self.params))

    def names(self):
        return [f"layers.{i}" for i in self.indices]

    def writes(self, k, layer):
        """The canonical `layer` into the user's arrays of the k-th weighted layer (rosetta.transfer)."""
        i = self.indices[k]
        arrays = self.given[i]
        return [
            Write(arrays[key], np.asarray(value, arrays[key].dtype), f"layers.{i}.{key}", key)
            for key, value in layer.items()
        ]

    @staticmethod
    def assign(target, value):
        np.copyto(target, value)

    @staticmethod
    def current(target):
        return np.array(target)

    def input_shape(self):
        return self.task.input_shape, self.dtype

    def tensor(self, a):
        return as_dtype(a, self.params)

    def outputs(self, x):
        """Every graph node's value by name: a fused node's z, and its activation's a."""
        _, cache = mlp.predict(self.task, self.params, as_dtype(x, self.params))
        values = {}
        for spec, name, (_, z, a) in zip(self.task.layers, self.task.names, cache):
            values[name] = z if fused(spec) else a
            values |= {f"{name}:act": a} if fused(spec) else {}
        if self.head == "softmax":
            values["softmax"] = apply("softmax", values[self.nodes[-2].name], None)
        return values

    def outputs_as_left(self, x):
        return None

    def loss_and_grads(self, x, y, loss, params=None):
        if self.head:
            raise NotSupported("not supported yet: a loss on the canonical softmax head (use logits)")
        task = replace(self.task, loss=loss, l2=0.0)
        value, grads = mlp.loss_and_grads(
            task, self.params if params is None else params, x, y, training=False
        )
        return value, weighted(self.task, grads)

    def train(self, x, y, loss, opt, steps):
        """`steps` reference updates with `opt` (a rosetta.tasks.Optimizer) on a copy of the weights."""
        params, state, record = mlp.build(self.task, self.params), optim.make(opt, self.params), []
        for t in range(1, steps + 1):
            _, grads = mlp.loss_and_grads(replace(self.task, loss=loss, l2=0.0), params, x, y, training=False)
            optim.update(opt, params, grads, state, t)
            record.append(
                {
                    "params": weighted(self.task, mlp.build(self.task, params)),
                    "grads": weighted(self.task, grads),
                    "lr": opt.lr_at(t - 1),
                }
            )
        return record, form(opt)


def form(opt):
    keys = ("momentum", "nesterov") if opt.name == "sgd" else ("beta1", "beta2", "eps")
    return {"name": opt.name, "form": opt.form, "weight_decay": 0.0, "decoupled": False} | {
        key: getattr(opt, key) for key in keys
    }


def loss_function(loss):
    """The canonical side takes a loss by name only (rosetta.tasks.LOSSES)."""
    if not isinstance(loss, str):
        raise TypeError(f"the canonical side takes a loss name from {tasks.LOSSES}, got {loss!r}")
    return loss


# ---- the command line ----


def load(path, spec):
    """Canonical .safetensors / .npz (keys layers.{i}.W, layers.{i}.b), checked against the description."""
    return spec, canonical_params.load(path, as_task(spec))


def save(model, path):
    """The weights as `load` reads them back."""
    canonical_params.save(path, model[1], as_task(model[0]))


def make_optimizer(name, lr):
    return tasks.Optimizer(name, lr=lr)
