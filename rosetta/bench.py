"""`rosetta bench`: µs per training step of every framework, measured in one run.

Each schedule is trained twice in the framework's own process: the first run pays compilation
and warm-up (reported as compile_seconds = first − second), the second is timed. mlp-large adds
GFLOP/s next to this machine's own float32 matmul rate, measured in the same run.
"""

import os
import platform
import time

import numpy as np

from rosetta import frameworks, progress, runner, tasks

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


def run(selected, names, cap=None, quiet=False):
    runs = runner.expand(names)
    groups = {"float64": [t for t in selected], "float32": [tasks.get(LARGE)]}
    rows = []
    with progress.bar(len(runs) * (len(selected) + 1), quiet=quiet, description="benchmarking") as advance:
        for dtype, group in groups.items():
            jobs = [(task.name, min(task.steps, cap) if cap else None) for task in group]
            for r in runs:
                results = runner.run_all(r, jobs, dtype, mode="bench", on_done=advance)
                rows += [_row(tasks.get(name), r, dtype, result) for name, result in results.items()]
    _add_ratios(rows)
    return {"machine": machine(), "rows": rows}


def _row(task, run, dtype, result):
    us = 1e6 * result["seconds"] / result["steps"]
    warmup = max(result["first"] - result["seconds"], 0.0)  # below 0 is timing noise
    row = {"task": task.name, "framework": run.framework, "backend": run.backend, "dtype": dtype,
           "steps": result["steps"], "us_per_step": us, "compile_seconds": warmup}  # fmt: skip
    if task.name == LARGE:
        row["gflops"] = flops_per_step(task) / us / 1e3
    return row


def _add_ratios(rows):
    """ratio = reference µs/step ÷ framework µs/step: above 1, faster than NumPy."""
    ref = {r["task"]: r["us_per_step"] for r in rows if r["framework"] == "numpy"}
    for r in rows:
        r["speedup_vs_numpy"] = ref[r["task"]] / r["us_per_step"]


def format(report):
    m = report["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores; NumPy float32 matmul {m['matmul_gflops']:.1f} GFLOP/s",  # noqa: E501
             f"{'task':<14} {'framework':<16} {'dtype':<8} {'steps':>6} {'µs/step':>10} {'× numpy':>8} "
             f"{'compile s':>9} {'GFLOP/s':>8}"]  # fmt: skip
    for r in report["rows"]:
        label = frameworks.label(r["framework"], r["backend"])
        gflops = f"{r['gflops']:.1f}" if "gflops" in r else ""
        lines.append(f"{r['task']:<14} {label:<16} {r['dtype']:<8} {r['steps']:>6} {r['us_per_step']:>10.1f} "
                     f"{r['speedup_vs_numpy']:>8.2f} {r['compile_seconds']:>9.2f} {gflops:>8}")  # fmt: skip
    lines.append("× numpy: the reference's µs/step divided by this one's (above 1 is faster); "
                 "compile s: first run − timed run")  # fmt: skip
    return "\n".join(lines)
