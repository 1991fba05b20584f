"""Train tasks and summarise them: the table `make demo` prints."""

import time

from rosetta import frameworks


def train_row(task, framework="numpy", dtype="float64", steps=None):
    """Train `task` from its canonical weights; the figures of one table row."""
    module = frameworks.load(framework)
    params = task.init_params(dtype)
    start = time.perf_counter()
    params, history = module.train(task, params, steps)
    seconds = time.perf_counter() - start
    x, y = task.data()
    loss, _ = module.loss_and_grads(task, params, x, y)
    return {
        "task": task.name,
        "framework": framework,
        "dtype": dtype,
        "steps": len(history["loss"]),
        "final_loss": loss,
        "metric": task.metric,
        "metric_value": task.evaluate(module.forward(task, params, x), y),
        "seconds": seconds,
    }


def format_table(rows):
    header = f"{'task':<14} {'framework':<9} {'steps':>6} {'final loss':>12} {'metric':>17} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        metric = f"{r['metric']} {r['metric_value']:.4f}"
        lines.append(
            f"{r['task']:<14} {r['framework']:<9} {r['steps']:>6} {r['final_loss']:>12.6g} "
            f"{metric:>17} {r['seconds']:>8.2f}"
        )
    return "\n".join(lines)
