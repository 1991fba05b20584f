"""rosetta: the same small networks in NumPy, PyTorch, Keras 3 and JAX, compared number for number.

Frameworks are imported only by the commands that need them.
"""

import argparse
import sys

from rosetta import tasks
from rosetta.errors import RosettaError


def cmd_list(args):
    for name in tasks.names():
        task = tasks.get(name)
        model = "-".join(map(str, task.sizes))
        acts = ",".join(layer.activation for layer in task.layers)
        opt = task.optimizer
        optimizer = f"{opt.name} lr={opt.lr:g}"
        print(f"{name:<14} {model:<10} {acts:<17} {task.loss:<11} {optimizer:<13} {task.description}")


def cmd_compare(args):
    from rosetta import report

    names = tasks.names() if args.task == "all" else [args.task]
    selected = [tasks.get(name) for name in names]  # unknown names fail before any training
    rows = [report.train_row(task, args.framework, args.dtype, args.steps) for task in selected]
    print(report.format_table(rows))


def parser():
    p = argparse.ArgumentParser(prog="rosetta", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every task with its model and optimizer").set_defaults(run=cmd_list)
    compare = sub.add_parser("compare", help="train tasks and print a table")
    compare.add_argument("task", help="a task name or 'all'")
    compare.add_argument("-f", "--framework", default="numpy", choices=["numpy"])
    compare.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    compare.add_argument("--steps", type=int, default=None)
    compare.set_defaults(run=cmd_compare)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except RosettaError as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
