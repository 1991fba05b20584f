"""Hints: each suspected cause is re-run on the captured arrays with the fix applied, and named only
where the fix closes the gap. NumPy only; the arrays came from the adapters.
"""

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np

from foundation import tolerances
from reference_numpy import conv, mlp, optim
from rosetta import tasks
from rosetta.portcheck import attention, graph, sequences
from rosetta.portcheck.layers import apply_block_acts
from rosetta.portcheck.report import Hint


@dataclass
class Evidence:
    report: object
    ma: object
    mb: object
    blocks_a: list
    blocks_b: list
    x: np.ndarray
    y: object
    weights: list = field(default_factory=list)  # per block: "equal" / "transposed" / "different"
    fa: list = field(default_factory=list)  # per block (input, pre, post) of model a
    fb: list = field(default_factory=list)
    loss_fns: tuple = ()
    loss_names: tuple = ()  # a name from rosetta.tasks.LOSSES, or the user's own loss, per side
    rules: tuple | None = None  # rule_gap's answer, once computed: (found,)
    la: float | None = None
    lb: float | None = None
    ga: list = field(default_factory=list)
    gb: list = field(default_factory=list)
    ra: list = field(default_factory=list)  # per step {"params", "grads", "lr"}
    rb: list = field(default_factory=list)
    form_a: dict | None = None
    form_b: dict | None = None
    ta: list = field(default_factory=list)  # per block (input, pre, post) of a's training-mode pass
    tb: list = field(default_factory=list)
    sa: list = field(default_factory=list)  # a's canonical weights after that pass
    sb: list = field(default_factory=list)


def close(u, v, ev, kind="gradient"):
    """u and v equal within the report's tolerance (v the reference): "gradient", the forward one or,
    where a block measurably computes in float32, float32's (measured.loosen); or "trajectory"."""
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    return u.shape == v.shape and tolerances.rel_diff(u, v, ev.report.dtype) <= ev.report.tolerance[kind]


def diagnose(ev):
    found = []
    for test in (
        transpose,
        missing_bias,
        flatten_order,
        conv_kernel,
        conv_transpose_kernel,
        gate_order,
        bidirectional_order,
        double_bias,
        activation,
        gelu_approximate,
        attention.settings,
        attention.projections,
        softmax_axis,
        missing_residual,
        activation_slope,
        norm_epsilon,
        batchnorm_momentum,
        dropout_active,
        dtype,
    ):
        found += test(ev)
    if ev.la is not None:
        found += loss_reduction(ev) + double_activation(ev) + untied_weights(ev) + embedding_padding(ev)
    if ev.ra:
        found += optimizer_form(ev) + hyperparameter_precision(ev) + double_bias_steps(ev)
    return found


# ---- the layers ----


def linear(inp, layer, w=None):
    z = inp @ (layer["W"] if w is None else w)  # (N, in) @ (in, out)
    return z + layer["b"] if "b" in layer else z


def transpose(ev):
    """Weights equal only transposed: B's block re-run with Wᵀ gives A's pre-activation."""
    out, wb = [], ev.mb.weights()
    for i, state in enumerate(ev.weights):
        if state == "transposed" and close(linear(ev.fa[i][0], wb[i], wb[i]["W"].T), ev.fa[i][1], ev):
            msg = (
                f"{ev.mb.framework}'s kernel is {ev.ma.framework}'s transposed; torch Linear.weight is "
                "(out, in), Keras and Flax kernels (in, out): copy it as W.T "
                "(a square layer: shapes cannot tell)"
            )
            out.append(Hint("transpose", i, msg))
    return out


def missing_bias(ev):
    """Bias on one side only: that side's pre-activation minus its bias is the other side's."""
    out = []
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        if ba.head.bias == bb.head.bias or ba.head.kind != "dense":
            continue
        (m, f, g), other = ((ev.ma, ev.fa, ev.fb), ev.mb) if ba.head.bias else ((ev.mb, ev.fb, ev.fa), ev.ma)
        bias = m.weights()[i]["b"]
        if close(f[i][1] - bias, g[i][1], ev):
            size = float(np.max(np.abs(bias)))
            msg = f"{other.framework}'s layer has no bias ({m.framework}'s: max |b| = {size:.3g}); add it"
            out.append(Hint("missing-bias", i, msg))
    return out


# ---- convolutional and recurrent layers: every array canonical (foundation.layouts) ----


def flat_shape(blocks, i):
    """(H, W, C) flattened right before block i, or None."""
    shapes = [layer.shape for layer in blocks[i - 1].layers if layer.kind == "flatten"] if i else []
    return shapes[-1] if shapes and len(shapes[-1]) == 3 else None


def row_orders(hwc):
    """Kernel rows (H·W·C, out) in (H, W, C) order read as (C, H, W), and the other way round."""
    h, w, c = hwc
    return (
        lambda W: W.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1),
        lambda W: W.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1),
    )


def flatten_order(ev):
    """The Dense after a Flatten: B's kernel with its rows reordered between (H, W, C) and (C, H, W)
    gives A's pre-activation: one side flattens NCHW activations with the other's kernel."""
    out, wb = [], ev.mb.weights()
    for i, ba in enumerate(ev.blocks_a):
        hwc = flat_shape(ev.blocks_a, i) or flat_shape(ev.blocks_b, i)
        if ba.head.kind != "dense" or hwc is None or min(hwc[2], hwc[0] * hwc[1]) < 2:
            continue
        if close(ev.fb[i][1], ev.fa[i][1], ev):
            continue
        if any(
            close(linear(ev.fa[i][0], wb[i], fix(wb[i]["W"])), ev.fa[i][1], ev) for fix in row_orders(hwc)
        ):
            msg = (
                f"the Dense after Flatten reads the {hwc} features in another order on {ev.mb.framework} "
                f"than on {ev.ma.framework}: torch's nn.Flatten on NCHW orders them (C, H, W), Keras, Flax "
                "and canonical (H, W, C) on NHWC; in torch permute before flattening "
                "(x.permute(0, 2, 3, 1).flatten(1)), or reorder the kernel's rows "
                "(W.reshape(H, W, C, out).transpose(2, 0, 1, 3).reshape(-1, out))"
            )
            out.append(Hint("flatten-order", i, msg))
    return out


def conv_padding(inp, pre, k, s):
    """The padding rule whose output size B's conv has: TensorFlow's "same" or "valid" (None: other)."""
    h, ho = np.shape(inp)[1], np.shape(pre)[1]
    return "same" if ho == math.ceil(h / s) else "valid" if ho == (h - k) // s + 1 else None


def kernel_fixes(W, shape):
    """(description, fixed kernel) of the layout mistakes that give a (kh, kw, in, out) kernel of `shape`."""
    kh, kw, c, f = shape
    for axes in itertools.permutations(range(4)):
        if axes != (0, 1, 2, 3) and W.transpose(axes).shape == shape:
            yield f"its axes permuted: the fix is W.transpose{axes}", W.transpose(axes)
    if W.size == kh * kw * c * f:
        torch_read = W.transpose(3, 2, 0, 1).reshape(shape)  # torch's weight reshaped, not permuted
        yield "reshaped where it needed a permute (torch (out, in, kh, kw) ↔ (kh, kw, in, out))", torch_read
        yield "reshaped where it needed a permute", W.reshape(f, c, kh, kw).transpose(2, 3, 1, 0)


def lifted(kind, a, axis):
    """A Conv1D's arrays as a Conv2D's (axis 1: inputs (N, 1, T, C); axis 0: kernels (1, k, in, out))."""
    a = np.asarray(a, np.float64)
    return np.expand_dims(a, axis) if kind == "conv1d" else a


def conv_kernel(ev):
    """B's conv kernel in another layout: B's conv re-run with the kernel put back gives A's output."""
    out, wa, wb = [], ev.ma.weights(), ev.mb.weights()
    for i, (ba, state) in enumerate(zip(ev.blocks_a, ev.weights)):
        kind = ba.head.kind
        if kind not in ("conv2d", "conv1d") or state == "equal" or close(ev.fb[i][1], ev.fa[i][1], ev):
            continue
        (k, s), inp = ba.head.config, np.asarray(ev.fa[i][0], np.float64)
        padding = conv_padding(inp, ev.fb[i][1], k, s)
        if padding is None:
            continue
        target = lifted(kind, wa[i]["W"], 0).shape
        for how, W in kernel_fixes(lifted(kind, wb[i]["W"], 0), target):
            z = conv.conv2d(lifted(kind, inp, 1), W, np.asarray(wb[i]["b"], np.float64), s, padding)[0]
            if close(z[:, 0] if kind == "conv1d" else z, ev.fa[i][1], ev):
                msg = (
                    f"{ev.mb.framework}'s conv kernel, read as canonical (kh, kw, in, out) — a Conv1D's "
                    f"(k, in, out) as (1, k, in, out) — is {ev.ma.framework}'s {how}; torch's Conv2d.weight "
                    "is (out, in, kh, kw) = W.permute(3, 2, 0, 1) and its Conv1d.weight (out, in, k), "
                    "Keras's and Flax's kernel (kh, kw, in, out) or (k, in, out)"
                )
                out.append(Hint("conv-kernel", i, msg))
                break
    return out


GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "h")}


TRANSPOSE_FIXES = {
    "flipped": (
        lambda W: W[::-1, ::-1],
        "an nnx.ConvTranspose with transpose_kernel=False (its default) applies its kernel unflipped: "
        "give it W[::-1, ::-1] with in and out swapped, or use transpose_kernel=True",
    ),
    "in and out swapped": (
        lambda W: W.swapaxes(2, 3),
        "torch's ConvTranspose2d.weight is (in, out, kh, kw), not Conv2d's (out, in, kh, kw): its "
        "kernel is weight.permute(2, 3, 1, 0)",
    ),
    "flipped, in and out swapped": (
        lambda W: W[::-1, ::-1].swapaxes(2, 3),
        "nnx.ConvTranspose(transpose_kernel=False) holds (kh, kw, in, out) applied unflipped: it takes "
        "the kernel flipped and in and out swapped",
    ),
    "kh and kw swapped": (lambda W: W.swapaxes(0, 1), "the kernel's spatial axes are swapped"),
}


def conv_transpose_kernel(ev):
    """A transposed conv whose kernel, flipped or with in and out swapped (the same shape), is the
    other side's: the fix makes the weights equal, so the same layer gives the same output."""
    out, wa, wb = [], ev.ma.weights(), ev.mb.weights()
    for i, ba in enumerate(ev.blocks_a):
        if (
            ba.head.kind != "conv_transpose"
            or ev.weights[i] == "equal"
            or wa[i]["W"].shape != wb[i]["W"].shape
        ):
            continue
        for what, (fix, why) in TRANSPOSE_FIXES.items():
            fixed = fix(np.asarray(wb[i]["W"]))
            if fixed.shape == wa[i]["W"].shape and close(fixed, wa[i]["W"], ev):
                msg = f"{ev.mb.framework}'s transposed-conv kernel is {ev.ma.framework}'s {what}: {why}"
                out.append(Hint("conv-transpose-kernel", i, msg))
                break
    return out


def gate_order(ev):
    """B's gate blocks in another order: B's layer re-run with its blocks reordered gives A's h_T."""
    out, wb = [], ev.mb.weights()
    for i, ba in enumerate(ev.blocks_a):
        kind = ba.head.kind
        if kind not in GATES or close(ev.fb[i][1], ev.fa[i][1], ev):
            continue
        gates, keys = GATES[kind], [k for k in wb[i] if k.split("_")[0] in sequences.KEYS and "hh" not in k]
        for perm in itertools.permutations(range(len(gates))):
            fixed = {key: blocks(wb[i][key], perm) for key in keys}
            if perm == tuple(range(len(gates))) or not close(
                sequences.rerun(ba.head, ev.fa[i][0], fixed, ev.fa[i][1]), ev.fa[i][1], ev
            ):
                continue
            held = [gates[perm.index(j)] for j in range(len(gates))]  # the gate each of B's blocks holds
            msg = (
                f"{ev.mb.framework}'s {kind.upper()} holds its gate blocks as {', '.join(held)} where "
                f"{ev.ma.framework}'s are {', '.join(gates)}: "
                + (
                    "torch's nn.GRU orders them r, z, n, Keras and canonical z, r, h: reorder the blocks "
                    "of the kernels and both biases (foundation.layouts.TORCH_GRU_BLOCKS)"
                    if kind == "gru"
                    else "torch's nn.LSTM and Keras both order them i, f, g, o: copy the blocks as they are"
                )
            )
            out.append(Hint("gate-order", i, msg))
            break
    return out


def bidirectional_order(ev):
    """A bidirectional layer whose two directions hold the other side's swapped: B's weights with
    forward and reverse exchanged are A's, and B's layer re-run so gives A's output."""
    out, wb = [], ev.mb.weights()
    for i, ba in enumerate(ev.blocks_a):
        if not sequences.bidirectional(ba.head) or ev.weights[i] == "equal":
            continue
        layer = wb[i]
        swapped = {key: layer[key[:-2] if key.endswith("_r") else f"{key}_r"] for key in layer}
        if close(sequences.rerun(ba.head, ev.fa[i][0], swapped, ev.fa[i][1]), ev.fa[i][1], ev):
            msg = (
                f"{ev.mb.framework}'s bidirectional {ba.head.kind.upper()} holds {ev.ma.framework}'s forward "
                "weights in its reverse direction and the reverse ones in its forward direction: torch's "
                "*_reverse weights are Keras's backward_layer (get_weights(): forward first) and Flax's "
                "backward_rnn"
            )
            out.append(Hint("bidirectional-order", i, msg))
    return out


def blocks(a, perm):
    """The gate blocks of `a` along its last axis in the order `perm`."""
    parts = np.split(np.asarray(a), len(perm), axis=-1)
    return np.concatenate([parts[k] for k in perm], axis=-1)


def double_bias(ev):
    """An LSTM with torch's second bias: that side re-run without bias_hh gives the other side's h_T."""
    out = []
    for m, f, g in ((ev.ma, ev.fa, ev.fb), (ev.mb, ev.fb, ev.fa)):
        for i, layer in enumerate(m.weights()):
            if ev.blocks_a[i].head.kind != "lstm" or not np.any(layer.get("b_hh", 0)):
                continue
            if close(f[i][1], g[i][1], ev):
                continue
            fixed = layer | {
                f"b{s}": layer[f"b{s}"] - layer[f"b_hh{s}"]
                for s in sequences.DIRECTIONS
                if f"b_hh{s}" in layer
            }
            if close(sequences.rerun(ev.blocks_a[i].head, f[i][0], fixed, g[i][1]), g[i][1], ev):
                size = float(np.max(np.abs(layer["b_hh"])))
                msg = (
                    f"{m.framework}'s nn.LSTM adds bias_hh (max |b| = {size:.3g}) to bias_ih: Keras and "
                    "canonical have one bias b = bias_ih + bias_hh; copy b into bias_ih and zero bias_hh"
                )
                out.append(Hint("lstm-double-bias", i, msg))
    return out


def double_bias_steps(ev):
    """torch's two LSTM biases each get ∂L/∂b and each take the optimizer's step, so b_ih + b_hh
    moves twice as far as the other side's one bias: the first step's change of that side's b, halved,
    is the other side's."""
    out, starts = [], (ev.ma.weights(), ev.mb.weights())
    sides = ((ev.ma, starts[0], ev.ra, starts[1], ev.rb), (ev.mb, starts[1], ev.rb, starts[0], ev.ra))
    for m, start, record, other_start, other in sides:
        for i, layer in enumerate(start):
            if ev.blocks_a[i].head.kind != "lstm" or "b_hh" not in layer or "b_hh" in other_start[i]:
                continue
            moved = record[0]["params"][i]["b"] - layer["b"]
            theirs = other[0]["params"][i]["b"] - other_start[i]["b"]
            if not close(moved, theirs, ev, "trajectory") and close(moved / 2, theirs, ev, "trajectory"):
                msg = (
                    f"{m.framework}'s nn.LSTM trains bias_ih and bias_hh, each by the same step: their sum "
                    "moves twice as far as the other side's one bias; freeze bias_hh at zero "
                    "(bias_hh_l0.requires_grad_(False)) with b in bias_ih, to train as one bias"
                )
                out.append(Hint("lstm-double-bias", i, msg))
    return out


def activation(ev):
    """Different functions: A's activations applied to B's pre-activation give A's output."""
    out = []
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        if [a.act for a in ba.acts] == [a.act for a in bb.acts] or not (ba.seen and bb.seen):
            continue
        if [SWAP.get(a.act, a.act) for a in ba.acts] == [a.act for a in bb.acts]:
            continue  # exact against tanh GELU: gelu_approximate
        if close(ev.fa[i][2], ev.fb[i][2], ev):
            continue
        if close(apply_block_acts(ba.acts, ev.fb[i][1]), ev.fa[i][2], ev):
            names = [" → ".join(a.name for a in blk.acts) or "none" for blk in (ba, bb)]
            msg = f"activation {names[0]} ({ev.ma.framework}) vs {names[1]} ({ev.mb.framework})"
            gelus = {a.act for blk in (ba, bb) for a in blk.acts} & {"gelu", "gelu_tanh"} == {
                "gelu",
                "gelu_tanh",
            }
            kind = "gelu-approximate" if gelus else "activation"
            msg += f"; {GELUS}" if gelus else ""
            out.append(Hint(kind, i, msg))
    return out


def softmax_axis(ev):
    """A softmax over another axis (the batch, the queries): the other side's pre-activation through a
    softmax over this side's axis gives this side's output, over its own axis its own."""
    out = []
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        acts = [[a.act for a in blk.acts] for blk in (ba, bb)]
        if acts[0] != ["softmax"] or acts[1] != ["softmax"] or close(ev.fa[i][2], ev.fb[i][2], ev):
            continue
        axes = [axis_of(f[i][1], f[i][2], ev) for f in (ev.fa, ev.fb)]
        if (
            None not in axes
            and axes[0] != axes[1]
            and close(attention.softmax(ev.fb[i][1], axes[0]), ev.fa[i][2], ev)
        ):
            msg = (
                f"softmax over axis {axes[0]} ({ev.ma.framework}) vs axis {axes[1]} ({ev.mb.framework}) of "
                f"shape {np.shape(ev.fa[i][2])}: torch's dim, Keras's axis (default -1)"
            )
            out.append(Hint("softmax-axis", i, msg))
    return out


def axis_of(pre, post, ev):
    """The axis a softmax ran over: the one that re-runs `pre` into `post`."""
    z = np.asarray(pre, np.float64)
    return next(
        (axis - z.ndim for axis in range(z.ndim) if close(attention.softmax(z, axis), post, ev)), None
    )


# ---- graphs: skip connections and tied weights ----


def replay_ops(block, z, captured, skip=None):
    """A block's ops (but `skip`) re-run in NumPy from `z`, its anchor's output, each add/mul taking
    its other operand from the captured graph and each reshape the shape captured there; None where an
    op cannot be re-run (a concat, an op of the framework's own)."""
    for op in block.ops:
        kind, shape = op.layer.kind, np.shape(captured.values[op.name])
        if op is skip or kind == "dropout":
            continue
        if kind == "act":
            z = apply_block_acts([op.layer], z)
        elif kind in ("add", "mul"):
            other = graph.operand(captured, op, block)
            if other is None or np.shape(other) != np.shape(z):
                return None
            z = z + other if kind == "add" else z * other
        elif kind == "pool":
            z = pool(z, op.layer.config)
        elif kind not in ("reshape", "flatten"):
            return None
        if z is None or np.size(z) != np.prod(shape):
            return None
        z = z.reshape(shape)
    return z


def pool(z, config):
    """Max/average pooling of NHWC `z` (a k×k window, stride k) or of (N, T, C) `z` (k steps), or global."""
    size, kind = config
    reduce = np.max if kind == "max" else np.mean
    if size == "global":  # images (N, H, W, C) or sequences (N, T, C)
        return reduce(z, axis=(1, 2) if z.ndim == 4 else 1)
    if z.ndim == 3:  # sequences (N, T, C): windows of `size` steps
        n, t, c = z.shape
        return reduce(z[:, : t - t % size].reshape(n, t // size, size, c), axis=2)
    n, h, w, c = z.shape
    return reduce(
        z[:, : h - h % size, : w - w % size].reshape(n, h // size, size, w // size, size, c), axis=(2, 4)
    )


def missing_residual(ev):
    """One side's block adds a skip value and the other's output is that block without the add: the
    other side's pre-activation re-run through this side's ops but the add gives the other's output,
    and with it this side's (where the other side's ops are hidden, its output alone decides)."""
    out = []
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        sides = (((ev.ma, ba, ev.fa), (ev.mb, bb, ev.fb)), ((ev.mb, bb, ev.fb), (ev.ma, ba, ev.fa)))
        for (mw, bw, fw), (mo, _, fo) in sides:
            if close(fo[i][2], fw[i][2], ev):
                continue
            pre = np.asarray(fo[i][1], np.float64)
            for add in (op for op in bw.ops if op.layer.kind == "add"):
                without = replay_ops(bw, pre, mw.graph, skip=add)
                if without is not None and close(without, fo[i][2], ev):
                    msg = (
                        f"{mo.framework}'s block {i} lacks the residual {bw.label(add)} that "
                        f"{mw.framework}'s has ({bw.describe()}): without it, {mw.framework}'s ops give "
                        f"{mo.framework}'s "
                        "output; add the shortcut (torch: h + x; Keras: keras.layers.Add()([h, x]))"
                    )
                    out.append(Hint("missing-residual", i, msg))
                    break
    return out


def along(a, b):
    """`a` in `b`'s layout: transposed where only that makes the shapes agree (an embedding table
    (V, E) tied to an output layer's canonical kernel (E, V))."""
    return a.T if np.shape(a) != np.shape(b) and np.shape(a.T) == np.shape(b) else a


def untied_weights(ev):
    """A weight used twice on one side (its gradient the sum of both uses) held as two copies on the
    other: the two copies' gradients summed are the tied one's."""
    out, tied = [], (graph.ties(ev.blocks_a), graph.ties(ev.blocks_b))
    for (m, ties, g), (other, other_ties, h) in (
        ((ev.ma, tied[0], ev.ga), (ev.mb, tied[1], ev.gb)),
        ((ev.mb, tied[1], ev.gb), (ev.ma, tied[0], ev.ga)),
    ):
        for i, j in ties.items():
            if other_ties.get(i) == j:
                continue
            summed = {key: h[i][key] + along(h[j][key], h[i][key]) for key in h[i] if key in h[j]}
            if all(close(summed[key], g[i][key], ev) for key in summed):
                msg = (
                    f"block {i} reuses block {j}'s weights on {m.framework} (one parameter: its gradient "
                    f"is the sum of both uses), {other.framework} holds two copies: the copies' gradients "
                    f"summed are {m.framework}'s; tie them (call one layer twice) or untie on both sides"
                )
                out.append(Hint("untied-weights", i, msg))
    return out


def embedding_padding(ev):
    """torch's Embedding(padding_idx=p) never trains row p (its gradient is zero); Keras and Flax have
    no such row: the other side's gradient with row p zeroed is the torch side's."""
    out = []
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        if (
            ba.head.kind != "embedding"
            or ba.head.shape == bb.head.shape
            or close(ev.gb[i]["W"], ev.ga[i]["W"], ev)
        ):
            continue
        for (m, blk, g), (other, h) in (
            ((ev.ma, ba, ev.ga), (ev.mb, ev.gb)),
            ((ev.mb, bb, ev.gb), (ev.ma, ev.ga)),
        ):
            row = blk.head.shape[0]
            if row is None:
                continue
            fixed = np.array(h[i]["W"])
            fixed[row] = 0
            if close(fixed, g[i]["W"], ev):
                msg = (
                    f"{m.framework}'s Embedding(padding_idx={row}) keeps row {row} out of training (its "
                    f"gradient is zero), {other.framework}'s table trains it: use padding_idx=None, or mask "
                    "that row's "
                    "gradient on the other side"
                )
                out.append(Hint("embedding-padding", i, msg))
    return out


GELUS = (
    "GELU exact (erf) in torch nn.GELU() and Keras activations.gelu / 'gelu'; the tanh approximation by "
    "default in jax.nn.gelu, nnx.gelu and keras.ops.gelu (approximate=False for exact; torch: "
    "nn.GELU(approximate='tanh') for tanh)"
)
SWAP = {"gelu": "gelu_tanh", "gelu_tanh": "gelu"}


def gelu_approximate(ev):
    """Exact GELU on one side, the tanh approximation on the other: the other side's output is this
    side's ops with the other GELU, from its own pre-activation (its ops seen or hidden)."""
    out = []
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        if close(ev.fa[i][2], ev.fb[i][2], ev):
            continue
        for (m, blk), (other, f) in (((ev.ma, ba), (ev.mb, ev.fb)), ((ev.mb, bb), (ev.ma, ev.fa))):
            acts = [a.act for a in blk.acts]
            if not blk.seen or not set(acts) & set(SWAP):
                continue
            swapped = [replace(a, act=SWAP.get(a.act, a.act)) for a in blk.acts]
            if close(apply_block_acts(swapped, np.asarray(f[i][1], np.float64)), f[i][2], ev):
                which = "exact (erf)" if "gelu" in acts else "tanh-approximated"
                msg = f"{m.framework}'s GELU is {which}, {other.framework}'s the other one: {GELUS}"
                out.append(Hint("gelu-approximate", i, msg))
                break
    return out


SLOPES = "defaults: torch/jax 0.01, Keras layer 0.3, Keras 'leaky_relu' 0.2"


def activation_slope(ev):
    """Same functions, other α: B's pre-activation through A's slopes gives A's output."""
    out = []
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        alphas_a, alphas_b = [a.alpha for a in ba.acts], [a.alpha for a in bb.acts]
        if [a.act for a in ba.acts] != [a.act for a in bb.acts] or alphas_a == alphas_b:
            continue
        if not close(ev.fa[i][2], ev.fb[i][2], ev) and close(
            apply_block_acts(bb.acts, ev.fb[i][1], alphas_a), ev.fa[i][2], ev
        ):
            pairs = [
                f"{a.act} {a.alpha:g} vs {b.alpha:g}" for a, b in zip(ba.acts, bb.acts) if a.alpha != b.alpha
            ]
            msg = f"{', '.join(pairs)} ({ev.ma.framework} vs {ev.mb.framework}); {SLOPES}"
            out.append(Hint("activation-slope", i, msg))
    return out


def normalize(inp, layer, eps, kind):
    """BatchNorm (running statistics), LayerNorm or RMSNorm (over the features) with epsilon `eps`."""
    if kind == "rmsnorm":  # x / √(mean(x²) + ε) · γ
        return inp / np.sqrt(np.mean(inp**2, axis=-1, keepdims=True) + eps) * layer.get("gamma", 1)
    if kind == "batchnorm":
        mean, var = layer["moving_mean"], layer["moving_variance"]
    else:
        mean, var = inp.mean(axis=-1, keepdims=True), inp.var(axis=-1, keepdims=True)
    z = (inp - mean) / np.sqrt(var + eps)
    return z * layer.get("gamma", 1) + layer.get("beta", 0)


EPS_DEFAULTS = {
    "batchnorm": "torch 1e-5, Keras 1e-3, Flax NNX 1e-5",
    "layernorm": "torch 1e-5, Keras 1e-3, Flax NNX 1e-6",
    "rmsnorm": "torch None: the dtype's machine ε (1.2e-7 in float32, 2.2e-16 in float64), Keras 1e-6, "
    "Flax NNX 1e-6",
}


def norm_epsilon(ev):
    """Other ε: B's normalization re-run with A's ε gives A's output (kind batchnorm-epsilon)."""
    out, wb = [], ev.mb.weights()
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        ha, hb = ba.head, bb.head
        if (
            ha.kind not in ("batchnorm", "layernorm", "rmsnorm")
            or ha.eps == hb.eps
            or close(ev.fa[i][1], ev.fb[i][1], ev)
        ):
            continue
        if close(normalize(ev.fb[i][0], wb[i], ha.eps, ha.kind), ev.fa[i][1], ev):
            defaults = EPS_DEFAULTS[ha.kind]
            msg = f"{ha.name} vs {hb.name}: ε {ha.eps:g} vs {hb.eps:g} (defaults: {defaults})"
            out.append(Hint(f"{ha.kind}-epsilon", i, msg))
    return out


def batchnorm_momentum(ev):
    """Running means apart after one training pass: B's update re-run with A's batch weight
    (old·(1 − m_a) + batch·m_a, B's BatchNorm input from its own pass) gives A's running mean."""
    out = []
    for d in (d for d in ev.report.divergences if d.message.startswith("running mean")):
        heads = (ev.blocks_a[d.block].head, ev.blocks_b[d.block].head)
        if None in (heads[0].momentum, heads[1].momentum):
            continue  # torch's momentum=None is a cumulative average: no single weight to re-run
        m, old = heads[0].momentum, ev.mb.weights()[d.block]["moving_mean"]
        batch = np.mean(ev.tb[d.block][0], axis=0)
        if close((1 - m) * old + m * batch, ev.sa[d.block]["moving_mean"], ev):
            out.append(Hint("batchnorm-momentum", d.block, momentum_message(ev, *heads)))
    return out


def native(framework, m):
    """A batch weight as the framework's momentum: torch's is the weight, Keras's and Flax's 1 − it."""
    return m if framework == "torch" else 1 - m


def momentum_message(ev, ha, hb):
    fa, fb = ev.ma.framework, ev.mb.framework
    return (
        f"BatchNorm momentum {native(fa, ha.momentum):g} ({fa}) vs {native(fb, hb.momentum):g} ({fb}): "
        f"{fb} needs momentum={native(fb, ha.momentum):g} to match; Keras/Flax momentum = 1 − torch's "
        "(defaults: torch 0.1 = Keras/Flax 0.9; Keras/Flax 0.99 = torch 0.01)"
    )


def dropout_active(ev):
    """A model left with active Dropout: its outputs as left differ from its inference outputs."""
    out = []
    for m, f in ((ev.ma, ev.fa), (ev.mb, ev.fb)):
        as_left = m.outputs_as_left(ev.x)
        if as_left is None:
            continue
        left = [post for _, _, post in as_left]
        bad = [i for i, (post, (_, _, ref)) in enumerate(zip(left, f)) if not close(post, ref, ev)]
        if bad:
            msg = (
                f"{m.framework}: Dropout is active as the model was left (model.eval() / nnx's model.eval())"
            )
            out.append(Hint("dropout-active", bad[0], msg))
    return out


def dtype(ev):
    """Different dtypes: the gap is above float64's tolerance and within float32's."""
    if ev.ma.dtype == ev.mb.dtype:
        return []
    worst = max([row.get("post", 0.0) for row in ev.report.blocks] + [0.0])
    if tolerances.FORWARD["float64"] < worst <= tolerances.FORWARD["float32"]:
        msg = f"{ev.ma.framework} {ev.ma.dtype} vs {ev.mb.framework} {ev.mb.dtype}: a gap of {worst:.1e}"
        msg += " is float32 rounding"
        return [Hint("dtype", None, msg)]
    return []


# ---- the loss ----


def loss_reduction(ev):
    """A constant factor between the losses (sum vs mean, ½) that the gradients share."""
    *lead, k = np.shape(ev.fa[-1][2])
    n = int(np.prod(lead))  # (N, K), or (N, T, V) for a loss over every position
    factors = {f"N = {n}": n, f"K = {k}": k, f"N·K = {n * k}": n * k, "2": 2, f"2N = {2 * n}": 2 * n}
    for name, f in factors.items():
        for factor, label in (
            (f, f"{ev.ma.framework}'s loss is {name} × {ev.mb.framework}'s"),
            (1 / f, f"{ev.mb.framework}'s loss is {name} × {ev.ma.framework}'s"),
        ):
            grads_scale = all(
                close({k: factor * v for k, v in gb.items()}.get(key), ga[key], ev)
                for ga, gb in zip(ev.ga, ev.gb)
                for key in ga
                if key in gb
            )
            if factor != 1 and close(factor * ev.lb, ev.la, ev) and grads_scale:
                return [Hint("loss-reduction", None, f"{label} (sum vs mean, or ½): use the same reduction")]
    return []


KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): Keras's probability losses clip to [ε, 1 − ε] off TensorFlow


def probability_losses(out, y):
    """(from-logits loss, [probability loss, as Keras clips it]) of `out` read as probabilities."""
    y, clipped = np.asarray(y), np.clip(out, KERAS_EPSILON, 1 - KERAS_EPSILON)
    if y.dtype.kind in "iu":
        rows = np.arange(len(y))
        clipped = np.clip(out / out.sum(axis=-1, keepdims=True), KERAS_EPSILON, 1 - KERAS_EPSILON)
        losses = [-np.mean(np.log(p[rows, y])) for p in (out, clipped)]
        return mlp.softmax_ce(out, y)[0], losses
    losses = [-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)) for p in (out, clipped)]
    return mlp.bce_logits(out, y)[0], losses


def double_activation(ev):
    """A softmax/sigmoid output fed to a from-logits loss: that side's loss is the from-logits loss
    of its probabilities, the other side's the probability loss of the same numbers."""
    out = []
    for (blocks, f, loss, m), (other_blocks, other_loss) in (
        ((ev.blocks_a, ev.fa, ev.la, ev.ma), (ev.blocks_b, ev.lb)),
        ((ev.blocks_b, ev.fb, ev.lb, ev.mb), (ev.blocks_a, ev.la)),
    ):
        last = blocks[-1].acts[-1].act if blocks[-1].acts else "linear"
        if last not in ("softmax", "sigmoid") or np.ndim(f[-1][2]) != 2:
            continue
        with np.errstate(all="ignore"):
            from_logits, probability = probability_losses(np.asarray(f[-1][2], np.float64), ev.y)
        if close(from_logits, loss, ev) and any(close(p, other_loss, ev) for p in probability):
            other_last = other_blocks[-1].acts[-1].act if other_blocks[-1].acts else "linear"
            kind = "double-activation" if other_last == last else "probabilities-as-logits"
            msg = f"{m.framework}'s model ends in {last} and its loss applies {last} again: "
            msg += "use a probability loss, or drop the layer"
            out.append(Hint(kind, None, msg))
    return out


# ---- the optimizer ----


def as_optimizer(form):
    keys = ("momentum", "nesterov") if form["name"] == "sgd" else ("beta1", "beta2", "eps")
    return tasks.Optimizer(name=form["name"], form=form["form"], **{k: form[k] for k in keys})


def replay(form, start, record, upto):
    """The weights after `upto` steps of `form` fed the recorded gradients and learning rates."""
    opt, params = as_optimizer(form), [{k: np.array(v) for k, v in layer.items()} for layer in start]
    zeros = [{k: np.zeros_like(v) for k, v in g.items()} for g in record[0]["grads"]]
    m, v = zeros, [{k: np.zeros_like(a) for k, a in layer.items()} for layer in zeros]
    for t, step in enumerate(record[:upto], start=1):
        for i, grads in enumerate(step["grads"]):
            for key, g in grads.items():
                w, lr, decay = params[i][key], step["lr"], form["weight_decay"]
                if decay and form["decoupled"]:
                    w -= lr * decay * w  # AdamW / Keras weight_decay: w ← w − lr·λ·w before the update
                g = g + decay * w if decay and not form["decoupled"] else g  # torch: λ·w into the gradient
                if opt.name == "adam":
                    optim.adam(opt, w, g, m[i][key], v[i][key], t, lr)
                else:
                    optim.sgd(opt, w, g, m[i][key], lr)
    return params


RULE_KEYS = ("form", "eps", "decoupled")  # the update rule; the decay's value is a hyperparameter
HYPER = ("momentum", "beta1", "beta2", "eps")


def rounded(form):
    """The hyperparameters as float32 holds them (Keras keeps them in float32 in a float64 model)."""
    return form | {key: float(np.float32(form[key])) for key in HYPER if key in form}


def distance(pa, pb):
    """The largest relative difference between two lists of canonical layers, float64."""
    return max(
        (
            tolerances.rel_diff(np.asarray(a[key], np.float64), np.asarray(b[key], np.float64))
            for a, b in zip(pa, pb)
            for key in a
            if key in b
        ),
        default=0.0,
    )


def fit(form, start, record, k, held=False):
    """How far `form`, replayed on a side's own gradients and learning rates, lands from that side's
    weights after step k; `held`: a Keras side, the better of its hyperparameters as given and as
    float32 holds them."""
    variants = [form, rounded(form)] if held else [form]
    return min(distance(replay(f, start, record, k), record[k - 1]["params"]) for f in variants)


def rule_gap(ev):
    """(step, kind, gap) where the two sides' update rules differ and the replay shows it: at the first
    diverging step (else step 1) each side's own rule fits its weights ten times tighter than the other
    rule with its hyperparameters does, and than the gap between the two sides, both above rounding.
    None otherwise."""
    if ev.rules is None:
        ev.rules = (find_rule_gap(ev),)
    return ev.rules[0]


def find_rule_gap(ev):
    first = next((d for d in ev.report.divergences if d.stage == "step"), None)
    forms = (ev.form_a, ev.form_b)
    if not ev.ra or None in forms or ev.ra[0]["lr"] is None or forms[0]["name"] != forms[1]["name"]:
        return None
    if all(forms[0].get(key) == forms[1].get(key) for key in RULE_KEYS):
        return None
    k, start = (first.step if first else 1), ev.ma.weights()
    gap = distance(ev.ra[k - 1]["params"], ev.rb[k - 1]["params"])
    floor = 10 * float(np.finfo(ev.report.dtype).eps)  # below it, replays differ by rounding only
    for (own, record), other in (((forms[0], ev.ra), forms[1]), ((forms[1], ev.rb), forms[0])):
        swapped, held = own | {key: other[key] for key in RULE_KEYS if key in other}, own["form"] == "keras"
        mine, theirs = fit(own, start, record, k, held), fit(swapped, start, record, k, held)
        if not max(mine * 10, floor) <= min(gap, theirs):
            return None
    coupling = [form["decoupled"] for form in forms if form["weight_decay"]]
    kind = "weight-decay" if len(set(coupling)) == 2 else RULES[forms[0]["name"]]
    return k, kind, gap


def optimizer_form(ev):
    """The update rules differ (rule_gap): named with the step the replay shows it at."""
    found = rule_gap(ev)
    if found is None:
        return []
    k, kind, gap = found
    msg = f"step {k}: {WHY[kind]} (replayed: each rule fits its own side, the gap is {gap:.1e})"
    decays = ev.form_a["weight_decay"], ev.form_b["weight_decay"]
    if decays[0] != decays[1]:
        msg += (
            f"; the weight decays differ too: {decays[0]:g} vs {decays[1]:g} (AdamW: torch 0.01, Keras 0.004)"
        )
    return [Hint(kind, 0, msg)]


def hyperparameter_precision(ev):
    """A float64 Keras side whose weights its rule replays only with the hyperparameters float32
    holds (Keras keeps momentum, β and ε as float32, and the learning rate as a float32 variable)."""
    first = next((d for d in ev.report.divergences if d.stage == "step"), None)
    if first is None or rule_gap(ev) is not None:
        return []
    out, start = [], ev.ma.weights()
    for m, form, record, other in ((ev.ma, ev.form_a, ev.ra, ev.rb), (ev.mb, ev.form_b, ev.rb, ev.ra)):
        if form is None or form["form"] != "keras" or m.dtype != "float64" or record[0]["lr"] is None:
            continue
        k = first.step
        gap = distance(record[k - 1]["params"], other[k - 1]["params"])
        held = distance(replay(rounded(form), start, record, k), record[k - 1]["params"])
        their_lr = [
            step | {"lr": theirs["lr"] or step["lr"]} for step, theirs in zip(record, other)
        ]  # optax: None
        exact = distance(replay(form, start, their_lr, k), other[k - 1]["params"])  # the fix: exact values
        if held * 10 <= gap and exact * 10 <= gap:
            pairs = [
                f"{key} {form[key]!r} as {float(np.float32(form[key])):.9g}"
                for key in HYPER
                if key in form and float(np.float32(form[key])) != form[key]
            ]
            if other[0]["lr"] is not None and record[0]["lr"] != other[0]["lr"]:
                pairs.append(f"learning rate {other[0]['lr']!r} as {record[0]['lr']:.9g}")
            msg = (
                f"{m.framework} holds its optimizer's hyperparameters in float32 in a float64 model: "
                f"{', '.join(pairs)}; choose values float32 holds exactly (0.875, 0.125, 2⁻ᵏ) or "
                "compare in float32"
            )
            out.append(Hint("hyperparameter-precision", first.block, msg))
    return out


RULES = {"adam": "adam-epsilon", "sgd": "momentum-form"}
WHY = {
    "weight-decay": "weight decay coupled (torch: λ·w added to the gradient) vs decoupled (AdamW, Keras)",
    "adam-epsilon": "Keras's Adam divides by √v + ε̂ with lr·√(1−β2ᵗ)/(1−β1ᵗ); torch and optax by √v̂ + ε",
    "momentum-form": "Keras's v = μv − lr·g keeps the old lr; torch's b = μb + g uses the new lr at once",
}


def close_params(pa, pb, ev):
    return all(close(a[key], b[key], ev, "trajectory") for a, b in zip(pa, pb) for key in a if key in b)
