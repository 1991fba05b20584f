"""rosetta.transfer(src, dst): a trained model's weights copied into its port, in place (docs/porting.md).

Both models are captured as `check` captures them (run.bound), on `x` or on a small input made from the
input shape one of them states. Their parametrized layers are paired by kind, settings, weight shapes
and execution order (run.pair): dst's weights are not src's yet, so they cannot be matched by value.
Each of src's layers is read into canonical arrays by its adapter and written into its counterpart by
dst's adapter, through the layouts of foundation.layouts both ways. The whole plan is built and checked
first; a layer with no counterpart, two alike that order cannot tell apart, a shape no layout rule
explains, or two values for one array that dst ties is refused in one line, and nothing is written.
"""

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from foundation import tolerances
from foundation.errors import first_line
from rosetta.portcheck import isolation
from rosetta.portcheck.adapters import adapt
from rosetta.portcheck.layers import PARAMETRIZED, NotSupported
from rosetta.portcheck.run import bound, finite, pair

AUXILIARY = "b_hh"  # torch's LSTM adapter also hands its bias_hh alone (for a hint): not a canonical key
SEQUENCES = ("lstm", "gru", "attention")  # a first layer reading (N, T, F)
FEATURES = ("dense", "batchnorm", "layernorm", "rmsnorm")  # a first layer reading (N, F)
SETTINGS = {"attention": "(heads, head size)"}  # what Layer.config holds; else a conv's (kernel, stride)


class TransferError(NotSupported):
    """A transfer refused before any write: one line naming the layer and what was expected."""


@dataclass
class Mapping:
    """What a transfer did: a row per pair of layers, (src name, dst name, conversion), each side's
    arrays written in the canonical keys (W, b, U, gamma …)."""

    src: str
    dst: str
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def to_dict(self):
        rows = [{"src": a, "dst": b, "conversion": how} for a, b, how in self.rows]
        return {"src": self.src, "dst": self.dst, "rows": rows, "notes": list(self.notes)}

    def __str__(self):
        wide = [max((len(row[k]) for row in self.rows), default=0) for k in (0, 1)]
        lines = [f"  {a:<{wide[0]}}  →  {b:<{wide[1]}}   {how}" for a, b, how in self.rows]
        head = f"{self.src} → {self.dst}: {len(self.rows)} layers (src → dst: src's arrays → dst's)"
        return "\n".join([head, *lines, *(f"note: {note}" for note in self.notes)])


def transfer(src, dst, x=None):
    """Copy src's weights into dst (torch, Keras, Flax NNX or canonical), in place; the Mapping used.
    Changes no setting of the user's process (rosetta.portcheck.isolation)."""
    with isolation.preserved():
        (ma, _), (mb, _) = adapt(src), adapt(dst)
        ga, gb = captured(ma, mb, x)
        wa, wb = layouts(ma.weights()), layouts(mb.weights())
        order = aligned(ma, mb, (ga, gb), (wa, wb))
        plan, mapping = planned(ma, mb, order, wa)
        written(mb, plan)
        return mapping


def layouts(weights):
    return [{k: v for k, v in layer.items() if not k.startswith(AUXILIARY)} for layer in weights]


def captured(ma, mb, x):
    """Both models' graphs on x; without x, on the first of `samples` both models run on."""
    if x is not None:
        x = finite(x)
        return bound(ma, x), bound(mb, x)
    for x in samples(ma, mb):
        try:
            return bound(ma, x), bound(mb, x)
        except ValueError:  # a guess of the first layer's input that was wrong: the next one
            continue
    raise TransferError(
        "give x (rosetta.transfer(src, dst, x), --input): neither model states the shape of its input "
        "(a convolution's height and width), nor runs on one made for its first layer"
    )


def samples(ma, mb, n=2, steps=4):
    """Inputs to try: n samples of the input shape a model states (a canonical task's, a Keras model's
    Input), then of what each one's first layer reads (features; `steps` steps for a recurrent or
    attention layer; token ids below an Embedding's size)."""
    rng = np.random.default_rng(0)
    firsts = [m.first for m in (ma, mb) if m.first is not None]
    vocab = min((first.n_in for first in firsts if first.kind == "embedding"), default=2)
    for m in (ma, mb):
        stated = m.input_shape() if hasattr(m, "input_shape") else None
        if stated:
            shape, dtype = (n, *(steps if d is None else d for d in stated[0])), np.dtype(stated[1])
            yield rng.integers(0, vocab, shape) if dtype.kind in "iu" else rng.normal(size=shape)
    for first in firsts:
        if first.kind == "embedding":
            yield rng.integers(0, first.n_in, (n, steps))
        elif first.kind in SEQUENCES + FEATURES:
            yield rng.normal(size=(n, steps, first.n_in) if first.kind in SEQUENCES else (n, first.n_in))


def signature(node, layer):
    """What pairs two anchors: kind, settings (kernel and stride, heads) and canonical weight shapes."""
    return node.layer.kind, node.layer.config, tuple(sorted((k, np.shape(v)) for k, v in layer.items()))


def aligned(ma, mb, graphs, weights):
    """dst's anchor for each of src's: the first not yet taken with src's signature, in execution order
    (run.pair); refused where one is left without a counterpart or the order is ambiguous."""
    signatures = [[signature(node, w) for node, w in zip(g.anchors, ws)] for g, ws in zip(graphs, weights)]
    order, free = pair(*map(len, signatures), lambda i, j: signatures[0][i] == signatures[1][j])
    if None in order or free:
        raise TransferError(unpaired((ma, mb), graphs, weights, order, free))
    ambiguous((ma, mb), graphs, weights[0], order, signatures[0])
    return order


def unpaired(models, graphs, weights, order, free):
    """The refusal for the first layer left alone: where one of the other side's is of its kind, what
    differs between them (a key, a shape, a setting); else that it has no counterpart."""
    (na, nb), (ha, hb) = (m.names() for m in models), ([n.layer for n in g.anchors] for g in graphs)
    counts = f"src has {len(ha)} parametrized layers, dst {len(hb)}"
    rest = [i for i, j in enumerate(order) if j is None]
    if not rest:
        return f"dst's {nb[free[0]]} ({hb[free[0]].name}) has no counterpart in src: {counts}"
    i = rest[0]
    alike = [j for j in free if hb[j].kind == ha[i].kind]
    if not alike:
        return f"src's {na[i]} ({ha[i].name}) has no counterpart in dst: {counts}"
    j = alike[0]
    what = difference(weights[0][i], weights[1][j], ha[i], hb[j])
    return f"src's {na[i]} ({ha[i].name}) and dst's {nb[j]} ({hb[j].name}), paired by kind and order: {what}"


def difference(la, lb, ha, hb):
    """A key on one side only, a shape no layout rule maps onto the other, or a setting."""
    if set(la) != set(lb):
        key = sorted(set(la) ^ set(lb))[0]
        return f"{key!r} on {'src' if key in la else 'dst'}'s side only"
    for key in sorted(la):
        if np.shape(la[key]) != np.shape(lb[key]):
            shapes = f"{np.shape(la[key])} vs {np.shape(lb[key])}"
            return f"{key} {shapes}: no layout rule maps one onto the other"
    return f"{SETTINGS.get(ha.kind, '(kernel, stride)')} {ha.config} vs {hb.config}"


def ambiguous(models, graphs, wa, order, signatures):
    """Refuse two of src's layers alike (one signature) with different weights on branches neither of
    which reads the other, on either side: their execution order alone cannot tell which is which."""
    (na, nb), (ga, gb) = (m.names() for m in models), graphs
    up_a, up_b = depends(ga), depends(gb)
    for i, k in combinations(range(len(order)), 2):
        if signatures[i] != signatures[k] or equal(wa[i], wa[k]):
            continue
        sides = [
            parallel(up_a, ga.anchors[i].name, ga.anchors[k].name),
            parallel(up_b, gb.anchors[order[i]].name, gb.anchors[order[k]].name),
        ]
        if any(sides):
            where = " and ".join(side for side, yes in zip(("src", "dst"), sides) if yes)
            raise TransferError(
                f"ambiguous: src's {na[i]} and {na[k]} ({ga.anchors[i].layer.name}) are alike and, on "
                f"{where}, neither reads the other's output: order cannot tell which of dst's "
                f"{nb[order[i]]}, {nb[order[k]]} takes which"
            )


def depends(graph):
    """{node name: the anchors its value depends on, itself included}. A hidden node (code the capture
    could not see) depends on every anchor run before it."""
    up, run = {}, set()
    for node in graph.nodes:
        hidden = node.layer.kind == "hidden"
        found = set(run) if hidden else set().union(*(up.get(name, set()) for name in node.inputs))
        if node.layer.kind in PARAMETRIZED:
            found.add(node.name)
            run.add(node.name)
        up[node.name] = found
    return up


def parallel(up, a, b):
    return a not in up[b] and b not in up[a]


def equal(la, lb):
    return la.keys() == lb.keys() and all(np.array_equal(la[k], lb[k]) for k in la)


def planned(ma, mb, order, wa):
    """Every write, computed and checked before any is made; the mapping, each side's arrays in the
    canonical keys (src's read by its own adapter's rules, run backwards)."""
    (na, nb), mapping = (ma.names(), mb.names()), Mapping(ma.framework, mb.framework)
    plan, first, tol = [], {}, tolerances.FORWARD.get(mb.dtype, tolerances.FORWARD["float32"])
    for i, j in enumerate(order):
        try:
            reading, writes = ma.writes(i, wa[i]), mb.writes(j, wa[i])
        except NotSupported as exc:
            raise TransferError(f"src's {na[i]} into dst's {nb[j]}: {exc}") from exc
        tied = [w for w in writes if not placed(w, na[i], first, plan, tol)]
        rules = ["; ".join(w.rule for w in side) for side in (reading, writes)]
        ties = "".join(f" (tied, {shared(w, first[id(w.target)][0])}: written once)" for w in tied)
        mapping.rows.append((na[i], nb[j], f"{rules[0]}  →  {rules[1]}{ties}"))
    if ma.dtype != mb.dtype:
        mapping.notes.append(f"src holds {ma.dtype}, dst {mb.dtype}: the values are cast to dst's")
    return plan, mapping


def placed(w, src_name, first, plan, tol):
    """Add `w` to the plan unless dst ties its array to one planned already (the same tensor or variable
    in two places): then src's two values for it must agree. False for a tie."""
    if w.value.shape != tuple(w.target.shape):
        raise TransferError(f"dst's {w.name} is {tuple(w.target.shape)}: {w.rule} gives {w.value.shape}")
    if id(w.target) not in first:
        first[id(w.target)] = (w, src_name)
        plan.append(w)
        return True
    prior, by = first[id(w.target)]
    gap = tolerances.rel_diff(w.value, prior.value, str(w.value.dtype))
    if gap > tol:
        raise TransferError(
            f"dst ties two layers to one array ({shared(w, prior)}): src's {by} and {src_name} hold "
            f"different values for it ({gap:.1e} apart)"
        )
    return False


def shared(w, prior):
    """How dst shares one array between two layers: two names for it, or one layer run twice."""
    return f"{w.name} is {prior.name}" if w.name != prior.name else f"{w.name} serves a layer run twice"


def written(model, plan):
    """Every write made; should one fail, those made are undone (dst as it was) and the transfer refused."""
    done = []
    try:
        for w in plan:
            old = model.current(w.target)
            model.assign(w.target, w.value)
            done.append((w.target, old))
    except Exception as exc:
        for target, old in reversed(done):
            model.assign(target, old)
        raise TransferError(f"dst left as it was: writing {w.name} failed: {first_line(exc)}") from exc
