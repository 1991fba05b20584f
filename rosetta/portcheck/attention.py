"""Attention in NumPy, for re-running a captured attention with one of its settings changed.

A `Setting` is what a port of an attention can get wrong without changing a weight: the number of
heads, the scale of the scores (1/√d, or 1/d, or none), the mask (none, causal, or causal one
diagonal off), the axis of the softmax (over the keys, or over the queries) and the order in which a
packed projection is split into q, k, v. `fit` finds the setting that reproduces a side's own output
(its defaults first); the hints change one field and re-run (rosetta.portcheck.hints).
"""

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from foundation import tolerances
from rosetta.portcheck.report import Hint

SCALES = {"1/√d": lambda d: 1 / math.sqrt(d), "1/d": lambda d: 1 / d, "none": lambda d: 1.0}
MASKS = {"none": None, "causal": 0, "causal, one diagonal more": 1, "causal, one diagonal less": -1}
AXES = {"keys": -1, "queries": -2}
ORDERS = tuple("".join(p) for p in itertools.permutations("qkv"))
FIELDS = {"mask": tuple(MASKS), "scale": tuple(SCALES), "axis": tuple(AXES), "order": ORDERS}
KINDS = {
    "mask": "causal-mask",
    "scale": "attention-scale",
    "axis": "softmax-axis",
    "order": "qkv-order",
    "heads": "attention-heads",
}


@dataclass(frozen=True)
class Setting:
    heads: int
    scale: str = "1/√d"
    mask: str = "none"
    axis: str = "keys"
    order: str = "qkv"

    def differs(self, other):
        return [name for name in ("heads", *FIELDS) if getattr(self, name) != getattr(other, name)]


def split_heads(a, heads):
    n, t, width = a.shape
    return a.reshape(n, t, heads, width // heads).transpose(0, 2, 1, 3)  # (N, h, T, d)


def softmax(s, axis):
    e = np.exp(s - np.max(s, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def attend(q, k, v, setting):
    """softmax(Q_j K_jᵀ · scale + mask) V_j per head, heads concatenated: (N, Tq, h·dv)."""
    qh, kh, vh = (split_heads(np.asarray(a, np.float64), setting.heads) for a in (q, k, v))
    s = qh @ kh.transpose(0, 1, 3, 2) * SCALES[setting.scale](qh.shape[-1])  # (N, h, Tq, Tk)
    diagonal = MASKS[setting.mask]
    if diagonal is not None:
        allowed = np.tril(np.ones(s.shape[-2:], bool), diagonal)
        if not allowed.any(axis=-1).all():
            return None  # a query that sees no key: NaN in every framework
        s = np.where(allowed, s, -np.inf)
    out = softmax(s, AXES[setting.axis]) @ vh  # (N, h, Tq, dv)
    n, h, t, dv = out.shape
    return out.transpose(0, 2, 1, 3).reshape(n, t, h * dv)


def packed(qkv, setting):
    """q, k, v from one packed projection (N, T, 3E), split in the setting's order."""
    parts = dict(zip(setting.order, np.split(np.asarray(qkv, np.float64), 3, axis=-1)))
    return parts["q"], parts["k"], parts["v"]


def layer(inputs, weights, setting):
    """A multi-head attention layer (foundation.layouts' canonical weights) on its (query, key, value)."""
    w = {key: np.asarray(value, np.float64) for key, value in weights.items()}
    q, k, v = (np.asarray(x, np.float64) @ w[f"W{p}"] + w.get(f"b{p}", 0.0) for x, p in zip(inputs, "qkv"))
    out = attend(q, k, v, setting)
    return None if out is None else out @ w["Wo"] + w.get("bo", 0.0)


def divisors(width):
    return [h for h in range(1, width + 1) if width % h == 0]


def close(u, v, dtype, tol):
    return u is not None and np.shape(u) == np.shape(v) and tolerances.rel_diff(u, v, dtype) <= tol


def fit(run, out, heads, dtype, tol):
    """The setting whose re-run `run(setting)` is within `tol` of `out`: each of `heads`, with no mask
    or a causal one, the other fields at their defaults; None when none fits."""
    for h, mask in itertools.product(heads, ("none", "causal")):
        setting = Setting(h, mask=mask)
        if close(run(setting), out, dtype, tol):
            return setting
    return None


def variants(setting):
    """`setting` with one field changed: the ports' mistakes, one at a time."""
    for name, values in FIELDS.items():
        for value in values:
            if value != getattr(setting, name):
                yield replace(setting, **{name: value})


def nearest(run, out, heads, dtype):
    """The re-run closest to `out` among the fitted settings (no mask or causal, each head count)."""
    runs = [run(Setting(h, mask=mask)) for h, mask in itertools.product(heads, ("none", "causal"))]
    runs = [r for r in runs if r is not None and np.shape(r) == np.shape(out)]
    return min(runs, key=lambda r: tolerances.rel_diff(out, r, dtype), default=None)


DESCRIBE = {
    "mask": lambda value: "no mask" if value == "none" else f"a {value} mask",
    "scale": lambda value: "unscaled scores" if value == "none" else f"scores scaled by {value}",
    "axis": lambda value: f"its softmax over the {value}",
    "order": lambda value: f"its packed projection split as {', '.join(value)}",
    "heads": lambda value: f"{value} heads",
}


def describe(setting, field):
    return DESCRIBE[field](getattr(setting, field))


FIXES = {
    "mask": "a causal mask: torch attn_mask=torch.triu(torch.ones(T, T, dtype=torch.bool), 1), Keras "
    "use_causal_mask=True, Flax mask=nnx.make_causal_mask(tokens)",
    "scale": "torch's, Keras's and Flax's attention layers scale by 1/√head_dim",
    "axis": "the softmax runs over the keys (the last axis of the scores)",
    "order": "split the packed projection in the same order on both sides (nanoGPT: q, k, v)",
    "heads": "the same number of heads on both sides",
}


# ---- the hints: a setting or the projections' order changed on one side, re-run ----


def site(block, triple, weights, captured):
    """A block that computes attention, as (re-run, its output, head counts, fields a port may get
    wrong): a multi-head attention layer, or attention written by hand from one packed projection
    (N, T, 3E) to the (N, T, E) that reaches the next layer; None otherwise."""
    head, (_, pre, post) = block.head, triple
    if head.kind == "attention":
        inputs = [captured.values[name] for name in block.anchor.inputs]
        return (lambda s: layer(inputs, weights, s)), pre, (head.config[0],), ("mask", "scale", "axis")
    shapes = np.shape(pre), np.shape(post)
    if (
        len(shapes[0]) == 3 == len(shapes[1])
        and shapes[0][:2] == shapes[1][:2]
        and shapes[0][2] == 3 * shapes[1][2]
    ):
        return (lambda s: attend(*packed(pre, s), s)), post, divisors(shapes[1][2]), tuple(FIELDS)
    return None


def settings(ev):
    """One side's attention fits its defaults, the other's only with one setting changed; that setting
    on the other side's own inputs gives this side's output."""
    out, tol = [], ev.report.tolerance["gradient"]
    wa, wb = ev.ma.weights(), ev.mb.weights()
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        sides = [site(ba, ev.fa[i], wa[i], ev.ma.graph), site(bb, ev.fb[i], wb[i], ev.mb.graph)]
        if None in sides or close(sides[0][1], sides[1][1], ev.report.dtype, tol):
            continue
        found = [fit(run, value, heads, ev.report.dtype, tol) for run, value, heads, _ in sides]
        for (m, s, mine), (other, theirs) in (
            ((ev.ma, found[0], sides[0]), (ev.mb, sides[1])),
            ((ev.mb, found[1], sides[1]), (ev.ma, sides[0])),
        ):
            hint = changed(s, mine, theirs, ev.report.dtype, tol)
            if hint is not None:
                field, value = hint
                msg = (
                    f"{other.framework}'s attention has {describe(value, field)}, {m.framework}'s "
                    f"{describe(s, field)}: with {m.framework}'s, {other.framework}'s inputs give "
                    f"{m.framework}'s output ({FIXES[field]})"
                )
                out.append(Hint(KINDS[field], i, msg))
                break
    return out


def changed(mine_setting, mine, theirs, dtype, tol):
    """(field, the other side's setting) when the other side fits `mine_setting` with one field changed
    (or another head count), and `mine_setting` re-run on its inputs gives `mine`'s output."""
    if mine_setting is None:
        return None
    run, value, heads, fields = theirs
    if not close(run(mine_setting), mine[1], dtype, tol):
        return None
    candidates = [v for v in variants(mine_setting) if v.differs(mine_setting)[0] in fields]
    candidates += [replace(mine_setting, heads=h) for h in heads if h != mine_setting.heads]
    for v in candidates:
        if close(run(v), value, dtype, tol):
            return v.differs(mine_setting)[0], v
    return None


def projections(ev):
    """Attention layers whose weights differ: the other side's q, k, v projections read in another
    order are this side's, and re-run so they give this side's output (a packed in_proj_weight split
    in another order)."""
    out, tol = [], ev.report.tolerance["gradient"]
    wa, wb = ev.ma.weights(), ev.mb.weights()
    for i, (ba, bb) in enumerate(zip(ev.blocks_a, ev.blocks_b)):
        if ba.head.kind != "attention" or bb.head.kind != "attention" or ev.weights[i] == "equal":
            continue
        for order in ORDERS[1:]:
            moved = dict(wb[i]) | {
                f"{w}{p}": wb[i][f"{w}{o}"] for p, o in zip("qkv", order) for w in "Wb" if f"{w}{o}" in wb[i]
            }
            if all(close(moved[k], wa[i][k], ev.report.dtype, tol) for k in wa[i] if k in moved):
                msg = (
                    f"{ev.mb.framework}'s attention projections are {ev.ma.framework}'s in the order "
                    f"{', '.join(order)}: a packed projection (torch's in_proj_weight, rows q, k, v) "
                    "split in another order"
                )
                out.append(Hint("qkv-order", i, msg))
                break
    return out
