"""`rosetta parity`: for each task, framework × framework differences after the same steps.

Forward and gradients come from the shared initial weights; weights after the first
min(steps, 200) steps (50 for float32 Adam: foundation.tolerances.trajectory_steps). A pair is judged
against the tolerance policy when both run the same optimizer formula; a pair across a documented
formula difference (Keras's Adam) is measured and shown, and the framework is judged against the
reference running its own formula instead.
"""

from foundation import frameworks, tolerances
from foundation.tolerances import rel_diff, rel_diff_params
from rosetta import progress, runner, tasks

CHECKS = ("forward", "grads", "weights")


def run(selected, runs, dtype, cap=tolerances.TRAJECTORY_STEPS, quiet=False):
    jobs = [(task.name, min(tolerances.trajectory_steps(task, dtype), cap)) for task in selected]
    with progress.bar(len(runs) * len(jobs), quiet=quiet) as advance:
        results = runner.run_runs(runs, jobs, dtype, on_done=advance)
    return [matrix(task, steps, _columns(task, runs, results, dtype, steps), dtype) for task, (_, steps) in
            zip(selected, jobs)]  # fmt: skip


def _columns(task, runs, results, dtype, steps):
    """{label: (result, formula)}; plus the reference with each other formula a framework needs."""
    columns = {run.label: (results[run.label][task.name], _key(run.framework, task)) for run in runs}
    fw = frameworks.load("numpy")
    for run in runs:
        changes = frameworks.formula(run.framework, task)
        label = f"numpy[{run.framework}]"  # the reference following that framework's formula
        if changes and label not in columns:
            variant = tasks.with_formula(task, changes)
            columns[label] = (runner.run_task(fw, variant, dtype, steps), _key(run.framework, task))
    return columns


def _key(framework, task):
    changes = frameworks.formula(framework, task)
    return ",".join(f"{k}={v}" for k, v in sorted(changes.items())) or "torch"


def diffs(a, b, dtype):
    return {
        "forward": rel_diff(a["forward0"], b["forward0"], dtype),
        "grads": rel_diff_params(a["grads0"], b["grads0"], dtype),
        "weights": rel_diff_params(a["params"], b["params"], dtype),
    }


def judge(d, dtype):
    limits = {"forward": tolerances.FORWARD[dtype], "grads": tolerances.FORWARD[dtype],
              "weights": tolerances.TRAJECTORY[dtype]}  # fmt: skip
    return all(d[check] <= limits[check] for check in CHECKS)


def matrix(task, steps, columns, dtype):
    """Every ordered pair (row, column): its differences and pass/fail, or 'variant'."""
    cells = []
    for a, (result_a, formula_a) in columns.items():
        for b, (result_b, formula_b) in columns.items():
            if a == b:
                continue
            d = diffs(result_a, result_b, dtype)
            status = ("pass" if judge(d, dtype) else "FAIL") if formula_a == formula_b else "variant"
            cells.append({"row": a, "column": b, **d, "status": status})
    ok = all(cell["status"] != "FAIL" for cell in cells)
    return {"task": task.name, "steps": steps, "labels": list(columns), "cells": cells, "ok": ok}


def format(matrices):
    """One small matrix per task: the worst of forward/grads/weights, and its verdict."""
    lines = []
    mark = {"pass": "✓", "FAIL": "✗", "variant": "~"}
    for m in matrices:
        labels = m["labels"]
        width = max(len(label) for label in labels) + 1
        lines.append(f"\n{m['task']} ({m['steps']} steps)  {'PASS' if m['ok'] else 'FAIL'}")
        lines.append(" " * width + "".join(f"{label:>{width + 2}}" for label in labels))
        worst = {(c["row"], c["column"]): (max(c[k] for k in CHECKS), mark[c["status"]]) for c in m["cells"]}
        for a in labels:
            row = "".join(
                f"{'—':>{width + 2}}" if a == b else f"{worst[a, b][0]:>{width}.1e} {worst[a, b][1]}"
                for b in labels
            )
            lines.append(f"{a:<{width}}{row}")
    lines.append("\ncell: max over forward, gradients, weights of max|a − b|/max|b|; ✓ within tolerance,")
    lines.append("      ✗ beyond, ~ a different optimizer formula (measured, not judged)")
    return "\n".join(lines)
