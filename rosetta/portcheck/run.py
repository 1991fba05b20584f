"""check(a, b, ...): structure → weights → forward → loss → gradients → steps, then the hints.

Everything here sees canonical NumPy arrays only; the adapters ran each framework.
"""

import numpy as np

from foundation import tolerances
from rosetta.portcheck import graph, hints, isolation, measured, sequences
from rosetta.portcheck.adapters import adapt
from rosetta.portcheck.report import Divergence, Report

INF = float("inf")  # the "relative difference" of a structural mismatch


class InputError(ValueError):
    """An input or target that cannot go into the models (width, NaN)."""


def check(a, b, x, y=None, loss=None, optimizer=None, steps=0):
    """Compare two models block by block; the user's models are never changed (see docs/porting.md),
    nor any process-wide setting of a framework."""
    with isolation.preserved():
        return compare(a, b, x, y, loss, optimizer, steps)


def compare(a, b, x, y, loss, optimizer, steps):
    (ma, loss_a), (mb, loss_b) = adapt(a), adapt(b)
    report = new_report(ma, mb)
    x = finite(x)
    if loss is not None and y is None:
        raise InputError("a loss needs the targets y")
    found_a, found_b = graph.blocks(bound(ma, x)), graph.blocks(bound(mb, x))
    order = align(report, ma.weights(), mb.weights(), found_a, found_b)
    if order is None:
        return report
    ma, mb = Aligned(ma, range(len(found_a))), Aligned(mb, order, [found_b[j] for j in order])
    blocks_a, blocks_b = graph.blocks(ma.graph, ma.rank), graph.blocks(mb.graph, mb.rank)
    ma.loose = mb.loose = {
        i for i, blocks in enumerate(zip(blocks_a, blocks_b)) if any(b.loose for b in blocks)
    }
    report.blocks = [  # b_at: the block's place in B's own execution order (the --html page draws it)
        {"a": ba.describe(), "b": bb.describe(), "b_at": j} for ba, bb, j in zip(blocks_a, blocks_b, order)
    ]
    ev = hints.Evidence(report, ma, mb, blocks_a, blocks_b, x, y)
    ev.fa, ev.fb = sequences.paired(ma.triples(ma.graph), mb.triples(mb.graph), blocks_a)
    if not structure(report, ev, loss is not None):
        return report
    measured.loosen(report, ev)
    ev.weights = compare_weights(report, ma.weights(), mb.weights())
    compare_forward(report, ev.fa, ev.fb)
    compare_running_means(report, ev)
    if loss is not None:
        names = loss if isinstance(loss, tuple) else (loss, loss)
        ev.loss_fns = loss_a(names[0]), loss_b(names[1])  # each framework's own loss object
        ev.loss_names = names
        compare_training(report, ev, optimizer, steps)
    report.hints = hints.diagnose(ev)
    return report


class Aligned:
    """A captured model with its per-anchor lists in the order of the other model's anchors, and its
    blocks ranked so (graph.blocks)."""

    def __init__(self, model, order, ordered=None):
        self.model, self.order = model, list(order)
        ordered = ordered or graph.blocks(model.graph)
        self.rank = {block.anchor.name: i for i, block in enumerate(ordered)}
        self.loose = set()  # blocks loose on either side: compared at the anchor's output only

    def __getattr__(self, name):
        return getattr(self.model, name)

    def pick(self, per_anchor):
        return [per_anchor[j] for j in self.order]

    def triples(self, captured):
        found = graph.triples(captured, graph.blocks(captured, self.rank))
        return [(x, pre, pre if i in self.loose else post) for i, (x, pre, post) in enumerate(found)]

    def weights(self):
        return self.pick(self.model.weights())

    def loss_and_grads(self, x, y, loss_fn):
        loss, grads = self.model.loss_and_grads(x, y, loss_fn)
        return loss, self.pick(grads)

    def train(self, x, y, loss_fn, optimizer, steps):
        record, rule = self.model.train(x, y, loss_fn, optimizer, steps)
        return [
            step | {"params": self.pick(step["params"]), "grads": self.pick(step["grads"])} for step in record
        ], rule

    def training_pass(self, x):
        captured, weights = self.model.training_pass(x)
        return self.triples(captured), self.pick(weights)

    def outputs_as_left(self, x):
        captured = self.model.outputs_as_left(x)
        return None if captured is None else self.triples(captured)


def align(report, wa, wb, blocks_a, blocks_b):
    """B's anchor for each of A's: the same kind holding the same weights (in any order), then, for
    a wrong port whose weights differ, the rest in execution order, said in the notes. None when the
    anchors cannot be paired: the structural mismatch is in the report."""
    tol = report.tolerance["forward"]
    order, free = pair(
        len(blocks_a),
        len(blocks_b),
        lambda i, j: same_weights(blocks_a[i], blocks_b[j], wa[i], wb[j], report.dtype, tol),
    )
    rest = [i for i, j in enumerate(order) if j is None]
    if len(blocks_a) != len(blocks_b):
        report.blocks = [{"a": ba.describe(), "b": bb.describe()} for ba, bb in zip(blocks_a, blocks_b)]
        at = rest[0] if rest else len(blocks_a)
        extra = blocks_a[at].describe() if rest else blocks_b[free[0]].describe()
        message = f"{len(blocks_a)} blocks vs {len(blocks_b)}: {extra} has no counterpart"
        report.divergences.append(Divergence("structure", at, "linear", INF, message=message))
        return None
    for i, j in zip(rest, free):
        order[i] = j
    if rest:
        report.notes.append(f"blocks {rest} matched by execution order and shapes: their weights differ")
    return order


def pair(n_a, n_b, same):
    """B's index for each of A's n_a anchors, in execution order: the first of B's not yet taken for
    which same(i, j), else None; and B's indices left (rosetta.transfer pairs by kind and shapes)."""
    free, order = list(range(n_b)), []
    for i in range(n_a):
        match = next((j for j in free if same(i, j)), None)
        order.append(match)
        if match is not None:
            free.remove(match)
    return order, free


def same_weights(ba, bb, la, lb, dtype, tol):
    keys = sorted(set(la) & set(lb))  # torch's LSTM also keeps "b_hh" (for a hint): shared keys only
    if ba.head.kind != bb.head.kind or not keys:
        return False
    return all(np.shape(la[k]) == np.shape(lb[k]) for k in keys) and rel_layer(la, lb, dtype) <= tol


def compare_training(report, ev, optimizer, steps):
    """The loss and gradients, then `steps` optimizer steps on copies."""
    (ma, mb), (fa, fb) = (ev.ma, ev.mb), ev.loss_fns
    ev.la, ev.ga = ma.loss_and_grads(ev.x, ev.y, fa)
    ev.lb, ev.gb = mb.loss_and_grads(ev.x, ev.y, fb)
    measured.loosen_loss(report, ev, ev.loss_names)
    compare_loss(report, ev)
    if optimizer is not None and steps:
        ev.ra, ev.form_a = ma.train(ev.x, ev.y, fa, optimizer[0], steps)
        ev.rb, ev.form_b = mb.train(ev.x, ev.y, fb, optimizer[1], steps)
        compare_steps(report, ev.ra, ev.rb)
        rules(report, ev)


def rules(report, ev):
    """Two update rules that differ are different even while k steps stay within tolerance: named
    at step 1 when the replay tells them apart there (hints.rule_gap)."""
    found = hints.rule_gap(ev)
    if found is not None and not any(d.stage == "step" for d in report.divergences):
        k, kind, gap = found
        message = f"the update rules differ ({kind}), {gap:.1e} apart at step {k}, within tolerance"
        report.divergences.append(Divergence("step", 0, "linear", gap, step=k, message=message))


def new_report(ma, mb):
    """The report with the tolerances of the looser dtype of the two, saying so when they differ."""
    dtypes = {ma.compute_dtype, mb.compute_dtype}
    dtype = "float32" if "float32" in dtypes else "float64"
    report = Report(
        ma.framework,
        mb.framework,
        dtype,
        {
            "forward": tolerances.FORWARD[dtype],
            "gradient": tolerances.FORWARD[dtype],  # the loss and gradients; measured.loosen may loosen it
            "trajectory": tolerances.TRAJECTORY[dtype],
        },
    )
    report.notes = [f"{m.framework}: {note}" for m in (ma, mb) for note in m.notes]
    for m in (ma, mb):
        if m.compute_dtype != m.dtype:
            report.notes.append(f"{m.framework} holds {m.dtype} weights but computes in {m.compute_dtype}")
    if len({ma.dtype, mb.dtype}) == 2:
        report.notes.append(f"the models differ in dtype ({ma.dtype} vs {mb.dtype}): {dtype} tolerances")
    return report


RANK = {
    "conv2d": (4, "(N, H, W, {}): NHWC images"),
    "conv_transpose": (4, "(N, H, W, {}): NHWC images"),
    "conv1d": (3, "(N, T, {}): channels last"),
    "lstm": (3, "(N, T, {})"),
    "gru": (3, "(N, T, {})"),
    "attention": (3, "(N, T, {})"),
}


def finite(x):
    x = np.asarray(x)
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise InputError("input contains NaN or Inf")
    return x


def bound(m, x):
    """The model's graph on x, then x checked against every layer that reads it. Where the model does
    not run on x, the layer it most likely reads first (registration order: a guess) names what it
    takes, if that explains the failure."""
    try:
        captured = m.bind(x)
    except ValueError:
        if m.first is not None:
            checked_input(x, m.first)
        raise
    for node in captured.anchors:
        if node.inputs[0] == "x":
            checked_input(x, node.layer)
    return captured


def checked_input(x, head):
    """x as `head` takes it: (N, n_in), NHWC images (N, H, W, C), sequences (N, T, F), token ids."""
    if head.kind == "embedding":
        if x.dtype.kind not in "iu" or x.min(initial=0) < 0 or x.max(initial=0) >= head.n_in:
            raise InputError(
                f"input of {x.dtype} in [{x.min()}, {x.max()}]: the models take token ids in [0, {head.n_in})"
            )
        return x
    default = (2, "(N, {})") if x.ndim <= 2 else (x.ndim, "(N, …, {}): features last")  # Dense, a norm
    rank, shape = RANK.get(head.kind, default)
    if x.ndim != rank or x.shape[-1] != head.n_in:
        raise InputError(f"input of shape {x.shape}: the models take {shape.format(head.n_in)}")


def mismatch(report, block, part, message):
    report.divergences.append(Divergence("structure", block, part, INF, message=message))
    report.blocks[block].setdefault("structure", []).append(message)


def structure(report, ev, training):
    """Record every structural mismatch; False when the blocks cannot be compared number for number.
    Ops spelled differently that give the same values (torch.relu and a fused Dense activation) agree;
    a weight tied on one side only matters once gradients are compared."""
    aligned = True
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        ha, hb = ba.head, bb.head
        if (ha.kind, ha.n_in, ha.n_out, ha.config) != (hb.kind, hb.n_in, hb.n_out, hb.config):
            mismatch(report, i, "linear", f"{ha.name} vs {hb.name}")
            aligned = False
        elif ha.bias != hb.bias:
            mismatch(report, i, "linear", f"bias on the {'first' if ha.bias else 'second'} model only")
        if ba.seen and bb.seen and ba.signature() != bb.signature() and not same_post(ev, i):
            mismatch(report, i, "activation", ops_message(ba, bb))
    tied = graph.ties(ev.blocks_a), graph.ties(ev.blocks_b)
    for i in sorted(set(tied[0].items()) ^ set(tied[1].items())):
        side = 0 if i in tied[0].items() else 1
        names = (report.a, report.b)
        message = (
            f"block {i[0]} reuses block {i[1]}'s weights on {names[side]}, holds its own on {names[1 - side]}"
        )
        if training:
            mismatch(report, i[0], "linear", message)
        else:
            report.notes.append(message + " (the same forward; gradients would differ)")
    return aligned


def ops_message(ba, bb):
    """What differs between two blocks' ops: the pooling, or the ops that ran on each side."""
    pools = [[layer.config for layer in blk.layers if layer.kind == "pool"] for blk in (ba, bb)]
    if pools[0] != pools[1]:
        return f"pooling {pools[0]} vs {pools[1]}"
    names = [
        " → ".join(blk.label(op) for op in blk.ops if graph.shown(op)) or "no activation" for blk in (ba, bb)
    ]
    return f"{names[0]} vs {names[1]}"


def same_post(ev, i):
    u, v = ev.fa[i][2], ev.fb[i][2]
    return (
        np.shape(u) == np.shape(v)
        and tolerances.rel_diff(u, v, ev.report.dtype) <= ev.report.tolerance["forward"]
    )


def rel_layer(la, lb, dtype):
    """Two canonical layers' shared arrays as one vector: max|a − b| / max|b| (tolerances.rel_diff)."""
    keys = [k for k in lb if k in la and np.shape(la[k]) == np.shape(lb[k])]
    if not keys:
        return 0.0
    flat = [np.concatenate([np.ravel(layer[k]).astype(np.float64) for k in keys]) for layer in (la, lb)]
    return tolerances.rel_diff(flat[0], flat[1], dtype)


def compare_weights(report, wa, wb):
    """Per block: "equal", "transposed" (equal only as Wᵀ, square layers included) or "different"."""
    tol, status = report.tolerance["forward"], []
    for i, (la, lb) in enumerate(zip(wa, wb)):
        rel = rel_layer(la, lb, report.dtype)
        transposed = (
            "W" in la
            and la["W"].shape == la["W"].T.shape
            and rel_layer({"W": la["W"].T}, lb, report.dtype) <= tol
        )
        state = "equal" if rel <= tol else "transposed" if transposed else "different"
        report.blocks[i].update(weights=state, weights_rel=rel)
        if state != "equal":
            report.divergences.append(Divergence("weights", i, "linear", rel, message=f"weights {state}"))
        status.append(state)
    return status


def compare_forward(report, fa, fb):
    for i, ((_, pre_a, post_a), (_, pre_b, post_b)) in enumerate(zip(fa, fb)):
        row = report.blocks[i]
        tol = row.get("tolerance", report.tolerance["forward"])
        for part, key, (u, v) in (
            ("linear", "pre", (pre_a, pre_b)),
            ("activation", "post", (post_a, post_b)),
        ):
            u, v = squeezed(u, v)
            if np.shape(u) != np.shape(v):  # e.g. "valid" vs "same" padding
                message = f"output shapes {np.shape(u)[1:]} vs {np.shape(v)[1:]}"
                report.divergences.append(Divergence("forward", i, part, INF, message=message))
                row[key] = INF
                continue
            row[key] = tolerances.rel_diff(u, v, report.dtype)
            row[key + "_abs"] = float(np.max(np.abs(np.asarray(u, np.float64) - v))) if np.size(u) else 0.0
            if row[key] > tol:
                report.divergences.append(Divergence("forward", i, part, row[key]))


def squeezed(u, v):
    """Two values whose shapes differ by leading axes of size 1 only (a position table looked up as
    (1, T) or (T,)): the same numbers, broadcast alike, compared without those axes."""
    su, sv = np.shape(u), np.shape(v)
    strip = lambda shape: shape[next((k for k, n in enumerate(shape) if n != 1), len(shape)) :]  # noqa: E731
    if su != sv and strip(su) == strip(sv):
        return np.reshape(u, strip(su)), np.reshape(v, strip(sv))
    return u, v


def trainable_pass(ev):
    """Both models hold BatchNorm, no Dropout (its masks differ across frameworks), and neither is
    canonical (it has no training mode)."""
    layers = [layer for blocks in (ev.blocks_a, ev.blocks_b) for block in blocks for layer in block.layers]
    has = [hasattr(m.model, "training_pass") for m in (ev.ma, ev.mb)]
    batchnorm = all(any(b.head.kind == "batchnorm" for b in blocks) for blocks in (ev.blocks_a, ev.blocks_b))
    return all(has) and batchnorm and not any(layer.kind == "dropout" and layer.rate for layer in layers)


def compare_running_means(report, ev):
    """One training-mode forward on copies of both models: each BatchNorm's running mean after it
    (not the variance: torch updates it with the unbiased batch variance, Keras and Flax the biased)."""
    if not trainable_pass(ev):
        return
    (ev.ta, ev.sa), (ev.tb, ev.sb) = (m.training_pass(ev.x) for m in (ev.ma, ev.mb))
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        if ba.head.kind != "batchnorm" or bb.head.kind != "batchnorm":
            continue
        means = ev.sa[i]["moving_mean"], ev.sb[i]["moving_mean"]
        rel = tolerances.rel_diff(*means, report.dtype)
        report.blocks[i]["running_mean"] = rel
        tol = report.blocks[i].get("tolerance", report.tolerance["forward"])
        if report.dtype == "float64" and any(mean.dtype == np.float32 for mean in means):
            tol = tolerances.FORWARD["float32"]  # measured: the statistics are held in float32
            report.notes.append(
                f"block {i}: BatchNorm statistics held in float32; float32 tolerance for them"
            )
        if rel > tol:
            message = "running mean after one training-mode forward differs"
            report.divergences.append(Divergence("weights", i, "linear", rel, message=message))


def compare_loss(report, ev):
    rel = abs(ev.la - ev.lb) / max(abs(ev.lb), tolerances.TINY[report.dtype])
    report.loss = {"a": ev.la, "b": ev.lb, "rel": rel}
    tol = report.tolerance["gradient"]
    if rel > tol:
        report.divergences.append(Divergence("loss", None, None, rel))
    rels = [rel_layer(ga, gb, report.dtype) for ga, gb in zip(ev.ga, ev.gb)]
    noise = measured.gradient_noise(report, ev, rels, rel_layer)
    for i, rel in enumerate(rels):
        report.blocks[i]["grad"] = rel
        if rel > tol and not (noise and rel <= measured.NOISE * noise[1][i]):
            report.divergences.append(Divergence("gradient", i, "linear", rel))


def compare_steps(report, ra, rb):
    """The weights after each step; only the first diverging step is a divergence."""
    tol = report.tolerance["trajectory"]
    for k, (sa, sb) in enumerate(zip(ra, rb), start=1):
        report.steps.append([rel_layer(la, lb, report.dtype) for la, lb in zip(sa["params"], sb["params"])])
        bad = [i for i, rel in enumerate(report.steps[-1]) if rel > tol]
        if bad and not any(d.stage == "step" for d in report.divergences):
            report.divergences.append(Divergence("step", bad[0], "linear", report.steps[-1][bad[0]], step=k))
