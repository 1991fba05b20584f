"""The inputs each framework is evaluated on for the plots (NumPy grids, no plotting library)."""

import numpy as np

EXTRAPOLATE = (-6.0, 6.0)  # the tutorial's picture: the fit on [-3, 3] and beyond it
MESH = 120  # points per side of a decision-boundary grid


def kind(task):
    if task.family == "graph":
        return graph_kind(task)
    if task.family == "transformer":
        return "attention"
    if task.family == "cnn":
        return "filters"
    if task.family == "recurrent":
        return "sequence"
    if not task.is_mlp:
        return None
    if task.family == "function_approximation" or (task.n_in == 1 and task.metric == "mse"):
        return "regression"
    if task.metric in ("accuracy", "mae") and task.n_in in (2, 3):
        return "classification"
    if task.name == "autoencoder":
        return "codes"
    return None


def graph_kind(task):
    """What a graph net's picture shows: its two directions, its reconstructions, its feature maps."""
    from rosetta.tasks import Bidirectional

    if any(isinstance(spec, Bidirectional) for spec in task.layers):
        return "directions"
    return "reconstructions" if len(task.output_shape) == 3 else "features"


def file_names(task):
    """The plot files `rosetta compare` writes for the task."""
    extra = {"regression": "fit", "classification": "boundary", "codes": "codes", "filters": "filters",
             "sequence": "outputs", "directions": "directions", "reconstructions": "reconstructions",
             "features": "features", "attention": "attention"}.get(kind(task))  # fmt: skip
    return [f"{task.name}-loss.png"] + ([f"{task.name}-{extra}.png"] if extra else [])


def extrapolated(task):
    """The data's range and half its width beyond each end: [-3, 3] -> EXTRAPOLATE, [0, 1] -> [-½, 1½]."""
    x, _ = task.data()
    lo, hi = x.min(), x.max()
    return lo - (hi - lo) / 2, hi + (hi - lo) / 2


def threshold(task):
    """The decision level of a one-column output: a logit's 0 (bce_logits), else a sigmoid's ½."""
    return 0.0 if task.loss == "bce_logits" else 0.5


def class_columns(task, out):
    """The columns of an output (or target) that hold the classes: multitask's after its regression ones."""
    return out[:, task.n_regression :] if task.loss == "multitask" else out


def mesh_axes(task):
    """The two plotted input axes: the data range plus a margin."""
    x, _ = task.data()
    lo, hi = x[:, :2].min(axis=0), x[:, :2].max(axis=0)
    margin = 0.15 * (hi - lo)
    return [np.linspace(lo[i] - margin[i], hi[i] + margin[i], MESH) for i in range(2)]


def inputs(task):
    """(M, *input_shape) float64 inputs to evaluate for the task's plot, or None when it needs none."""
    if kind(task) == "regression":
        return np.linspace(*extrapolated(task), 600).reshape(-1, 1)
    if kind(task) == "classification":
        a, b = np.meshgrid(*mesh_axes(task))
        grid = np.c_[a.ravel(), b.ravel()]  # (MESH², 2)
        if task.n_in == 3:  # the 11-lines inputs carry a constant third column (the bias)
            grid = np.c_[grid, np.ones(len(grid))]
        return grid
    if kind(task) in ("codes", "sequence", "reconstructions"):
        return task.data()[0]  # the eight one-hot inputs; the training sequences; the noisy images
    return None
