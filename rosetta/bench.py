"""`rosetta bench`: µs per training step of every framework, measured in one run.

Each task is timed in the framework's own process, on the path `rosetta compare` takes (Keras with
several steps per execution), for about a second of steady state: the run's length is chosen as
timeit chooses its loop count, and compilation and set-up are measured apart (rosetta.timing). The
float64 tasks run two workers side by side, one thread each, as `rosetta compare` does; mlp-large, the
compute-bound one, runs alone in each framework in turn (runner.run_alone) and adds GFLOP/s next to this
machine's float32 matmul rate.
--against-stock times each framework's stock idiom (impl_*/stock.py) the same way, in the same process,
on the float64 tasks.
"""

import os
import platform
import time

import numpy as np

from foundation import frameworks
from rosetta import progress, runner, tasks

LARGE = "mlp-large"


def machine():
    """The CPU model, core count and NumPy float32 matmul GFLOP/s of this machine, now."""
    model = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        names = [
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        ]
        model = names[0] if names else model
    return {"cpu": model, "cores": os.cpu_count(), "matmul_gflops": matmul_gflops()}


def matmul_gflops(n=1024, repeats=10):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    a @ a  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9  # n×n @ n×n = 2n³ FLOPs


def flops_per_step(task):
    """≈ 6·N·Σ fan_in·fan_out: forward 2·N·in·out per layer, backward twice that (dW and dx)."""
    n = task.batch_size or task.n_samples
    return 6 * n * sum(a * b for a, b in zip(task.sizes[:-1], task.sizes[1:]))


def run(selected, runs, steps=None, quiet=False, against_stock=False):
    mode = "stock" if against_stock else "bench"
    jobs = [(task.name, steps) for task in selected]
    rows = []
    with progress.bar(len(runs) * (len(selected) + 1), quiet=quiet, description="benchmarking") as advance:
        results = runner.run_runs(runs, jobs, "float64", mode, on_done=advance)
        alone = runner.run_alone(runs, [(LARGE, steps)], "float32", "bench", on_done=advance)
        for r in runs:  # alone: a compute-bound task takes every core
            results[r.label] |= alone[r.label]
    for r in runs:
        for name, result in results[r.label].items():
            rows.append(_row(tasks.get(name), r, "float32" if name == LARGE else "float64", result))
    _add_ratios(rows)
    return {"machine": machine(), "rows": rows}


def _row(task, run, dtype, result):
    row = {"task": task.name, "framework": run.framework, "backend": run.backend, "dtype": dtype,
           "steps": result["steps"], "us_per_step": per_step(result),
           "compile_seconds": result["fixed"]}  # fmt: skip
    if "stock" in result:
        row.update(stock_steps=result["stock"]["steps"], stock_us_per_step=per_step(result["stock"]))
        row["vs_stock"] = row["us_per_step"] / row["stock_us_per_step"]
    if task.name == LARGE:
        row["gflops"] = flops_per_step(task) / row["us_per_step"] / 1e3
    return row


def per_step(result):
    return 1e6 * result["seconds"] / result["steps"]


def _add_ratios(rows):
    """ratio = reference µs/step ÷ framework µs/step: above 1, faster than NumPy."""
    ref = {r["task"]: r["us_per_step"] for r in rows if r["framework"] == "numpy"}
    for r in rows:
        r["speedup_vs_numpy"] = ref[r["task"]] / r["us_per_step"]


def format(report):
    m, stock = report["machine"], any("vs_stock" in r for r in report["rows"])
    head = (f"{'task':<14} {'framework':<16} {'dtype':<8} {'steps':>7} {'µs/step':>10} {'× numpy':>8} "
            f"{'compile s':>9} {'GFLOP/s':>8}")  # fmt: skip
    head += f" {'stock µs':>10} {'÷ stock':>8}" if stock else ""
    gflops = f"NumPy float32 matmul {m['matmul_gflops']:.1f} GFLOP/s"
    lines = [f"machine: {m['cpu']}, {m['cores']} cores; {gflops}", head]
    for r in report["rows"]:
        label = frameworks.label(r["framework"], r["backend"])
        gflops = f"{r['gflops']:.1f}" if "gflops" in r else ""
        line = (f"{r['task']:<14} {label:<16} {r['dtype']:<8} {r['steps']:>7} {r['us_per_step']:>10.1f} "
                f"{r['speedup_vs_numpy']:>8.2f} {r['compile_seconds']:>9.2f} {gflops:>8}")  # fmt: skip
        if stock:
            line += (
                f" {r['stock_us_per_step']:>10.1f} {r['vs_stock']:>8.2f}"
                if "vs_stock" in r
                else f" {'—':>10} {'':>8}"
            )
        lines.append(line)
    lines.append("steps: the steps timed (compile s: a run's time less its steps'); "
                 "× numpy: the reference's µs/step ÷ this one's (above 1 is faster)")  # fmt: skip
    if stock:
        lines.append("stock µs: the framework's stock idiom (impl_*/stock.py), timed the same way in the "
                     "same process; ÷ stock: this project's µs/step ÷ the stock idiom's")  # fmt: skip
    return "\n".join(lines)
