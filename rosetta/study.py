"""Study pages: each family's network written natively four times (<package>/study/<family>.py: NumPy with
its backward pass by hand, a torch nn.Module, a Keras Sequential, JAX with jax.grad and optax), shown side
by side concept by concept, with the proof that they agree measured in the same run.

The native files mark their sections with a comment line `# --- model` (loss, gradient, update, loop,
data); a page is one grid whose rows are the sections, so matching sections start at the same height. A
line naming a row of divergences/catalog.py (`dense-layout/torch`) gets that row's note beside it.
"""

import base64
import contextlib
import functools
import importlib
import os
import re
import sys
import tempfile
from html import escape
from pathlib import Path

import numpy as np

import reference_numpy as ref
from divergences.catalog import CATALOG
from foundation import frameworks, outdir, tolerances
from foundation.errors import UsageError, unknown
from foundation.params import dtype_of
from foundation.tasks import with_formula
from foundation.tolerances import rel_diff, rel_diff_params
from rosetta import plotdata, tasks

# in the order of the index
FAMILIES = ("xor", "lego", "regression", "softmax", "cnn", "lstm", "gru", "resnet", "bilstm", "deconv",
            "transformer")  # fmt: skip
COLUMNS = ("numpy", "jax", "torch", "keras")  # NumPy beside JAX: the hand backward beside jax.grad
TITLES = {"numpy": "NumPy", "jax": "JAX", "torch": "PyTorch", "keras": "Keras 3"}
SECTIONS = ("file", "model", "loss", "gradient", "update", "loop", "data")  # "file": before the first mark
MARK = re.compile(r"^# --- (\w+)\s*$")
CHECKS = ("forward", "loss", "grads", "trajectory loss", "trajectory params")
ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "divergences.md"


def families(names):
    """'all', or family names; an unknown one is an error naming the valid ones."""
    names = [names] if isinstance(names, str) else list(names)
    if names == ["all"]:
        return list(FAMILIES)
    for name in names:
        if name not in FAMILIES:
            raise unknown("study family", name, FAMILIES)
    return list(dict.fromkeys(names))


def path(framework, family):
    package = frameworks.FRAMEWORKS[framework][0]
    return ROOT / package / "study" / f"{family}.py"


def task_of(family):
    """The catalog task a family's files follow (their TASK)."""
    return tasks.get(native("numpy", family).TASK)


def native(framework, family):
    """The native file's module, e.g. impl_torch.study.xor."""
    with frameworks.start_up_lines_dropped():
        return importlib.import_module(f"{frameworks.FRAMEWORKS[framework][0]}.study.{family}")


# ---- the proof: the native file against the reference interpreter ----


def limit(check, dtype):
    return (tolerances.FORWARD if check in ("forward", "loss", "grads") else tolerances.TRAJECTORY)[dtype]


def measure(framework, family, dtype="float64"):
    """{check: relative difference} of the native file against reference_numpy's interpreter on the
    catalog task: forward, loss and gradients from the initial weights, then the loss history and the
    weights after the trajectory parity tests run (≤ 200 steps); Keras against the reference's own
    variant of a formula (Adam's ε̂: foundation.frameworks.formula)."""
    return trial(framework, family, dtype)[0]


def trial(framework, family, dtype="float64"):
    """(measure's figures, the run the page's plots draw: the file's loss history over the trajectory,
    its weights after it and its outputs there on the plot's inputs)."""
    study = native(framework, family)
    task = tasks.get(study.TASK)
    steps = tolerances.trajectory_steps(task, dtype)
    with keras_settings_kept(), torch_on_one_thread():
        x, y, params, batches = study.load(dtype, steps)
        model = study.build(params)
        out = study.forward(model, x)
        loss, grads = study.grads(model, x, y)
        trained, losses = study.train(params, x, y, batches)
        grid = plotdata.inputs(task)
        plot = None if grid is None else study.forward(study.build(trained), grid.astype(dtype))
    if out.dtype != dtype_of(params):
        raise AssertionError(f"{framework} {family}: forward returned {out.dtype}, the weights are {dtype}")
    expected = reference(task.name, tuple(frameworks.formula(framework, task).items()), dtype)
    figures = {
        "forward": rel_diff(out, expected["forward"], dtype),
        "loss": rel_diff(loss, expected["loss"], dtype),
        "grads": rel_diff_params(grads, expected["grads"], dtype),
        "trajectory loss": rel_diff(losses, expected["trajectory loss"], dtype),
        "trajectory params": rel_diff_params(trained, expected["trajectory params"], dtype),
    }
    run = {"history": np.asarray(losses), "steps": len(losses), "every": 1, "params": trained, "plot": plot}
    return figures, run


@functools.cache
def reference(name, formula, dtype):
    """What reference_numpy's interpreter computes for the task from its initial weights (`formula`: the
    settings of a framework's own variant, foundation.frameworks.formula); kept for the other files."""
    task = tasks.get(name)
    x, y = task.data()
    params = task.init_params(dtype)
    loss, grads = ref.loss_and_grads(task, params, x, y)
    trained, history = ref.train(
        with_formula(task, dict(formula)), params, tolerances.trajectory_steps(task, dtype)
    )
    out = ref.forward(task, params, x)
    return {"forward": out, "loss": loss, "grads": grads, "trajectory loss": history["loss"],
            "trajectory params": trained}  # fmt: skip


@contextlib.contextmanager
def torch_on_one_thread():
    """torch's intra-op pool at one thread while a file runs, then put back. Once JAX or TensorFlow has
    run in the process their thread pools hold the cores, and torch's two OpenMP threads wait on each
    other: the transformer's torch file took 11–14 s for its 200 steps on two cores, 2.0 s on one
    thread. The arithmetic moves at rounding level only."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def keras_settings_kept():
    """The Keras files set floatx and the dtype policy from the weights: put them back afterwards."""
    keras = sys.modules.get("keras")
    saved = (keras.config.floatx(), keras.config.dtype_policy()) if keras else None
    try:
        yield
    finally:
        if saved:
            keras.config.set_floatx(saved[0])
            keras.config.set_dtype_policy(saved[1])


def ok(figures, dtype="float64"):
    return all(value <= limit(check, dtype) for check, value in figures.items())


# ---- the page ----


def sections(source):
    """{section: its lines} of a native file, in file order, the mark lines dropped."""
    found, name = {"file": []}, "file"
    for line in source.splitlines():
        mark = MARK.match(line)
        if mark:
            name = mark.group(1)
            found[name] = []
        else:
            found[name].append(line)
    return {key: "\n".join(lines).strip("\n") for key, lines in found.items()}


def highlighted(code):
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(code, PythonLexer(), HtmlFormatter(nowrap=True))


def anchors():
    """{row key: its heading's anchor in docs/divergences.md} (GitHub's: lowercase, punctuation dropped)."""
    found = {}
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"^### `([^`]+)`", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", line[4:].lower()).replace(" ", "-")
            found[heading.group(1)] = slug
    return found


def notes(code, out):
    """<li> notes for the catalog rows `code` names: title, the gap docs/divergences.md quotes, the fix."""
    links, docs = anchors(), os.path.relpath(DOCS, out)
    items = []
    for row in CATALOG:
        if re.search(rf"\b{re.escape(row.key)}\b", code):
            gap = f"measured gap {row.documented:.3g}" if row.kind == "formula" else "a rounding-level gap"
            href = f"{docs}#{links.get(row.key, '')}"
            items.append(f'<li><a href="{escape(href)}">{escape(row.key)}</a>: {escape(row.title)} '
                         f"({gap}; {escape(row.fix)})</li>")  # fmt: skip
    return f'<ul class="notes">{"".join(items)}</ul>' if items else ""


def figures_table(framework, figures, dtype):
    rows = []
    for check, value in figures.items():
        mark = "ok" if value <= limit(check, dtype) else "bad"
        rows.append(f'<tr class="{mark}"><th>{check}</th><td id="fig-{framework}-{check.replace(" ", "-")}" '
                    f'data-value="{value:.3e}" data-limit="{limit(check, dtype):.0e}">{value:.1e}</td>'
                    f"<td>≤ {limit(check, dtype):.0e}</td></tr>")  # fmt: skip
    return f'<table class="parity" id="parity-{framework}">{"".join(rows)}</table>'


def variant(framework, task):
    """Where the framework is judged against the reference's own variant of a formula, which one."""
    changes = frameworks.formula(framework, task)
    if not changes:
        return ""
    settings = ", ".join(f"{key}={value}" for key, value in changes.items())
    text = f"judged against the reference run with {settings}: its own formula"
    return f'<p class="variant" id="variant-{framework}">{text}</p>'


def pictures(family, runs):
    """rosetta compare's plots of the four files' own runs (plots.write), as data: URIs to inline."""
    from rosetta import plots

    task = task_of(family)
    with tempfile.TemporaryDirectory() as tmp:
        names = plots.write(task, runs, Path(tmp))
        return [(name, base64.b64encode((Path(tmp) / name).read_bytes()).decode()) for name in names]


def figures_section(drawn, steps):
    images = "".join(
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(name)}" id="plot-{i}">'
        f"<figcaption>{escape(name)}</figcaption></figure>"
        for i, (name, data) in enumerate(drawn)
    )
    text = (f"rosetta compare's plots, drawn from the four files' own runs above (the trajectory's {steps} "
            "steps, not the task's whole schedule):")  # fmt: skip
    return f'<section class="plots"><p>{escape(text)}</p>{images}</section>'


def page(family, figures, out, dtype="float64", drawn=()):
    """One family's page: a header per framework (file, parity figures), the plots of the four runs, then
    a grid row per section."""
    task = task_of(family)
    steps = tolerances.trajectory_steps(task, dtype)
    cells = []
    for fw in COLUMNS:
        where = path(fw, family).relative_to(ROOT)
        cells.append(f'<div class="head" id="head-{fw}" data-framework="{fw}">'
                     f'<h2 id="name-{fw}">{TITLES[fw]}</h2><code>{where}</code>'
                     f"{figures_table(fw, figures[fw], dtype)}{variant(fw, task)}</div>")  # fmt: skip
    parts = {fw: sections(path(fw, family).read_text()) for fw in COLUMNS}
    for name in [s for s in SECTIONS if any(s in parts[fw] for fw in COLUMNS)]:
        cells.append(f'<div class="section" id="section-{name}">{name}</div>')
        for fw in COLUMNS:
            code = parts[fw].get(name, "")
            cells.append(f'<div class="cell" id="code-{fw}-{name}" data-framework="{fw}">'
                         f'<pre class="code">{highlighted(code)}</pre>{notes(code, out)}</div>')  # fmt: skip
    intro = (f"<p>{escape(task.description)} — catalog task <code>{task.name}</code>. Each column is a "
             f"self-contained file; the figures are each file's worst relative difference from "
             f"<code>reference_numpy</code>'s interpreter, measured in this run ({dtype}; the trajectory: "
             f"{steps} steps). Each file runs on its own, the task's whole schedule: "
             f"<code>python -m impl_torch.study.{family}</code>.</p>")  # fmt: skip
    nav = '<nav><a href="index.html">all families</a></nav>'
    plots = figures_section(drawn, steps) if drawn else ""
    return document(f"{family} — nn-rosetta study", f'{nav}<h1>{family}</h1>{intro}{plots}<main class="grid">'
                    f'{"".join(cells)}</main>')  # fmt: skip


def index(measured):
    rows = []
    for family, figures in measured.items():
        task = task_of(family)
        worst = "".join(f"<td>{max(figures[fw].values()):.1e}</td>" for fw in COLUMNS)
        rows.append(f'<tr><th><a href="{family}.html">{family}</a></th><td>{escape(task.description)}</td>'
                    f"{worst}</tr>")  # fmt: skip
    head = "".join(f"<th>{TITLES[fw]}</th>" for fw in COLUMNS)
    return document("nn-rosetta study", "<h1>nn-rosetta: study pages</h1><p>Each family's network in NumPy, "
                    "JAX, PyTorch and Keras, side by side; the worst relative difference of each from the "
                    f'reference, measured now.</p><table class="index"><tr><th>family</th><th>network</th>'
                    f'{head}</tr>{"".join(rows)}</table>')  # fmt: skip


def document(title, body):
    from pygments.formatters import HtmlFormatter

    style = HtmlFormatter().get_style_defs(".code")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}\n{style}</style></head><body>"
            f"{body}</body></html>\n")  # fmt: skip


CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 16px 32px; color: #222; }
h1 { margin: 12px 0 4px; } nav { margin-top: 8px; font-size: 13px; }
.grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 0 10px; }
.grid > div { min-width: 0; }
.head { border-bottom: 2px solid #444; padding-bottom: 6px; }
.head h2 { margin: 8px 0 2px; font-size: 18px; } .head code { font-size: 12px; color: #555; }
.section { grid-column: 1 / -1; margin-top: 14px; padding: 2px 6px; background: #eef; font-weight: 600; }
pre.code { margin: 4px 0 0; padding: 6px; overflow-x: auto; background: #f8f8f8; font-size: 12px;
  line-height: 1.35; border: 1px solid #e4e4e4; }
.variant { margin: 4px 0 0; font-size: 12px; color: #555; }
.notes { margin: 4px 0 0; padding-left: 18px; font-size: 12px; color: #533; }
table.parity { margin-top: 6px; font-size: 12px; border-collapse: collapse; }
table.parity th { text-align: left; font-weight: normal; padding-right: 8px; }
table.parity td { padding-right: 8px; font-family: monospace; }
tr.ok td:first-of-type { color: #15692a; } tr.bad td:first-of-type { color: #b00; font-weight: bold; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.plots p { flex-basis: 100%; margin: 4px 0 0; font-size: 13px; } .plots figure { margin: 0; }
.plots img { max-width: 600px; width: 100%; } .plots figcaption { font-size: 12px; color: #555; }
table.index { border-collapse: collapse; } table.index td, table.index th { padding: 4px 10px;
  border-bottom: 1px solid #ddd; text-align: left; }
"""


def write(names, out, dtype="float64", on_done=lambda family: None):
    """Measure each family's four files, then write their pages and index.html into `out`, all or none
    (foundation.outdir.staged). Returns {family: {framework: figures}}."""
    outdir.check(out, [f"{family}.html" for family in names] + ["index.html"])
    if frameworks.keras_backend() != "tensorflow":  # fixed at import: check before any work
        raise UsageError(f"the Keras study files take their gradients from TensorFlow's tape; run with "
                         f"KERAS_BACKEND=tensorflow (it is {frameworks.keras_backend()!r})")  # fmt: skip
    measured, drawn = {}, {}
    for family in names:
        trials = {fw: trial(fw, family, dtype) for fw in COLUMNS}
        measured[family] = {fw: figures for fw, (figures, _) in trials.items()}
        drawn[family] = pictures(family, {fw: run for fw, (_, run) in trials.items()})
        on_done(family)
    with outdir.staged(out) as stage:
        for family in names:
            (stage / f"{family}.html").write_text(page(family, measured[family], out, dtype, drawn[family]))
        (stage / "index.html").write_text(index(measured))
    return measured
