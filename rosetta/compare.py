"""`rosetta compare`: every framework from the same weights, side by side against the reference."""

from foundation import frameworks, tolerances
from foundation.tolerances import rel_diff, rel_diff_params


def row(task, run, dtype, result, ref):
    """One table row: the run's figures and its distance from the NumPy reference."""
    steps = result["steps"]
    return {
        "task": task.name,
        "framework": run.framework,
        "backend": run.backend,
        "dtype": dtype,
        "steps": steps,
        "final_loss": float(result["final_loss"]),
        "metric": task.metric,
        "metric_value": result["metric_value"],
        "diff_forward": rel_diff(result["forward0"], ref["forward0"], dtype),
        "diff_loss": rel_diff(result["loss0"], ref["loss0"], dtype),
        "diff_grads": rel_diff_params(result["grads0"], ref["grads0"], dtype),
        "diff_weights": rel_diff_params(result["params"], ref["params"], dtype),
        "seconds": result["seconds"],
        "us_per_step": 1e6 * result["seconds"] / max(steps, 1),
    }


def passed(r):
    """Forward, loss and gradients from identical weights must meet the policy; final weights after
    a long run are shown, not judged (chaotic runs and documented formula differences diverge)."""
    worst = max(r["diff_forward"], r["diff_loss"], r["diff_grads"])
    return worst <= tolerances.FORWARD[r["dtype"]]


def label(r):
    return frameworks.label(r["framework"], r["backend"])


def format_table(rows):
    head = (f"{'task':<14} {'framework':<16} {'final loss':>11} {'metric':>16} {'Δforward':>9} "
            f"{'Δgrads':>9} {'Δweights':>9} {'seconds':>8} {'µs/step':>9}")  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in rows:
        metric = f"{r['metric']} {r['metric_value']:.4f}"
        lines.append(
            f"{r['task']:<14} {label(r):<16} {r['final_loss']:>11.5g} {metric:>16} "
            f"{r['diff_forward']:>9.1e} {r['diff_grads']:>9.1e} {r['diff_weights']:>9.1e} "
            f"{r['seconds']:>8.2f} {r['us_per_step']:>9.1f}"
        )
    lines.append("Δ = max|x − reference| / max|reference|; Δforward, Δgrads from the shared initial weights.")
    return "\n".join(lines)
