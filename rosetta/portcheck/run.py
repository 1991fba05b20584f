"""check(a, b, ...): structure → weights → forward → loss → gradients → steps, then the hints.

Everything here sees canonical NumPy arrays only; the adapters ran each framework.
"""

import numpy as np

from rosetta import tolerances
from rosetta.portcheck import hints
from rosetta.portcheck.adapters import adapt
from rosetta.portcheck.layers import group, split_outputs
from rosetta.portcheck.report import Divergence, Report

INF = float("inf")  # the "relative difference" of a structural mismatch


class InputError(ValueError):
    """An input or target that cannot go into the models (width, NaN)."""


def check(a, b, x, y=None, loss=None, optimizer=None, steps=0):
    """Compare two models block by block; the user's models are never changed (see docs/porting.md)."""
    (ma, loss_a), (mb, loss_b) = adapt(a), adapt(b)
    report = new_report(ma, mb)
    blocks_a, blocks_b = group(ma.layers), group(mb.layers)
    report.blocks = [{"a": ba.describe(), "b": bb.describe()} for ba, bb in zip(blocks_a, blocks_b)]
    if not structure(report, blocks_a, blocks_b):
        return report
    x = checked_input(x, blocks_a[0].head)
    for m in (ma, mb):
        if hasattr(m, "bind"):
            m.bind(x)  # torch learns its activations' shapes: NCHW <-> NHWC, the flatten order
    if loss is not None and y is None:
        raise InputError("a loss needs the targets y")
    ev = hints.Evidence(report, ma, mb, blocks_a, blocks_b, x, y)
    ev.weights = compare_weights(report, ma.weights(), mb.weights())
    ev.fa, ev.fb = (split_outputs(m.layers, m.tensor(x), m.outputs(x)) for m in (ma, mb))
    compare_forward(report, ev.fa, ev.fb)
    compare_running_means(report, ev)
    if loss is not None:
        names = loss if isinstance(loss, tuple) else (loss, loss)
        ev.loss_fns = loss_a(names[0]), loss_b(names[1])  # each framework's own loss object
        compare_training(report, ev, optimizer, steps)
    report.hints = hints.diagnose(ev)
    return report


def compare_training(report, ev, optimizer, steps):
    """The loss and gradients, then `steps` optimizer steps on copies."""
    (ma, mb), (fa, fb) = (ev.ma, ev.mb), ev.loss_fns
    ev.la, ev.ga = ma.loss_and_grads(ev.x, ev.y, fa)
    ev.lb, ev.gb = mb.loss_and_grads(ev.x, ev.y, fb)
    compare_loss(report, ev)
    if optimizer is not None and steps:
        ev.ra, ev.form_a = ma.train(ev.x, ev.y, fa, optimizer[0], steps)
        ev.rb, ev.form_b = mb.train(ev.x, ev.y, fb, optimizer[1], steps)
        compare_steps(report, ev.ra, ev.rb)


def new_report(ma, mb):
    """The report with the tolerances of the looser dtype of the two, saying so when they differ."""
    dtypes = {ma.compute_dtype, mb.compute_dtype}
    dtype = "float32" if "float32" in dtypes else "float64"
    report = Report(
        ma.framework,
        mb.framework,
        dtype,
        {"forward": tolerances.FORWARD[dtype], "trajectory": tolerances.TRAJECTORY[dtype]},
    )
    report.notes = [f"{m.framework}: {note}" for m in (ma, mb) for note in m.notes]
    for m in (ma, mb):
        if m.compute_dtype != m.dtype:
            report.notes.append(f"{m.framework} holds {m.dtype} weights but computes in {m.compute_dtype}")
    if len({ma.dtype, mb.dtype}) == 2:
        report.notes.append(f"the models differ in dtype ({ma.dtype} vs {mb.dtype}): {dtype} tolerances")
    return report


RANK = {"conv2d": (4, "(N, H, W, {}): NHWC images"), "lstm": (3, "(N, T, {})"), "gru": (3, "(N, T, {})")}


def checked_input(x, head):
    """x as the first block takes it: (N, n_in), NHWC images (N, H, W, C) or sequences (N, T, F)."""
    x = np.asarray(x)
    rank, shape = RANK.get(head.kind, (2, "(N, {})"))
    if x.ndim != rank or x.shape[-1] != head.n_in:
        raise InputError(f"input of shape {x.shape}: the models take {shape.format(head.n_in)}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise InputError("input contains NaN or Inf")
    return x


def mismatch(report, block, part, message):
    report.divergences.append(Divergence("structure", block, part, INF, message=message))
    report.blocks[block].setdefault("structure", []).append(message)


def structure(report, blocks_a, blocks_b):
    """Record every structural mismatch; False when the blocks cannot be aligned number for number."""
    if len(blocks_a) != len(blocks_b):
        message = f"{len(blocks_a)} blocks vs {len(blocks_b)}"  # the first block only one side has:
        report.divergences.append(Divergence("structure", len(report.blocks), "linear", INF, message=message))
        return False
    aligned = True
    for i, (ba, bb) in enumerate(zip(blocks_a, blocks_b)):
        ha, hb = ba.head, bb.head
        if (ha.kind, ha.n_in, ha.n_out, ha.config) != (hb.kind, hb.n_in, hb.n_out, hb.config):
            mismatch(report, i, "linear", f"{ha.name} vs {hb.name}")
            aligned = False
        elif ha.bias != hb.bias:
            mismatch(report, i, "linear", f"bias on the {'first' if ha.bias else 'second'} model only")
        if [act.act for act in ba.acts] != [act.act for act in bb.acts]:
            names = [" → ".join(act.name for act in blk.acts) or "no activation" for blk in (ba, bb)]
            mismatch(report, i, "activation", f"{names[0]} vs {names[1]}")
        pools = [[layer.config for layer in blk.layers if layer.kind == "pool"] for blk in (ba, bb)]
        if pools[0] != pools[1]:
            mismatch(report, i, "activation", f"pooling {pools[0]} vs {pools[1]}")
    return aligned


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
    tol = report.tolerance["forward"]
    for i, ((_, pre_a, post_a), (_, pre_b, post_b)) in enumerate(zip(fa, fb)):
        row = report.blocks[i]
        for part, key, (u, v) in (
            ("linear", "pre", (pre_a, pre_b)),
            ("activation", "post", (post_a, post_b)),
        ):
            if np.shape(u) != np.shape(v):  # e.g. "valid" vs "same" padding
                message = f"output shapes {np.shape(u)[1:]} vs {np.shape(v)[1:]}"
                report.divergences.append(Divergence("forward", i, part, INF, message=message))
                row[key] = INF
                continue
            row[key] = tolerances.rel_diff(u, v, report.dtype)
            row[key + "_abs"] = float(np.max(np.abs(np.asarray(u, np.float64) - v))) if np.size(u) else 0.0
            if row[key] > tol:
                report.divergences.append(Divergence("forward", i, part, row[key]))


def trainable_pass(ev):
    """Both models hold BatchNorm, no Dropout (its masks differ across frameworks), and neither is
    canonical (it has no training mode)."""
    layers = ev.ma.layers + ev.mb.layers
    has = [hasattr(m, "training_pass") for m in (ev.ma, ev.mb)]
    batchnorm = all(any(b.head.kind == "batchnorm" for b in blocks) for blocks in (ev.blocks_a, ev.blocks_b))
    return all(has) and batchnorm and not any(layer.kind == "dropout" and layer.rate for layer in layers)


def compare_running_means(report, ev):
    """One training-mode forward on copies of both models: each BatchNorm's running mean after it
    (not the variance: torch updates it with the unbiased batch variance, Keras and Flax the biased)."""
    if not trainable_pass(ev):
        return
    (outs_a, ev.sa), (outs_b, ev.sb) = (m.training_pass(ev.x) for m in (ev.ma, ev.mb))
    ev.ta, ev.tb = (split_outputs(m.layers, m.tensor(ev.x), o) for m, o in ((ev.ma, outs_a), (ev.mb, outs_b)))
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        if ba.head.kind != "batchnorm" or bb.head.kind != "batchnorm":
            continue
        rel = tolerances.rel_diff(ev.sa[i]["moving_mean"], ev.sb[i]["moving_mean"], report.dtype)
        report.blocks[i]["running_mean"] = rel
        if rel > report.tolerance["forward"]:
            message = "running mean after one training-mode forward differs"
            report.divergences.append(Divergence("weights", i, "linear", rel, message=message))


def compare_loss(report, ev):
    rel = abs(ev.la - ev.lb) / max(abs(ev.lb), tolerances.TINY[report.dtype])
    report.loss = {"a": ev.la, "b": ev.lb, "rel": rel}
    if rel > report.tolerance["forward"]:
        report.divergences.append(Divergence("loss", None, None, rel))
    for i, (ga, gb) in enumerate(zip(ev.ga, ev.gb)):
        report.blocks[i]["grad"] = rel_layer(ga, gb, report.dtype)
        if report.blocks[i]["grad"] > report.tolerance["forward"]:
            report.divergences.append(Divergence("gradient", i, "linear", report.blocks[i]["grad"]))


def compare_steps(report, ra, rb):
    """The weights after each step; only the first diverging step is a divergence."""
    tol = report.tolerance["trajectory"]
    for k, (sa, sb) in enumerate(zip(ra, rb), start=1):
        report.steps.append([rel_layer(la, lb, report.dtype) for la, lb in zip(sa["params"], sb["params"])])
        bad = [i for i, rel in enumerate(report.steps[-1]) if rel > tol]
        if bad and not any(d.stage == "step" for d in report.divergences):
            report.divergences.append(Divergence("step", bad[0], "linear", report.steps[-1][bad[0]], step=k))
