"""rosetta: the same small networks in NumPy, PyTorch, Keras 3 and JAX, compared number for number.

Exit codes: 0 ok, 1 a failed comparison or run, 2 a usage error. Frameworks, matplotlib and rich
are imported only by the commands that need them, so `rosetta list` starts fast.
"""

import argparse
import json
import sys

from rosetta import tasks
from rosetta.errors import MissingFrameworkError, ParamsError, RosettaError, UnknownNameError, UsageError

FRAMEWORK_NAMES = ["numpy", "torch", "jax", "keras"]


def cmd_list(args):
    rows = [task_summary(tasks.get(name)) for name in tasks.names()]
    if args.json:
        print(json.dumps(rows))
        return
    for r in rows:
        model, acts = "-".join(map(str, r["sizes"])), ",".join(r["activations"])
        optimizer = f"{r['optimizer']} lr={r['lr']:g}"
        print(f"{r['task']:<14} {model:<10} {acts:<17} {r['loss']:<11} {optimizer:<13} {r['description']}")


def task_summary(task):
    opt = task.optimizer
    layers = [layer.activation for layer in task.layers]
    return dict(task=task.name, sizes=list(task.sizes), activations=layers, loss=task.loss,
                optimizer=opt.name, lr=opt.lr, steps=task.steps, description=task.description)  # fmt: skip


def selected_tasks(name):
    """'all' or one task name; unknown names fail before any training."""
    return [tasks.get(n) for n in (tasks.names() if name == "all" else [name])]


def cmd_run(args):
    from rosetta import frameworks, params, runner

    task = tasks.get(args.task)
    fw = frameworks.load(args.framework)
    params0 = None
    if args.init:
        params0 = params.load(args.init, task)
        if args.dtype and params0[0]["W"].dtype != args.dtype:
            raise UsageError(f"--dtype {args.dtype} but {args.init} holds {params0[0]['W'].dtype} weights")
    dtype = str(params0[0]["W"].dtype) if params0 else args.dtype or "float64"
    result = runner.run_task(fw, task, dtype, args.steps, params0)
    if args.save:
        params.save(args.save, result["params"], task)
    summary = {k: result[k] for k in ("final_loss", "metric_value", "seconds")}
    summary.update(task=task.name, framework=args.framework, dtype=dtype, steps=len(result["history"]))
    summary.update(metric=task.metric, backend=frameworks.backend(args.framework))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{task.name} with {args.framework} ({dtype}): {summary['steps']} steps, "
              f"final loss {summary['final_loss']:.6g}, {task.metric} {summary['metric_value']:.4f}, "
              f"{summary['seconds']:.2f} s")  # fmt: skip


def cmd_compare(args):
    from rosetta import compare, progress, runner

    selected = selected_tasks(args.task)
    runs = runner.expand(args.framework or FRAMEWORK_NAMES)
    jobs = [(task.name, args.steps) for task in selected]
    with progress.bar(len(runs) * len(jobs), quiet=args.json) as advance:
        results = {run.label: runner.run_all(run, jobs, args.dtype, on_done=advance) for run in runs}
    rows = [
        compare.row(task, run, args.dtype, results[run.label][task.name], results["numpy"][task.name])
        for task in selected
        for run in runs
    ]
    files = write_plots(selected, results, args.out)
    failed = [r for r in rows if not compare.passed(r)]
    if args.json:
        print(json.dumps({"dtype": args.dtype, "rows": rows, "plots": files, "ok": not failed}))
    else:
        print(compare.format_table(rows))
        print(f"plots: {len(files)} files in {args.out}/")
    for r in failed:
        print(f"rosetta: FAILED: {compare.label(r)} on {r['task']} is beyond the tolerance", file=sys.stderr)
    return 1 if failed else 0


def write_plots(selected, results, out):
    """All plots into a temporary folder beside `out`, moved in only when every one was written."""
    from rosetta import outdir, plots

    with outdir.staged(out) as stage:
        return [
            name
            for task in selected
            for name in plots.write(task, {label: r[task.name] for label, r in results.items()}, stage)
        ]


def cmd_parity(args):
    from rosetta import parity

    selected = selected_tasks(args.task)
    matrices = parity.run(selected, args.framework or FRAMEWORK_NAMES, args.dtype, args.steps, args.json)
    ok = all(m["ok"] for m in matrices)
    print(
        json.dumps({"dtype": args.dtype, "tasks": matrices, "ok": ok})
        if args.json
        else parity.format(matrices)
    )
    return 0 if ok else 1


def cmd_bench(args):
    from rosetta import bench

    report = bench.run(selected_tasks(args.task), args.framework or FRAMEWORK_NAMES, args.steps, args.json)
    print(json.dumps(report) if args.json else bench.format(report))


def cmd_diff(args):
    from rosetta import divergences, progress

    rows = divergences.rows()
    with progress.bar(len(rows), quiet=args.json, description="measuring") as advance:
        measured = divergences.measure(rows, on_done=advance)
    ok = all(gap.setting <= gap.limit for _, gap in measured)
    if args.json:
        doc = [
            {"key": d.key, "title": d.title, "kind": d.kind, "fix": d.fix, **vars(gap)} for d, gap in measured
        ]
        print(json.dumps({"backend": divergences.keras_backend(), "entries": doc, "ok": ok}))
    else:
        print(divergences.format(measured))
    return 0 if ok else 1


def add_common(p, task_default=None, framework_multi=True):
    p.add_argument("task", nargs="?" if task_default else None, default=task_default, help="a task or 'all'")
    p.add_argument("-f", "--framework", choices=FRAMEWORK_NAMES, action="append" if framework_multi else None,
                   help="repeat to select several (default: all)" if framework_multi else None)  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON document")


def parser():
    p = argparse.ArgumentParser(prog="rosetta", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="every task with its model and optimizer")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(run=cmd_list)

    run = sub.add_parser("run", help="train one task in one framework")
    add_common(run, framework_multi=False)
    run.set_defaults(framework="numpy", run=cmd_run)
    run.add_argument("--dtype", choices=["float64", "float32"])
    run.add_argument("--steps", type=positive)
    run.add_argument("--init", metavar="FILE", help="initial weights (.safetensors or .npz)")
    run.add_argument("--save", metavar="FILE", help="write the trained weights (.safetensors or .npz)")

    compare = sub.add_parser("compare", help="train in every framework, side by side, with plots")
    add_common(compare)
    compare.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    compare.add_argument("--steps", type=positive)
    compare.add_argument("--out", default="out", metavar="DIR", help="where the plots go (default: out/)")
    compare.set_defaults(run=cmd_compare)

    parity = sub.add_parser("parity", help="framework × framework parity matrix against the tolerances")
    add_common(parity, task_default="all")
    parity.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parity.add_argument("--steps", type=positive, default=200, help="trajectory length cap (default 200)")
    parity.set_defaults(run=cmd_parity)

    bench = sub.add_parser("bench", help="µs per training step, and GFLOP/s on mlp-large")
    add_common(bench, task_default="all")
    bench.add_argument("--steps", type=positive, help="cap every schedule at N steps")
    bench.set_defaults(run=cmd_bench)

    diff = sub.add_parser("diff", help="the catalog of framework differences, each gap measured now")
    diff.add_argument("--json", action="store_true", help="print one JSON document")
    diff.set_defaults(run=cmd_diff)
    return p


def positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number of steps, got {text!r}")
    return int(text)


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (UsageError, UnknownNameError, ParamsError, MissingFrameworkError) as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    except RosettaError as exc:  # a diverged run, a failed worker
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
