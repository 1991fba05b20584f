"""The errors every part of nn-rosetta raises, each naming what was wrong and what was expected."""

import numpy as np


class RosettaError(Exception):
    """Base class: anything the user can fix (a name, a file, a setting)."""


class UnknownNameError(RosettaError, KeyError):
    """An unknown task, framework, loss, activation or optimizer name."""

    def __str__(self):  # KeyError would print the message quoted
        return str(self.args[0])


class ParamsError(RosettaError, ValueError):
    """Canonical weights with the wrong layer count, keys, shape, dtype or values."""


class ArgumentError(RosettaError, ValueError):
    """A bad argument to the API: inputs, targets, steps, or a task's or optimizer's setting."""


class UsageError(RosettaError):
    """A bad command line or output location (the CLI exits with 2)."""


class MissingFrameworkError(RosettaError, ImportError):
    """A framework whose packages are not installed; the message names the pip extra."""


class DivergedError(RosettaError, FloatingPointError):
    """The loss became NaN or infinite during training."""


def first_line(exc):
    """An exception's message in one line: its first, or its type's name when it has none."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def plural(kind):
    return kind + ("es" if kind.endswith("s") else "s")


def unknown(kind, name, valid):
    """An UnknownNameError that lists the valid names."""
    return UnknownNameError(f"unknown {kind} {name!r}; valid {plural(kind)}: {', '.join(sorted(valid))}")


def check_history(task_name, losses, every=1):
    """Raise DivergedError naming the first step (or window of `every` steps) whose loss is NaN or
    infinite."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(losses, dtype=np.float64)))
    if bad.size:
        k = int(bad[0])
        where = f"at step {k}" if every == 1 else f"in steps {k * every} to {(k + 1) * every - 1}"
        raise DivergedError(
            f"task {task_name!r} diverged: loss is {losses[k]} {where}; "
            "lower the learning rate or check the data"
        )
