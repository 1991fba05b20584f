"""Tolerances from what was measured: a float64 block is compared at float32 tolerance only where one
side really computes it in float32, and only that block. The test: the block re-run in NumPy float64
from that side's own captured input is further from its own output than float64's tolerance allows
(TensorFlow holds a LeakyReLU slope as a float32 attribute; off TensorFlow, Keras's type promotion maps
float64 to float32 in some ops). Where a block cannot be re-run, it keeps its dtype's tolerance."""

import numpy as np

from foundation import tolerances
from reference_numpy import conv, mlp
from rosetta.portcheck import attention, hints, sequences


def anchor(head, inp, layer, out_shape):
    """The anchor's output in NumPy float64 from its input and canonical weights, or None."""
    inp = np.asarray(inp)
    layer = {key: np.asarray(value, np.float64) for key, value in layer.items()}
    if head.kind == "dense":
        return hints.linear(inp.astype(np.float64), layer)
    if head.kind == "embedding":
        return layer["W"][inp]
    if head.kind in ("batchnorm", "layernorm", "rmsnorm"):
        return hints.normalize(inp.astype(np.float64), layer, head.eps, head.kind)
    if head.kind in ("lstm", "gru"):
        return sequences.like(sequences.run(head.kind, inp, layer), len(out_shape), head)
    if head.kind == "conv1d":  # a conv over (N, 1, T, C) with a (1, k, in, out) kernel
        padding = hints.conv_padding(inp, np.zeros(out_shape), *head.config)
        z = conv2d(head, inp.astype(np.float64)[:, None], layer | {"W": layer["W"][None]}, padding)
        return None if z is None else z[:, 0]
    if head.kind != "conv2d":
        return None
    return conv2d(
        head, inp.astype(np.float64), layer, hints.conv_padding(inp, np.zeros(out_shape), *head.config)
    )


def conv2d(head, inp, layer, padding):
    """The conv with the padding its output size implies (TensorFlow's "same" or "valid")."""
    if padding is None:
        return None
    bias = layer.get("b", np.zeros(layer["W"].shape[-1]))
    return conv.conv2d(inp, layer["W"], bias, head.config[1], padding)[0]


def error(block, triple, layer, captured):
    """How far the block's own outputs are from its NumPy float64 re-run (None: not re-runnable)."""
    inp, pre, post = triple
    if block.head.kind == "attention":  # its mask is not captured: the nearest of none and causal
        inputs = [captured.values[name] for name in block.anchor.inputs]
        run = lambda setting: attention.layer(inputs, layer, setting)  # noqa: E731
        z = attention.nearest(run, pre, (block.head.config[0],), "float64")
    else:
        z = anchor(block.head, inp, layer, np.shape(pre))
    if z is None or np.shape(z) != np.shape(pre):
        return None
    errors = [tolerances.rel_diff(np.asarray(pre, np.float64), z)]
    after = hints.replay_ops(block, z, captured)
    if after is not None and np.shape(after) == np.shape(post):
        errors.append(tolerances.rel_diff(np.asarray(post, np.float64), after))
    return max(errors)


def float32_valued(value):
    """A float64 array every value of which is a float32 number (and not all whole numbers): computed
    in float32 and cast back, where the ops cannot be re-run (a Keras subclassed call's keras.ops)."""
    value = np.asarray(value)
    if value.dtype != np.float64 or not np.all(np.isfinite(value)):
        return False
    return bool(
        np.all(value.astype(np.float32).astype(np.float64) == value) and np.any(value != np.round(value))
    )


def loosen(report, ev):
    """Float32 tolerance from the first block that one side measurably computes in float32 on: that
    block, and the blocks after it, whose inputs carry its rounding; the loss, gradients and steps."""
    if report.dtype != "float64":
        return
    found = []
    for m, blocks, triples in ((ev.ma, ev.blocks_a, ev.fa), (ev.mb, ev.blocks_b, ev.fb)):
        if m.dtype != "float64":
            continue
        for i, (block, triple, layer) in enumerate(zip(blocks, triples, m.weights())):
            err = error(block, triple, layer, m.graph)
            if err is not None and tolerances.FORWARD["float64"] < err <= tolerances.FORWARD["float32"]:
                found.append((i, m.framework, block.describe(), f"{err:.1e} from its own float64 re-run"))
            elif (err is None or not block.seen) and triple[2] is not triple[1] and float32_valued(triple[2]):
                found.append((i, m.framework, block.describe(), "its output's values are float32 numbers"))
    if not found:
        return
    i, framework, name, how = min(found)
    report.notes.append(
        f"{framework} block {i} ({name}) computes in float32 ({how}): "
        f"float32 tolerances from block {i} on, and for the loss, gradients and steps"
    )
    for row in report.blocks[i:]:
        row["tolerance"] = tolerances.FORWARD["float32"]
    report.tolerance |= {
        "gradient": tolerances.FORWARD["float32"],
        "trajectory": tolerances.TRAJECTORY["float32"],
    }


def loss_error(m, loss, name, y):
    """How far a side's loss is from the named loss re-run in NumPy float64 on its own output; for a
    loss of the user's own, 0 or inf: whether its value is a float32 number (computed in float32)."""
    if isinstance(name, str):
        try:
            value = mlp.named_loss(name, np.asarray(m.graph.result, np.float64), np.asarray(y))[0]
        except (ValueError, IndexError, KeyError):
            return 0.0
        return abs(value - loss) / max(abs(value), tolerances.TINY["float64"])
    return float("inf") if loss != 0 and float(np.float32(loss)) == loss else 0.0


def loosen_loss(report, ev, names):
    """A float64 side whose loss measurably computes in float32 (a Keras loss computes in floatx
    unless given a dtype; off TensorFlow, Keras's type promotion): float32 tolerance for the loss, the
    gradients and the steps."""
    if report.dtype != "float64":
        return
    for m, loss, name in ((ev.ma, ev.la, names[0]), (ev.mb, ev.lb, names[1])):
        err = loss_error(m, loss, name, ev.y) if m.dtype == "float64" else 0.0
        if err > tolerances.FORWARD["float64"]:
            shown = (
                "its value is a float32 number" if err == float("inf") else f"{err:.1e} from a float64 re-run"
            )
            report.notes.append(
                f"{m.framework}'s loss computes in float32 ({shown}): float32 tolerance for the loss, "
                "gradients and steps"
            )
            report.tolerance |= {
                "gradient": tolerances.FORWARD["float32"],
                "trajectory": tolerances.TRAJECTORY["float32"],
            }
            return


NOISE = 3  # a gap up to 3× a side's own float32-from-float64 distance is that rounding, not a difference


def gradient_noise(report, ev, rels, rel_layer):
    """A float32 check whose gradients differ beyond float32's tolerance: how far a side's own float32
    gradients are from those of its float64 copy (torch: a double deep copy), per block; the gap is
    rounding at this depth where it is within NOISE times that (a ReLU whose input rounding moved
    across 0, a sum over many tokens), and the notes say so. (framework, per block) or None."""
    tol = report.tolerance["gradient"]
    if report.dtype != "float32" or all(rel <= tol for rel in rels):
        return None
    for m, own, loss_fn in ((ev.ma, ev.ga, ev.loss_fns[0]), (ev.mb, ev.gb, ev.loss_fns[1])):
        if m.dtype == "float32" and hasattr(m.model, "float64_grads"):
            exact = m.pick(m.model.float64_grads(ev.x, ev.y, loss_fn))
            noise = [rel_layer(a, b, "float32") for a, b in zip(own, exact)]
            within = [i for i, rel in enumerate(rels) if tol < rel <= NOISE * noise[i]]
            if within:
                gap, own = max(rels[i] for i in within), max(noise[i] for i in within)
                report.notes.append(
                    f"gradients of blocks {within} differ by up to {gap:.1e}, within {NOISE}× "
                    f"{m.framework}'s own float32 gradients' distance from its float64 copy's (up to "
                    f"{own:.1e}): float32 rounding at this depth, not a difference"
                )
            return m.framework, noise
    return None
