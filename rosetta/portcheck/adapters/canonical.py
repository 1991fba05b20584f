"""Our own canonical form: (task or spec, params), computed by reference_numpy's hand-written backprop.

A spec is the JSON model description: {"sizes": [n_in, ..., n_out], "activations": [...], "bias": true,
"alpha": null, "output": null}; "output": "softmax" adds a softmax head (forward only: the losses take
logits). The optimizer is a rosetta.tasks.Optimizer, replayed by reference_numpy.optim.
"""

from dataclasses import replace

from reference_numpy import mlp, optim
from rosetta import params as canonical_params
from rosetta import tasks
from rosetta.arrays import as_dtype
from rosetta.portcheck import graph
from rosetta.portcheck.layers import PARAMETRIZED, Layer, NotSupported, apply


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


WEIGHTED = (tasks.Layer, tasks.Conv2D, tasks.LSTM, tasks.GRU)


def weighted(task, per_layer):
    """The entries of the layers that hold weights (pooling and Flatten hold none)."""
    return [entry for spec, entry in zip(task.layers, per_layer) if isinstance(spec, WEIGHTED)]


def describe_layer(spec, shape):
    """A task layer as a Layer, `shape` its per-sample input shape."""
    if isinstance(spec, tasks.Conv2D):
        name = f"Conv2D({shape[2]}→{spec.filters}, k={spec.kernel}, s={spec.stride}, {spec.padding})"
        return Layer("conv2d", name, shape[2], spec.filters, True, config=(spec.kernel, spec.stride))
    if isinstance(spec, tasks.Pool2D):
        return Layer("pool", f"{spec.kind}pool({spec.size})", config=(spec.size, spec.kind))
    if isinstance(spec, tasks.Flatten):
        return Layer("flatten", "Flatten", shape=tuple(shape))
    if isinstance(spec, (tasks.LSTM, tasks.GRU)):
        kind = type(spec).__name__
        return Layer(kind.lower(), f"{kind}({shape[1]}→{spec.units})", shape[1], spec.units, True)
    return Layer("dense", f"W({shape[0]}→{spec.units})", shape[0], spec.units, spec.bias)


def describe(task, head):
    layers = []
    for spec, (shape, _) in zip(task.layers, task.layer_shapes):
        layers.append(describe_layer(spec, shape))
        if mlp.activated(spec) and spec.activation != "linear":
            alpha = spec.alpha if spec.activation in tasks.DEFAULT_ALPHA else None
            name = spec.activation if alpha is None else f"{spec.activation}({alpha:g})"
            layers.append(Layer("act", name, act=spec.activation, alpha=alpha))
    return layers + ([Layer("act", "softmax", act="softmax")] if head == "softmax" else [])


class CanonicalModel:
    framework = "canonical"

    def __init__(self, model):
        self.task, params = as_task(model[0]), model[1]
        self.head = head(model[0]) if isinstance(model[0], dict) else None
        self.dtype = str(canonical_params.validate(self.task, params))
        self.params = mlp.build(self.task, params)  # a copy
        self.layers, self.compute_dtype, self.notes = describe(self.task, self.head), self.dtype, []
        self.first = next(layer for layer in self.layers if layer.kind in PARAMETRIZED)

    def bind(self, x):
        self.graph = graph.chain(self.layers, self.outputs(x), self.tensor(x))
        return self.graph

    def weights(self):
        return weighted(self.task, mlp.build(self.task, self.params))

    def tensor(self, a):
        return as_dtype(a, self.params)

    def outputs(self, x):
        _, cache = mlp.predict(self.task, self.params, as_dtype(x, self.params))
        captured = []
        for spec, (_, z, a) in zip(self.task.layers, cache):
            captured += [z, a] if mlp.activated(spec) and spec.activation != "linear" else [z]
        return captured + ([apply("softmax", captured[-1], None)] if self.head == "softmax" else [])

    def outputs_as_left(self, x):
        return None

    def loss_and_grads(self, x, y, loss, params=None):
        if self.head:
            raise NotSupported("not supported yet: a loss on the canonical softmax head (use logits)")
        task = replace(self.task, loss=loss, l2=0.0)
        value, grads = mlp.loss_and_grads(task, self.params if params is None else params, x, y)
        return value, weighted(self.task, grads)

    def train(self, x, y, loss, opt, steps):
        """`steps` reference updates with `opt` (a rosetta.tasks.Optimizer) on a copy of the weights."""
        params, state, record = mlp.build(self.task, self.params), optim.make(opt, self.params), []
        for t in range(1, steps + 1):
            _, grads = mlp.loss_and_grads(replace(self.task, loss=loss, l2=0.0), params, x, y)
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


def make_optimizer(name, lr):
    return tasks.Optimizer(name, lr=lr)
