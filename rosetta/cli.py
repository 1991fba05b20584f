"""rosetta: the same small networks in NumPy, PyTorch, Keras 3 and JAX, compared number for number.

Exit codes: 0 ok, 1 a failed comparison or run, 2 a usage error. Frameworks, matplotlib and rich
are imported only by the commands that need them, so `rosetta list` starts fast.
"""

import argparse
import json
import os
import signal
import sys

from foundation import frameworks
from foundation.errors import (
    ArgumentError,
    MissingFrameworkError,
    ParamsError,
    RosettaError,
    UnknownNameError,
    UsageError,
)
from foundation.validate import MAX_STEPS
from rosetta import tasks


def cmd_list(args):
    rows = [task_summary(tasks.get(name)) for name in tasks.names()]
    if args.json:
        print(json.dumps(rows))
        return
    acts = [",".join(act or "-" for act in r["activations"]) for r in rows]
    wide = max(len(r["model"]) for r in rows), max(map(len, acts))
    for r, act in zip(rows, acts):
        optimizer = f"{r['optimizer']} lr={r['lr']:g}"
        print(f"{r['task']:<14} {r['model']:<{wide[0]}} {act:<{wide[1]}} {r['loss']:<11} {optimizer:<13} "
              f"{r['description']}")  # fmt: skip


def task_summary(task):
    """sizes: [n_in, ..., n_out] of an MLP, else None; an activation per layer, None for a layer
    without one (pooling, flatten, recurrent)."""
    opt = task.optimizer
    layers = [getattr(layer, "activation", None) for layer in task.layers]
    return dict(task=task.name, model=model_text(task), sizes=list(task.sizes) if task.is_mlp else None,
                activations=layers, loss=task.loss, optimizer=opt.name, lr=opt.lr, steps=task.steps,
                description=task.description)  # fmt: skip


def model_text(task):
    """The model in a word: 3-4-1 for an MLP; 8x8x1-conv4-conv8/2-max2-flat-3 or 10x1-lstm8-1."""
    return "-".join(["x".join(map(str, task.input_shape))] + [layer_text(spec) for spec in task.layers])


def layer_text(spec):
    """3, conv8/2, up8/2, max2, flat, gap, bn, relu, add(stem,residual), lstm8, bilstm8, embed3x16, pos,
    ln, attn2, tied."""
    name = type(spec).__name__
    if name == "Layer":
        return str(spec.units)
    if name in ("Conv2D", "Conv2DTranspose"):
        return (
            ("conv" if name == "Conv2D" else "up")
            + f"{spec.filters}"
            + (f"/{spec.stride}" if spec.stride > 1 else "")
        )
    if name == "Pool2D":
        return f"{spec.kind}{spec.size}"
    if name in ("Add", "Concatenate"):
        return ("add" if name == "Add" else "cat") + f"({','.join(spec.inputs)})"
    if name == "Bidirectional":
        return "bi" + layer_text(spec.layer)
    if name == "Embedding":
        return f"embed{spec.vocab}x{spec.dim}"
    if name == "MultiHeadAttention":
        return f"attn{spec.heads}"
    short = {"Flatten": "flat", "GlobalAveragePooling2D": "gap", "BatchNorm": "bn",
             "PositionEmbedding": "pos", "LayerNorm": "ln", "TiedOutput": "tied"}  # fmt: skip
    return short.get(name) or getattr(spec, "activation", None) or f"{name.lower()}{spec.units}"  # lstm8


def installed_runs(args):
    """The runs of -f (default: every framework) whose packages are installed; one line on stderr
    names the others. A missing framework named with -f is an error, before anything trains."""
    from rosetta import runner

    runs, skipped = runner.expand(args.framework or frameworks.NAMES, explicit=bool(args.framework))
    if skipped:
        print(f"rosetta: {skipped}", file=sys.stderr)
    return runs


def selected_tasks(names):
    """'all', or task names (one or a list); unknown names fail before any training."""
    names = [names] if isinstance(names, str) else list(names)
    return [tasks.get(n) for n in (tasks.names() if names == ["all"] else names)]


def cmd_run(args):
    from foundation import params
    from rosetta import runner

    if args.task == "all":
        raise UsageError("run trains one task; `rosetta compare all` runs every task")
    task = tasks.get(args.task)
    if args.save:
        params.check_destination(args.save)
    params0 = None
    if args.init:
        params0 = params.load(args.init, task)
        if args.dtype and params.dtype_of(params0) != args.dtype:
            raise UsageError(f"--dtype {args.dtype} but {args.init} holds {params.dtype_of(params0)} weights")
    dtype = str(params.dtype_of(params0)) if params0 else args.dtype or "float64"
    fw = runner.run_here(args.framework, lambda: frameworks.load(args.framework))
    result = runner.run_here(args.framework, lambda: runner.run_task(fw, task, dtype, args.steps, params0))
    if args.save:
        params.save(args.save, result["params"], task)
    summary = {k: result[k] for k in ("final_loss", "metric_value", "seconds")}
    summary.update(task=task.name, framework=args.framework, dtype=dtype, steps=result["steps"])
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
    runs = installed_runs(args)
    check_out(args.out, selected)
    jobs = [(task.name, args.steps) for task in selected]
    with progress.bar(len(runs) * len(jobs), quiet=args.json) as advance:
        results = runner.run_runs(runs, jobs, args.dtype, on_done=advance)
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


def check_out(out, selected):
    """Before any training: --out can receive every plot file."""
    from foundation import outdir
    from rosetta import plotdata

    if not out:
        raise UsageError("--out '' names no folder; give one, e.g. --out .")
    outdir.check(out, [name for task in selected for name in plotdata.file_names(task)])


def write_plots(selected, results, out):
    """All plots into a temporary folder beside `out`, moved in only when every one was written."""
    from foundation import outdir
    from rosetta import plots

    with outdir.staged(out) as stage:
        return [
            name
            for task in selected
            for name in plots.write(task, {label: r[task.name] for label, r in results.items()}, stage)
        ]


def cmd_parity(args):
    from rosetta import parity

    selected = selected_tasks(args.task)
    matrices = parity.run(selected, installed_runs(args), args.dtype, args.steps, args.json)
    ok = all(m["ok"] for m in matrices)
    print(
        json.dumps({"dtype": args.dtype, "tasks": matrices, "ok": ok})
        if args.json
        else parity.format(matrices)
    )
    return 0 if ok else 1


def cmd_bench(args):
    from rosetta import bench

    names = args.task or ("all" if not args.against_stock else None)
    selected = selected_tasks(names) if names else [tasks.get(name) for name in STOCK_TASKS]
    report = bench.run(selected, installed_runs(args), args.steps, args.json, args.against_stock)
    print(json.dumps(report) if args.json else bench.format(report))


def cmd_diff(args):
    from divergences import catalog as divergences
    from rosetta import progress

    rows = divergences.rows()
    with progress.bar(len(rows), quiet=args.json, description="measuring") as advance:
        measured = divergences.measure(rows, on_done=advance)
    ok = all(gap.setting <= gap.limit for _, gap in measured)
    if args.json:
        doc = [
            {"key": d.key, "title": d.title, "kind": d.kind, "fix": d.fix, **vars(gap)} for d, gap in measured
        ]
        print(json.dumps({"backend": frameworks.keras_backend(), "entries": doc, "ok": ok}))
    else:
        print(divergences.format(measured))
    return 0 if ok else 1


def cmd_study(args):
    from rosetta import progress, study

    if not args.out:
        raise UsageError("--out '' names no folder; give one, e.g. --out out/study")
    names = study.families(args.family)
    with progress.bar(len(names), quiet=args.json, description="proving") as advance:
        measured = study.write(names, args.out, on_done=advance)
    failed = [(family, fw) for family, figures in measured.items() for fw in study.COLUMNS
              if not study.ok(figures[fw])]  # fmt: skip
    pages = [f"{family}.html" for family in measured] + ["index.html"]
    if args.json:
        print(json.dumps({"dtype": "float64", "families": measured, "pages": pages, "ok": not failed}))
    else:
        for family, figures in measured.items():
            worst = "  ".join(f"{fw} {max(figures[fw].values()):.1e}" for fw in study.COLUMNS)
            print(f"{family:<12} worst relative difference from the reference: {worst}")
        print(f"pages: {len(pages)} files in {args.out}/")
    for family, fw in failed:
        print(f"rosetta: FAILED: {fw}'s study file for {family} is beyond the tolerance", file=sys.stderr)
    return 1 if failed else 0


def cmd_check(args):
    from rosetta.portcheck import files

    return files.run(args)


def cmd_transfer(args):
    from rosetta.portcheck import files

    return files.run_transfer(args)


def add_common(p, task_default=None, framework_multi=True, task_help="tasks, or 'all'", several=True):
    nargs = ("*" if task_default else "+") if several else ("?" if task_default else None)
    p.add_argument("task", nargs=nargs, default=task_default, help=task_help)
    p.add_argument("-f", "--framework", choices=frameworks.NAMES,
                   action="append" if framework_multi else None,
                   help="repeat to select several (default: all)" if framework_multi else None)  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON document")


def parser():
    p = argparse.ArgumentParser(prog="rosetta", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="every task with its model and optimizer")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(run=cmd_list)

    run = sub.add_parser("run", help="train one task in one framework")
    add_common(run, framework_multi=False, task_help="a task (rosetta list)", several=False)
    run.set_defaults(framework="numpy", run=cmd_run)
    run.add_argument("--dtype", choices=["float64", "float32"])
    run.add_argument("--steps", type=positive, help=STEPS_HELP)
    run.add_argument("--init", metavar="FILE", help="initial weights (.safetensors or .npz)")
    run.add_argument("--save", metavar="FILE", help="write the trained weights (.safetensors or .npz)")

    compare = sub.add_parser("compare", help="train in every framework, side by side, with plots")
    add_common(compare)
    compare.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    compare.add_argument("--steps", type=positive, help=STEPS_HELP)
    compare.add_argument("--out", default="out", metavar="DIR", help="where the plots go (default: out/)")
    compare.set_defaults(run=cmd_compare)

    parity = sub.add_parser("parity", help="framework × framework parity matrix against the tolerances")
    add_common(parity, task_default="all")
    parity.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parity.add_argument(
        "--steps",
        type=positive,
        default=200,
        help=f"trajectory length cap (default 200, at most {MAX_STEPS:,})",
    )
    parity.set_defaults(run=cmd_parity)

    bench = sub.add_parser("bench", help="µs per training step, and GFLOP/s on mlp-large")
    add_common(
        bench, "all", task_help=f"a task or 'all' (default: all; --against-stock: {', '.join(STOCK_TASKS)})"
    )
    bench.set_defaults(task=None)  # None: all, or STOCK_TASKS
    bench.add_argument(
        "--steps", type=positive, help=f"time N steps instead of about a second's (at most {MAX_STEPS:,})"
    )
    bench.add_argument(
        "--against-stock", action="store_true", help="time each framework's stock idiom beside it"
    )
    bench.set_defaults(run=cmd_bench)

    diff = sub.add_parser("diff", help="the catalog of framework differences, each gap measured now")
    diff.add_argument("--json", action="store_true", help="print one JSON document")
    diff.set_defaults(run=cmd_diff)

    study = sub.add_parser(
        "study", help="each family written natively four times, side by side, proven equal"
    )
    study.add_argument("family", nargs="*", default=["all"], help="families (xor, regression, ...), or 'all'")
    study.add_argument(
        "--out", default="out/study", metavar="DIR", help="where the pages go (default: out/study/)"
    )
    study.add_argument("--json", action="store_true", help="print one JSON document")
    study.set_defaults(run=cmd_study)

    check = sub.add_parser("check", help="compare two models (a port) layer by layer; see docs/porting.md")
    check.add_argument(
        "a", help="model A: .keras, .pt/.pth state_dict, Flax .msgpack/.safetensors, canonical .npz"
    )
    check.add_argument("b", help="model B, the same kinds")
    check.add_argument(
        "--spec-a", metavar="SPEC", help="A's architecture: JSON (file or inline) or module:factory"
    )
    check.add_argument("--spec-b", metavar="SPEC", help="B's architecture, the same")
    check.add_argument("--input", required=True, metavar="X.npy")
    check.add_argument("--target", metavar="Y.npy")
    check.add_argument("--loss", choices=tasks.LOSSES)
    check.add_argument("--steps", type=positive, help="optimizer steps on copies (needs --loss)")
    check.add_argument(
        "--optimizer", choices=tasks.OPTIMIZERS, default="sgd", help="each side's own (default sgd)"
    )
    check.add_argument("--lr", type=float, default=0.01)
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.add_argument("--plot", metavar="FILE.png", help="per-block differences on a log axis")
    check.add_argument(
        "--html", metavar="FILE.html", help="one self-contained page: both graphs, the differences, the steps"
    )
    check.set_defaults(run=cmd_check)
    add_transfer(sub)
    return p


def add_transfer(sub):
    transfer = sub.add_parser("transfer", help="copy a model's weights into its port; see docs/porting.md")
    transfer.add_argument("a", metavar="SRC", help="the trained model: any file `rosetta check` reads")
    transfer.add_argument("b", metavar="DST", help="its port, the same kinds: the model written to --out")
    transfer.add_argument("--spec-a", metavar="SPEC", help="SRC's architecture: JSON or module:factory")
    transfer.add_argument("--spec-b", metavar="SPEC", help="DST's architecture, the same")
    transfer.add_argument(
        "--out", required=True, metavar="FILE", help="DST with SRC's weights, in DST's format"
    )
    transfer.add_argument(
        "--input", metavar="X.npy", help="an input both take (needed where neither states its input's shape)"
    )
    transfer.add_argument("--json", action="store_true", help="print the mapping as one JSON document")
    transfer.set_defaults(run=cmd_transfer)


STOCK_TASKS = ("xor", "softmax", "hard-deep")  # what `rosetta bench --against-stock` times by default
STEPS_HELP = f"train N steps instead of the task's schedule (1 to {MAX_STEPS:,})"


def positive(text):
    if not text.isdigit() or not 1 <= int(text) <= MAX_STEPS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of steps from 1 to {MAX_STEPS:,}, got {text!r}"
        )
    return int(text)


USAGE = (UsageError, UnknownNameError, ParamsError, ArgumentError, MissingFrameworkError)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up log lines; read at import
    args = parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, exit_on_signal)
    try:
        code = args.run(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except USAGE as exc:
        return fail(exc, 2)
    except (RosettaError, OSError) as exc:  # a diverged run, a failed worker, a full disk
        return fail(exc, 1)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_on_signal(signum, frame):
    """SIGTERM as SystemExit: `finally` blocks run, so workers are killed and temp folders removed."""
    raise SystemExit(128 + signum)


def fail(message, code):
    """One line on stderr; a closed stdout (rosetta list | head -1) ends quietly with exit 1."""
    if isinstance(message, BrokenPipeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    print(f"rosetta: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
