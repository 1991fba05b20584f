"""The pictures `rosetta compare` writes: loss curves, fitted functions, decision boundaries, an
autoencoder's bottleneck codes, a CNN's first kernels, a recurrent net's output per sequence, a
transformer's attention maps."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

import reference_numpy as ref  # noqa: E402
from foundation import frameworks, history
from rosetta import plotdata
from rosetta.tasks import GlobalAveragePooling2D, MultiHeadAttention  # noqa: E402

CLASSES = ListedColormap(["tab:blue", "tab:orange", "tab:green"])  # class 0, 1, 2

FLOOR = 1e-20  # |Δloss| = 0 drawn at the floor of the log axis


def loss_curves(task, results, path):
    """Every framework's loss history on one log axis, per step or per window of steps (the same
    windows in every run); below, |loss − reference loss| (its maximum over windows of points when the
    history is long)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=[2, 1])
    ref = results["numpy"]
    at = history.ends(ref["steps"], ref["every"])
    for i, (label, result) in enumerate(results.items()):
        style = {"lw": 3.0 - 0.35 * i, "alpha": 0.8, "color": f"C{i}"}  # later lines thinner: overlaps show
        top.plot(at, result["history"], label=_own_formula(label, task), **style)
        if label != "numpy":
            points, gap = envelope(np.abs(result["history"] - ref["history"]))
            bottom.plot(at[points], np.maximum(gap, FLOOR), label=label, lw=0.8, color=f"C{i}")
    per = "step" if ref["every"] == 1 else f"{ref['every']} steps (mean per sample; Keras: one execution)"
    top.set(yscale="log", ylabel="loss", title=f"{task.name}: training loss per {per}")
    bottom.set(yscale="log", xlabel="step", ylabel="|loss − numpy|")
    top.legend()
    if len(results) > 1:
        bottom.legend(fontsize="small")
    _save(fig, path)


def envelope(values, points=500):
    """(indices, max over each window) of a long series; the series itself when short."""
    width = max(1, len(values) // points)
    if width == 1:
        return np.arange(len(values)), values
    n = len(values) // width * width
    return np.arange(0, n, width), values[:n].reshape(-1, width).max(axis=1)


def _own_formula(label, task):
    """The label, marked when the framework follows its own optimizer formula (docs/divergences.md)."""
    changes = frameworks.formula(label.split("-")[0], task)
    return f"{label} (its own formula: {', '.join(f'{k}={v}' for k, v in changes.items())})" \
        if changes else label  # fmt: skip


def regression_fit(task, results, path):
    """The fitted function of each framework over the target, on the grid and beyond it; one panel
    per output column, and the per-neuron decomposition of a one-output net with a smooth hidden layer."""
    x, y = task.data()
    grid = plotdata.inputs(task).ravel()
    outputs = y.shape[1]
    terms = (
        outputs == 1 and len(task.layers) > 1 and task.layers[-2].activation in ("tanh", "sigmoid", "prelu")
    )
    panels = outputs + terms
    fig, axes = plt.subplots(1, panels, figsize=(8 if panels == 1 else 6.5 * panels, 5), squeeze=False)
    lo, hi = x.min(), x.max()
    for j, ax in enumerate(axes[0, :outputs]):
        ax.scatter(x, y[:, j], s=4, color="black", label="target (training grid)")
        for i, (label, result) in enumerate(results.items()):
            ax.plot(grid, result["plot"][:, j], lw=3.0 - 0.35 * i, alpha=0.8, label=label)
        ax.axvspan(lo, hi, color="grey", alpha=0.08)
        column = f" output {j}" if outputs > 1 else ""
        ax.set(
            title=f"{task.name}{column}: fit on [{lo:g}, {hi:g}], extrapolation beyond",
            xlabel="x",
            ylabel="y",
        )
        ax.legend(fontsize="small")
    if terms:
        neurons(task, results["numpy"]["params"], grid, axes[0, -1])
    _save(fig, path)


def neurons(task, params, grid, ax):
    """The tutorial's decomposition: each last-hidden-layer neuron's term wᵢ·f(...) of the output."""
    _, cache = ref.mlp.predict(task, params, grid.reshape(-1, 1))
    hidden = cache[-1][0]  # (M, units): the last hidden layer's activations, the output layer's input
    terms = hidden * params[-1]["W"][:, 0]  # (M, units): wᵢ·hᵢ(x)
    bias = params[-1]["b"][0] if "b" in params[-1] else 0.0  # Cybenko's sum has no free term
    ax.plot(grid, terms, lw=0.8, color="tab:blue", alpha=0.6)
    ax.plot(
        grid, terms.sum(axis=1) + bias, lw=2, color="magenta", label="sum + b" if "b" in params[-1] else "sum"
    )
    f = task.layers[-2].activation
    ax.set(title=f"numpy: output = Σ wᵢ·{f}(neuron i){' + b' if 'b' in params[-1] else ''}", xlabel="x")
    ax.legend()


def decision_boundaries(task, results, path):
    """One panel per framework: the predicted class over the input plane, with the data."""
    x, y = task.data()
    y, level = plotdata.class_columns(task, y), plotdata.threshold(task)
    labels = y if y.ndim == 1 else (np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0] > 0.5)
    a, b = plotdata.mesh_axes(task)
    n, levels = len(results), np.arange(4) - 0.5  # one colour band per class
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False, sharey=True)
    size = 60 if len(x) < 20 else 8  # the four XOR points must show
    for ax, (label, result) in zip(axes[0], results.items()):
        out = plotdata.class_columns(task, result["plot"])
        cls = np.argmax(out, axis=1) if out.shape[1] > 1 else out[:, 0] > level
        ax.contourf(a, b, cls.reshape(len(b), len(a)).astype(float), levels, alpha=0.3, cmap=CLASSES)
        ax.scatter(x[:, 0], x[:, 1], c=labels, s=size, cmap=CLASSES, vmin=0, vmax=2, edgecolors="k",
                   linewidths=0.3)  # fmt: skip
        ax.set_title(label, fontsize="small")
    fig.suptitle(f"{task.name}: decision boundary of each framework")
    _save(fig, path)


def bottleneck_codes(task, results, path):
    """One panel per framework: the code σ(x·W₁ + b₁) each one-hot input gets in the trained net."""
    x, _ = task.data()
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 3.6), squeeze=False, sharey=True)
    for ax, (label, result) in zip(axes[0], results.items()):
        _, cache = ref.mlp.predict(task, result["params"], x)
        codes = cache[0][2]  # (8, 3): the bottleneck's activations
        ax.imshow(codes, cmap="gray_r", vmin=0, vmax=1)
        for (row, col), value in np.ndenumerate(codes):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color="tab:red")
        ax.set(title=label, xticks=range(codes.shape[1]), yticks=range(len(x)), xlabel="code unit")
        ax.title.set_fontsize("small")
    axes[0, 0].set_ylabel("one-hot input")
    fig.suptitle(f"{task.name}: the {task.layers[0].units}-unit bottleneck's code for each input")
    _save(fig, path)


def conv_filters(task, results, path):
    """One row per framework: the trained first conv layer's kernels, one panel per filter (input
    channel 0), on one colour scale per row."""
    n, filters = len(results), task.layers[0].filters
    fig, axes = plt.subplots(n, filters, figsize=(1.5 * filters + 1, 1.5 * n + 0.6), squeeze=False)
    for row, (label, result) in zip(axes, results.items()):
        W = result["params"][0]["W"]  # (kh, kw, in, filters)
        limit = np.abs(W).max()
        for f, ax in enumerate(row):
            ax.imshow(W[:, :, 0, f], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set(xticks=[], yticks=[])
        row[0].set_ylabel(label, fontsize="small")
    for f, ax in enumerate(axes[0]):
        ax.set_title(f"filter {f}", fontsize="small")
    fig.suptitle(f"{task.name}: the first layer's trained kernels")
    _save(fig, path)


def sequence_outputs(task, results, path):
    """Every framework's output for each training sequence over the target: the predicted next value
    (mse), or the probability σ(logit) of a 1 (bce_logits)."""
    _, y = task.data()
    probability = task.loss == "bce_logits"
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.scatter(np.arange(len(y)), y[:, 0], s=10, color="black", label="target", zorder=3)
    for i, (label, result) in enumerate(results.items()):
        out = result["plot"][:, 0]
        ax.plot(1 / (1 + np.exp(-out)) if probability else out, lw=3.0 - 0.35 * i, alpha=0.8, label=label)
    what = "P(parity = 1)" if probability else "next value"
    ax.set(xlabel="training sequence", ylabel=what, title=f"{task.name}: {what} per sequence, each framework")
    ax.legend(fontsize="small")
    _save(fig, path)


def feature_maps(task, results, path):
    """One picture per class, then per framework the graph's last feature maps (the node before the
    global pooling, averaged over channels), computed by the reference from that framework's weights."""
    x, labels = task.data()
    picks = [int(np.argmax(labels == k)) for k in range(task.n_out)]  # the first image of each class
    pooled = next(i for i, spec in enumerate(task.layers) if isinstance(spec, GlobalAveragePooling2D))
    last = task.inputs[pooled][0]  # the node the pooling reads
    fig, axes = plt.subplots(1 + len(results), len(picks), figsize=(2 * len(picks), 2 * (1 + len(results))),
                             squeeze=False)  # fmt: skip
    for ax, i in zip(axes[0], picks):
        ax.imshow(x[i, :, :, 0], cmap="gray_r")
        ax.set_title(f"class {labels[i]}", fontsize="small")
    for row, (label, result) in zip(axes[1:], results.items()):
        maps = node_values(task, result["params"], x[picks])[last].mean(axis=-1)  # (picks, H, W)
        for ax, image in zip(row, maps):
            ax.imshow(image, cmap="viridis")
        row[0].set_ylabel(label, fontsize="small")
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    fig.suptitle(f"{task.name}: the residual block's output (mean over channels) per class")
    _save(fig, path)


def node_values(task, params, x):
    """Every node's output by name, the reference's inference-mode forward on `params`."""
    _, cache = ref.mlp.predict(task, ref.mlp.build(task, params), x)
    return {name: a for name, (_, _, a) in zip(task.names, cache)}


def directions(task, results, path):
    """One panel per framework: each training sequence's forward-direction share of the logit against
    its backward-direction share (the head's weights on each half of the last states), by class."""
    x, y = task.data()
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(max(3 * n, 6), 3.4), squeeze=False, sharex=True, sharey=True)
    for ax, (label, result) in zip(axes[0], results.items()):
        states, head = node_values(task, result["params"], x)[task.names[0]], result["params"][-1]["W"][:, 0]
        units = states.shape[1] // 2
        forward, backward = states[:, :units] @ head[:units], states[:, units:] @ head[units:]
        ax.scatter(forward, backward, c=y[:, 0], cmap=CLASSES, s=8)
        ax.set(title=label, xlabel="forward share")
        ax.title.set_fontsize("small")
    axes[0, 0].set_ylabel("backward share")
    fig.suptitle(f"{task.name}: what each direction adds to the logit (colour: the label)")
    _save(fig, path)


def reconstructions(task, results, path):
    """Four noisy inputs, their clean targets, and every framework's output for them."""
    x, y = task.data()
    rows = [("input", x[:4]), ("target", y[:4])] + [(label, r["plot"][:4]) for label, r in results.items()]
    fig, axes = plt.subplots(len(rows), 4, figsize=(6, 1.5 * len(rows)), squeeze=False)
    for row, (label, images) in zip(axes, rows):
        for ax, image in zip(row, images):
            ax.imshow(image[:, :, 0], cmap="gray_r", vmin=0, vmax=1)
            ax.set(xticks=[], yticks=[])
        row[0].set_ylabel(label, fontsize="small")
    fig.suptitle(f"{task.name}: noisy input, clean target, each framework's reconstruction")
    _save(fig, path)


def attention_maps(task, results, path):
    """Per framework (rows), each block's heads (columns): which earlier tokens each position attends to
    in the first training sequence, computed by the reference from that framework's trained weights."""
    x, _ = task.data()
    sites = [(i, spec) for i, spec in enumerate(task.layers) if isinstance(spec, MultiHeadAttention)]
    columns = [(i, spec, head) for i, spec in sites for head in range(spec.heads)]
    fig, axes = plt.subplots(len(results), len(columns), figsize=(2.2 * len(columns), 2.3 * len(results)),
                             squeeze=False)  # fmt: skip
    tokens = [str(token) for token in x[0]]
    for row, (label, result) in zip(axes, results.items()):
        values = node_values(task, result["params"], x[:1])
        for ax, (i, spec, head) in zip(row, columns):
            weights = attention_weights(task, result["params"], values, i, spec)  # (1, heads, T, T)
            ax.imshow(weights[0, head], cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(len(tokens)), tokens, fontsize=6)
            ax.set_yticks(range(len(tokens)), tokens, fontsize=6)
            ax.set_title(f"{task.names[i].split('.')[0]} head {head}", fontsize="small")
        row[0].set_ylabel(f"{label}\nquery", fontsize="small")
    fig.suptitle(f"{task.name}: attention per head on the first sequence (rows: the query, columns: the key)")
    _save(fig, path)


def attention_weights(task, params, values, i, spec):
    """softmax(Q Kᵀ/√d + mask) of attention node i, from the value its input node holds."""
    source = values[task.inputs[i][0]]
    return ref.transformer.attention(source, ref.mlp.build(task, params)[i], spec.heads, spec.causal)[1][4]


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
    elif kind == "codes":
        bottleneck_codes(task, results, out_dir / files[-1])
    elif kind == "filters":
        conv_filters(task, results, out_dir / files[-1])
    elif kind == "sequence":
        sequence_outputs(task, results, out_dir / files[-1])
    elif kind in GRAPH_PLOTS:
        GRAPH_PLOTS[kind](task, results, out_dir / files[-1])
    return files


GRAPH_PLOTS = {"features": feature_maps, "directions": directions, "reconstructions": reconstructions,
               "attention": attention_maps}  # fmt: skip
