"""The pictures `rosetta compare` writes: loss curves, fitted functions, decision boundaries."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from rosetta import frameworks, plotdata  # noqa: E402

CLASSES = ListedColormap(["tab:blue", "tab:orange", "tab:green"])  # class 0, 1, 2

FLOOR = 1e-20  # |Δloss| = 0 drawn at the floor of the log axis


def loss_curves(task, results, path):
    """Every framework's loss per step on one log axis; below, |loss − reference loss| per step
    (its maximum over windows of steps when the run is long)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=[2, 1])
    ref = results["numpy"]["history"]
    for i, (label, result) in enumerate(results.items()):
        style = {"lw": 3.0 - 0.35 * i, "alpha": 0.8, "color": f"C{i}"}  # later lines thinner: overlaps show
        top.plot(result["history"], label=_own_formula(label, task), **style)
        if label != "numpy":
            steps, gap = envelope(np.abs(result["history"] - ref))
            bottom.plot(steps, np.maximum(gap, FLOOR), label=label, lw=0.8, color=f"C{i}")
    top.set(yscale="log", ylabel="loss", title=f"{task.name}: training loss per step")
    bottom.set(yscale="log", xlabel="step", ylabel="|loss − numpy|")
    top.legend()
    if len(results) > 1:
        bottom.legend(fontsize="small")
    _save(fig, path)


def envelope(values, points=500):
    """(steps, max over each window) of a long per-step series; the series itself when short."""
    width = max(1, len(values) // points)
    if width == 1:
        return np.arange(len(values)), values
    n = len(values) // width * width
    return np.arange(0, n, width), values[:n].reshape(-1, width).max(axis=1)


def _own_formula(label, task):
    """The label, marked when the framework follows its own optimizer formula (docs/divergences.md)."""
    changes = frameworks.formula(label.split("-")[0], task)
    return f"{label} (its own {task.optimizer.name}: {', '.join(f'{k}={v}' for k, v in changes.items())})" \
        if changes else label  # fmt: skip


def regression_fit(task, results, path):
    """The fitted function of each framework over the target, on the grid and beyond it."""
    x, y = task.data()
    grid = plotdata.inputs(task).ravel()
    tanh = task.layers[0].activation == "tanh"
    fig, axes = plt.subplots(1, 2 if tanh else 1, figsize=(13 if tanh else 8, 5), squeeze=False)
    ax = axes[0, 0]
    ax.scatter(x, y, s=4, color="black", label="target (training grid)")
    for i, (label, result) in enumerate(results.items()):
        ax.plot(grid, result["plot"].ravel(), lw=3.0 - 0.35 * i, alpha=0.8, label=label)
    ax.axvspan(x.min(), x.max(), color="grey", alpha=0.08)
    ax.set(title=f"{task.name}: fit on [-3, 3], extrapolation beyond", xlabel="x", ylabel="y")
    ax.legend(fontsize="small")
    if tanh:
        neurons(task, results["numpy"]["params"], grid, axes[0, 1])
    _save(fig, path)


def neurons(task, params, grid, ax):
    """The tutorial's decomposition: each last-hidden-layer neuron's term wᵢ·tanh(...) of the output."""
    hidden = grid.reshape(-1, 1)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ layer["W"] + layer["b"])  # (M, units)
    terms = hidden * params[-1]["W"][:, 0]  # (M, units): wᵢ·hᵢ(x)
    ax.plot(grid, terms, lw=0.8, color="tab:blue", alpha=0.6)
    ax.plot(grid, terms.sum(axis=1) + params[-1]["b"][0], lw=2, color="magenta", label="sum + b")
    ax.set(title="numpy: output = Σ wᵢ·tanh(neuron i) + b", xlabel="x")
    ax.legend()


def decision_boundaries(task, results, path):
    """One panel per framework: the predicted class over the input plane, with the data."""
    x, y = task.data()
    labels = y if y.ndim == 1 else (np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0] > 0.5)
    a, b = plotdata.mesh_axes(task)
    n, levels = len(results), np.arange(4) - 0.5  # one colour band per class
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False, sharey=True)
    size = 60 if len(x) < 20 else 8  # the four XOR points must show
    for ax, (label, result) in zip(axes[0], results.items()):
        out = result["plot"]
        cls = np.argmax(out, axis=1) if out.shape[1] > 1 else out[:, 0] > 0.5
        ax.contourf(a, b, cls.reshape(len(b), len(a)).astype(float), levels, alpha=0.3, cmap=CLASSES)
        ax.scatter(x[:, 0], x[:, 1], c=labels, s=size, cmap=CLASSES, vmin=0, vmax=2, edgecolors="k",
                   linewidths=0.3)  # fmt: skip
        ax.set_title(label, fontsize="small")
    fig.suptitle(f"{task.name}: decision boundary of each framework")
    _save(fig, path)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(task, results, out_dir):
    """The task's plots into out_dir; returns the file names written."""
    files = plotdata.file_names(task)
    loss_curves(task, results, out_dir / files[0])
    kind = plotdata.kind(task)
    if kind == "regression":
        regression_fit(task, results, out_dir / files[-1])
    elif kind == "classification":
        decision_boundaries(task, results, out_dir / files[-1])
    return files
