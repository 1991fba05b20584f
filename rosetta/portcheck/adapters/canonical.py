"""Our own canonical form: (task or spec, params), computed by reference_numpy's hand-written backprop.

A task's graph is recorded node by node, a Dense or convolution's activation as a node of its own
after it. As every framework's side is compared, BatchNorm runs on its running statistics here. The
transformer's nodes as people's ports write them: an Embedding's table "E" and a PositionEmbedding's
"P" as embedding tables {"W"} (positions: a table read at arange(T), then added), the TiedOutput as a
Dense anchor whose kernel is the token table transposed, tied to it.

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
from rosetta.portcheck.graph import HIDDEN, Graph, Node
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
            tasks.BatchNorm, tasks.LayerNorm, tasks.MultiHeadAttention)  # fmt: skip
TABLES = {tasks.Embedding: "E", tasks.PositionEmbedding: "P"}  # the table's key in the task's layout
ANCHORED = WEIGHTED + tuple(TABLES) + (tasks.TiedOutput,)


def anchor_indices(task):
    """The task node behind each anchor, in order (pooling, Flatten, merges hold no weights)."""
    return [i for i, spec in enumerate(task.layers) if isinstance(spec, ANCHORED)]


def weighted(task, per_layer):
    """Each anchor's entry of per-node weights (or gradients) in port-check's keys: a table as "W", the
    tied output's kernel as the token table transposed (its gradient: the table's, both uses summed)."""
    out = []
    for i in anchor_indices(task):
        spec, entry = task.layers[i], per_layer[i]
        if isinstance(spec, tasks.TiedOutput):
            entry = {"W": np.asarray(per_layer[owner_of(task, spec, i)]["E"]).T}
        elif type(spec) in TABLES:
            entry = {"W": entry[TABLES[type(spec)]]}
        out.append(entry)
    return out


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
    return transformer_layer(spec, shape) or Layer("dense", f"W({shape[-1]}→{spec.units})", shape[-1],
                                                   spec.units, spec.bias)  # fmt: skip


def transformer_layer(spec, shape):
    """The transformer's nodes as Layers (a PositionEmbedding: its table, describe adds the sum)."""
    if isinstance(spec, tasks.Embedding):
        return Layer("embedding", f"Embedding({spec.vocab}, {spec.dim})", spec.vocab, spec.dim, shape=(None,))
    if isinstance(spec, tasks.PositionEmbedding):
        t, e = shape
        return Layer("embedding", f"PositionEmbedding({t}, {e})", t, e, shape=(None,))
    if isinstance(spec, tasks.LayerNorm):
        return Layer("layernorm", f"LayerNorm(eps={spec.eps:g})", shape[-1], shape[-1], True, eps=spec.eps)
    if isinstance(spec, tasks.MultiHeadAttention):
        e = shape[-1]
        name = f"MultiHeadAttention({e}, heads={spec.heads}{', causal' if spec.causal else ''})"
        return Layer("attention", name, e, e, spec.bias, config=(spec.heads, e // spec.heads))
    if isinstance(spec, tasks.TiedOutput):
        return Layer("dense", f"TiedOutput({shape[-1]}→{spec.vocab})", shape[-1], spec.vocab, False)
    return None


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
        layer, reads = describe_layer(spec, shape), tuple(produced[read] for read in reads)
        owner = owner_of(task, spec, i) if layer.kind in PARAMETRIZED else None
        if isinstance(spec, tasks.MultiHeadAttention):  # self-attention: query, key and value read one value
            reads = reads * 3
        if isinstance(spec, tasks.PositionEmbedding):  # the table at arange(T), then x + it
            nodes += [
                Node(f"{name}:positions", HIDDEN),
                Node(f"{name}:table", layer, (f"{name}:positions",), i),
            ]
            layer, reads, owner = Layer("add", "Add"), reads + (f"{name}:table",), None
        nodes.append(Node(name, layer, reads, owner))
        produced[name] = name
        if fused(spec):
            nodes.append(Node(f"{name}:act", activation(spec), (name,)))
            produced[name] = f"{name}:act"
    if head == "softmax":
        nodes.append(Node("softmax", Layer("act", "softmax", act="softmax"), (produced[task.names[-1]],)))
    return nodes


def owner_of(task, spec, i):
    """An anchor's weights key: its node's index; a TiedOutput's, its Embedding's (tied)."""
    return task.names.index(spec.embedding) if isinstance(spec, tasks.TiedOutput) else i


class CanonicalModel:
    framework = "canonical"

    def __init__(self, model):
        self.task, params = as_task(model[0]), model[1]
        self.given = params  # the user's arrays: rosetta.transfer writes into them
        self.indices = anchor_indices(self.task)  # each anchor's node
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
        spec = self.task.layers[i]
        if isinstance(spec, tasks.TiedOutput):
            j = owner_of(self.task, spec, i)
            table = self.given[j]["E"]
            return [Write(table, np.asarray(layer["W"], table.dtype).T, f"layers.{j}.E", "E = Wᵀ")]
        renamed = {TABLES[type(spec)]: layer["W"]} if type(spec) in TABLES else layer
        arrays = self.given[i]
        return [
            Write(arrays[key], np.asarray(value, arrays[key].dtype), f"layers.{i}.{key}", key)
            for key, value in renamed.items()
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
        for spec, name, layer, (_, z, a) in zip(self.task.layers, self.task.names, self.params, cache):
            values[name] = z if fused(spec) else a
            values |= {f"{name}:act": a} if fused(spec) else {}
            if isinstance(spec, tasks.PositionEmbedding):
                values |= {f"{name}:positions": np.arange(len(layer["P"])), f"{name}:table": layer["P"]}
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
    decay = {"weight_decay": opt.weight_decay, "decoupled": bool(opt.weight_decay)}
    return {"name": opt.name, "form": opt.form, **decay} | {key: getattr(opt, key) for key in keys}


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
