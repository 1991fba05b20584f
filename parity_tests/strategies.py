"""Hypothesis strategies shared by the parity tests: random MLP tasks in the catalog's terms."""

import numpy as np
from hypothesis import strategies as st

from rosetta import tasks


@st.composite
def mlp_tasks(draw, losses=tasks.LOSSES, activations=tasks.ACTIVATIONS, max_depth=4):
    """Depth 1–4, widths 1–7 drawn independently (so most layers are non-square), every activation
    (PReLU's α per unit), every loss (multi-output heads; multitask with 1+ regression columns and
    2+ classes), bias on/off, L2 on/off, random leaky_relu/elu α."""
    depth = draw(st.integers(1, max_depth))
    sizes = tuple(draw(st.lists(st.integers(1, 7), min_size=depth + 1, max_size=depth + 1)))
    loss = draw(st.sampled_from(losses))
    if loss == "softmax_ce":
        sizes = sizes[:-1] + (max(sizes[-1], 2),)
    if loss == "multitask":
        sizes = sizes[:-1] + (max(sizes[-1], 3),)
    return tasks.make(
        sizes,
        tuple(draw(st.lists(st.sampled_from(activations), min_size=depth, max_size=depth))),
        loss=loss,
        bias=draw(st.booleans()),
        l2=draw(st.sampled_from([0.0, 0.01])),
        alpha=draw(st.sampled_from([None, 0.2, 1.5])),
        n=draw(st.integers(1, 9)),
        seed=draw(st.integers(0, 2**16)),
        n_regression=draw(st.integers(1, sizes[-1] - 2)) if loss == "multitask" else 1,
        loss_weights=draw(st.sampled_from([(1.0, 1.0), (0.3, 2.0)])),
    )


def off_kink_params(task, dtype="float64", seed=0):
    """The task's initial weights with random nonzero biases: zero biases put ReLU-after-ReLU
    pre-activations exactly on the kink at 0, where derivatives are a convention, not calculus.
    PReLU's α gets a different value per unit, so that a shared α or a misplaced one shows."""
    rng = np.random.default_rng(seed)
    params = task.init_params(dtype)
    for layer in params:
        if "b" in layer:
            layer["b"] = rng.uniform(-0.5, 0.5, layer["b"].shape).astype(dtype)
        if "alpha" in layer:
            layer["alpha"] = rng.uniform(-0.5, 0.5, layer["alpha"].shape).astype(dtype)
    return params
