"""The graph record every adapter hands over, framework-free: the ops a model ran, in order.

A `Node` is one op: what it computes (a `layers.Layer`: a parametrized layer, an activation, an add, a
reshape ...), the names of the nodes it read ("x": the model's input) and, for a parametrized node,
the key of the weights it used (two calls of one module share it: tied weights). `Graph.values` holds
every node's output in canonical layout (NHWC images, a recurrent layer's last state).

Parametrized nodes are the anchors. A `Block` is an anchor and the ops after it up to the next anchor,
in execution order: the row of the report. Where a framework runs code the capture cannot see (Python
between two sublayer calls of a Keras subclassed model or a Flax module), the value that reaches the
next layer is recorded as a "hidden" node: it is compared, but its ops cannot be named.
"""

from dataclasses import dataclass, field

import numpy as np

from rosetta.portcheck.layers import PARAMETRIZED, PASSTHROUGH, Layer, NotSupported

HIDDEN = Layer("hidden", "…")  # ops the capture could not see; compared at their boundary only
STRUCTURAL = ("act", "pool", "add", "concat", "mul")  # op kinds whose sequence is compared


@dataclass(frozen=True)
class Node:
    name: str
    layer: Layer
    inputs: tuple = ()
    owner: object = None  # anchors: the weights' key (a module, a layer, an index)


@dataclass
class Graph:
    nodes: list = field(default_factory=list)
    values: dict = field(default_factory=dict)  # node name -> canonical NumPy output
    output: str = ""  # the node whose value the model returned

    @property
    def result(self):
        return self.values[self.output or self.nodes[-1].name]

    @property
    def anchors(self):
        return [node for node in self.nodes if node.layer.kind in PARAMETRIZED]


@dataclass
class Block:
    anchor: Node
    ops: list = field(default_factory=list)  # the Nodes after the anchor, up to the next one
    loose: bool = False  # what it computes last reaches only code the capture cannot see

    @property
    def layers(self):
        return [self.anchor.layer] + [op.layer for op in self.ops]

    @property
    def head(self):
        return self.anchor.layer

    @property
    def acts(self):
        return [op.layer for op in self.ops if op.layer.kind == "act"]

    @property
    def seen(self):
        """Every op after the anchor was captured (none hidden, and its value reaches a captured op)."""
        return not self.loose and all(op.layer.kind != "hidden" for op in self.ops)

    def signature(self):
        """The ops that compute something, in order: what a port must reproduce (an activation by its
        function, its slope aside; pooling with its window and kind)."""
        ops = [op.layer for op in self.ops if op.layer.kind in STRUCTURAL and op.layer.act != "linear"]
        return [layer.act if layer.kind == "act" else (layer.kind, layer.config) for layer in ops]

    def describe(self):
        names = (
            [self.anchor.layer.name] + [self.label(op) for op in self.ops if shown(op)] + ["…"] * self.loose
        )
        return " → ".join(name for k, name in enumerate(names) if not (name == "…" == names[k - 1]))

    def label(self, op):
        """An op as the table names it: an add with the value it adds, "add(x)"."""
        if op.layer.kind not in ("add", "mul", "concat"):
            return op.layer.name
        inside = {self.anchor.name} | {o.name for o in self.ops[: self.ops.index(op)]}
        return f"{op.layer.name}({', '.join(name for name in op.inputs if name not in inside)})"


def shown(op):
    return op.layer.kind not in PASSTHROUGH or op.layer.kind == "flatten"


def chain(layers, outputs, x):
    """A chain of Layers and their outputs (a canonical task, a Flax nnx.Sequential) as a Graph."""
    graph, previous = Graph(values={"x": x}), "x"
    for i, (layer, out) in enumerate(zip(layers, outputs)):
        name = f"{i}"
        graph.nodes.append(Node(name, layer, (previous,), owner=i if layer.kind in PARAMETRIZED else None))
        graph.values[name] = out
        previous = name
    return graph


def blocks(graph, rank=None):
    """The anchors in `rank` order (default: execution order), each with the ops that belong to it: an
    op belongs to the highest-ranked anchor it depends on, so two branches run in another order (a
    token and a position embedding) give the same blocks. A hidden op may depend on every anchor run
    before it; an op that depends on none goes with the anchor run last. A leading reshape, Flatten
    or Dropout belongs to no block, anything else before the first anchor is refused."""
    anchors = graph.anchors
    if not anchors:
        raise NotSupported("not supported yet: a model without a parametrized layer (Dense/Linear, Conv …)")
    rank = rank or {node.name: i for i, node in enumerate(anchors)}
    found = {rank[node.name]: Block(node) for node in anchors}
    level, highest, last = {}, -1, -1  # level: node -> the highest rank it depends on
    for node in graph.nodes:
        if node.layer.kind in PARAMETRIZED:
            level[node.name] = last = rank[node.name]
            highest = max(highest, last)
            continue
        k = (
            highest
            if node.layer.kind == "hidden"
            else max((level.get(n, -1) for n in node.inputs), default=-1)
        )
        level[node.name] = k = last if k < 0 else k
        if k >= 0:
            found[k].ops.append(node)
        elif node.layer.kind not in PASSTHROUGH + ("hidden",):
            raise NotSupported(f"not supported yet: {node.layer.name} before the first parametrized layer")
    mark_loose(graph, found.values())
    return [found[k] for k in sorted(found)]


def mark_loose(graph, found):
    """A block whose last value no captured op reads, and which is not the output, goes on in code the
    capture cannot see: a branch activated and joined in a subclassed `call` or a Flax `__call__`
    (SqueezeNet's Fire: cat([relu(expand1x1(x)), relu(expand3x3(x))])). Its ops are not known."""
    read = {name for node in graph.nodes if node.layer.kind != "hidden" for name in node.inputs}
    output = graph.output or graph.nodes[-1].name
    for block in found:
        last = (block.ops[-1] if block.ops else block.anchor).name
        block.loose = last not in read and last != output


def triples(graph, found):
    """Per block (input, pre, post): what enters the anchor, its output, and the last activation of its
    ops (a hidden integer tensor, such as the positions fed to the next Embedding, is no activation)."""
    out = []
    for block in found:
        handed = [op.name for op in block.ops if np.asarray(graph.values[op.name]).dtype.kind == "f"]
        last = (
            handed[-1] if handed else block.anchor.name
        )  # integers are indices (positions), not activations
        out.append(
            (graph.values[block.anchor.inputs[0]], graph.values[block.anchor.name], graph.values[last])
        )
    return out


def operand(graph, op, block):
    """The input of an add/concat/mul that does not come from the block itself: the skip value."""
    inside = {block.anchor.name} | {o.name for o in block.ops[: block.ops.index(op)]}
    others = [name for name in op.inputs if name not in inside]
    return graph.values[others[0]] if len(others) == 1 else None


@dataclass(frozen=True)
class Reused:
    """The owner of an anchor that reads another layer's weights in another layout: Flax's
    nnx.Embed.attend, the token table (V, E) used as an output kernel (E, V)."""

    weight: object  # the layer whose weights it uses
    use: str = "attend"


def weight_key(owner):
    """What identifies the weights an anchor used: the torch Parameter itself where the owner has one
    (two modules sharing one, a tied embedding and output layer, use one weight), else the owner."""
    return id(getattr(owner, "weight", owner))


def ties(found):
    """{block index: the earlier block whose weights it reuses}."""
    first, tied = {}, {}
    for i, block in enumerate(found):
        key = weight_key(block.anchor.owner)
        if key in first:
            tied[i] = first[key]
        else:
            first[key] = i
    return tied


class Recorder:
    """Builds a Graph while a framework runs: each output is registered by the identity of its tensor,
    and an input is found by identity first, then as the latest value equal to it, else hidden."""

    def __init__(self):
        self.graph, self.ids, self.counts = Graph(), {}, {}

    @staticmethod
    def value(tensor):
        """What the graph keeps of a framework's tensor: its NumPy value."""
        return np.asarray(tensor)

    def name(self, base):
        self.counts[base] = self.counts.get(base, -1) + 1
        return base if not self.counts[base] else f"{base}_{self.counts[base]}"

    def register(self, name, tensor, value):
        self.ids[id(tensor)] = (tensor, name)  # the tensor is kept alive: its id stays its own
        self.graph.values[name] = value

    def input(self, tensor, value):
        self.register("x", tensor, value)

    def constant(self, name, tensor, value):
        """A tensor the model holds or makes from nothing (a mask, torch.arange): known, not an op."""
        self.register(f"const:{name}", tensor, value)

    def constant_of(self, tensor):
        """Whether `tensor` is a known constant (a mask made from torch.ones, a buffer)."""
        return self.ids.get(id(tensor), (None, ""))[1].startswith("const:")

    def source(self, tensor, value):
        """The node that produced `tensor` (by identity, then by value), else a hidden node."""
        if id(tensor) in self.ids:
            return self.ids[id(tensor)][1]
        for name in reversed(list(self.graph.values)):
            known = self.graph.values[name]
            if np.shape(known) == np.shape(value) and np.array_equal(known, value):
                return name
        hidden = self.name("hidden")
        self.graph.nodes.append(Node(hidden, HIDDEN))
        self.register(hidden, tensor, value)
        return hidden

    def add(self, base, layer, inputs, tensor, value, owner=None):
        """A node reading `inputs` [(tensor, value)], producing `tensor` with canonical `value`."""
        names = tuple(self.source(t, v) for t, v in inputs)
        name = self.name(base)
        self.graph.nodes.append(Node(name, layer, names, owner))
        self.register(name, tensor, value)
        return name

    def output(self, tensor, value):
        """The model's output: a hidden node when the last captured op is not what it returned."""
        self.graph.output = self.source(tensor, value)
        return self.graph


class Deferred:
    """A Recorder's calls made while jax traces a model under jit, where every value is a tracer:
    `values` are what the compiled function returns, and `replay` makes the same calls, in the same
    order, on a Recorder with them as NumPy arrays (the tracers stay the tensors' identities)."""

    def __init__(self):
        self.calls, self.values = [], []

    @staticmethod
    def value(tensor):
        """The tracer itself: its value is what the compiled call returns."""
        return tensor

    def slot(self, value):
        self.values.append(value)
        return len(self.values) - 1

    def input(self, tensor, value):
        self.calls.append(("input", tensor, self.slot(value)))

    def add(self, base, layer, inputs, tensor, value, owner=None):
        inputs = [(t, self.slot(v)) for t, v in inputs]
        self.calls.append(("add", base, layer, inputs, tensor, self.slot(value), owner))

    def output(self, tensor, value):
        self.calls.append(("output", tensor, self.slot(value)))

    def replay(self, values, owner=lambda o: o):
        """The Graph of these calls with `values` (NumPy, in the order of self.values); `owner` maps
        an anchor's owner in the traced model to the model's own."""
        recorder = Recorder()
        for kind, *args in self.calls:
            if kind == "add":
                base, layer, inputs, tensor, k, key = args
                inputs = [(t, values[j]) for t, j in inputs]
                recorder.add(base, layer, inputs, tensor, values[k], None if key is None else owner(key))
            else:
                getattr(recorder, kind)(args[0], values[args[1]])
        return recorder.graph
