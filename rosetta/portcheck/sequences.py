"""Recurrent layers in NumPy (reference_numpy), for re-running a captured LSTM/GRU: one direction or
both, the whole sequence of outputs or its last state.

A recurrent anchor's value is what the layer returns: torch's nn.LSTM/nn.GRU the sequence (N, T, u),
Keras's the sequence with return_sequences=True, else the last state (N, u). Bidirectional layers
concatenate the forward outputs and the reverse direction's, put back in time order (N, T, 2u); their
last state is the forward h_T and the reverse direction's state after reading x_0. Weights: canonical
"W", "U", "b" for the forward direction, "W_r", "U_r", "b_r" for the reverse one.
"""

import numpy as np

from reference_numpy import recurrent

FORWARD = {"lstm": recurrent.lstm, "gru": recurrent.gru}
DIRECTIONS = ("", "_r")
KEYS = ("W", "U", "b")


def bidirectional(head):
    return "bidirectional" in head.config


def run(kind, inp, layer):
    """The layer's outputs (N, T, directions·u) on `inp` (N, T, F), float64."""
    x, outs = np.asarray(inp, np.float64), []
    for suffix in (s for s in DIRECTIONS if f"W{s}" in layer):
        params = {key: np.asarray(layer[key + suffix], np.float64) for key in KEYS}
        h = FORWARD[kind](x[:, ::-1] if suffix else x, params)[0]
        outs.append(h[:, ::-1] if suffix else h)  # the reverse direction's outputs back in time order
    return np.concatenate(outs, axis=-1)


def last_state(seq, both):
    """The many-to-one state of a sequence of outputs (N, T, k)."""
    if not both:
        return seq[:, -1]
    u = seq.shape[-1] // 2
    return np.concatenate([seq[:, -1, :u], seq[:, 0, u:]], axis=-1)


def like(seq, ndim, head):
    """`seq` as a value of `ndim` dimensions holds it: the sequence, or (many-to-one) its last state."""
    return last_state(seq, bidirectional(head)) if np.ndim(seq) == 3 and ndim == 2 else seq


def rerun(head, inp, layer, target):
    """The recurrent layer re-run in NumPy, shaped as `target` (a sequence or a last state)."""
    return like(run(head.kind, inp, layer), np.ndim(target), head)


def paired(fa, fb, blocks):
    """The per-block (input, output, after) of both sides, each recurrent output reduced to its last
    state where the other side's layer returns only that (torch's nn.LSTM always returns sequences;
    its forward takes out[:, -1])."""
    fa, fb = list(fa), list(fb)
    for i, block in enumerate(blocks):
        if block.head.kind in FORWARD:
            (ia, pa, qa), (ib, pb, qb) = fa[i], fb[i]
            fa[i] = (ia, like(pa, np.ndim(pb), block.head), qa)
            fb[i] = (ib, like(pb, np.ndim(pa), block.head), qb)
    return fa, fb
