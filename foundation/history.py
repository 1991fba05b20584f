"""A run's loss history: the loss of every step, or one figure per window of `every` steps.

A compiled training loop that runs several steps per call reports once per call: Keras's fit with
steps_per_execution=k calls its callbacks after every k steps, and its loss tracker then holds the
mean loss per sample of those k steps (each step's mean loss weighted by its batch's rows). Every
framework's train(..., every=k) returns that figure, so that histories compare window by window.
"""

import numpy as np

POINTS = 25  # a history of at least this many figures, when the run has as many steps
LONGEST = 500  # steps per window at most: the steps_per_execution of Keras's own examples


def every(steps):
    """The window compare, bench and run train with: one step up to 2·POINTS steps, then longer (each
    window one Keras execution, whose overhead is ~3 ms on TensorFlow)."""
    return min(LONGEST, max(1, steps // POINTS))


def windows(task, losses, every):
    """Per-step losses (steps,) → mean loss per sample of each window of `every` steps (the last
    may be shorter): Σ n_k·loss_k / Σ n_k over the window's steps k, n_k the rows of step k."""
    losses = np.asarray(losses)
    if every == 1:
        return losses
    epoch = epoch_rows(task)
    rows = np.tile(epoch, -(-len(losses) // len(epoch)))[: len(losses)]  # np.resize: 100× slower
    starts = np.arange(0, len(losses), every)
    return np.add.reduceat(rows * losses, starts) / np.add.reduceat(rows, starts)


def epoch_rows(task):
    """The rows of each step of an epoch: (N,) full batch, else (B, …, B, N − B·(steps − 1))."""
    size, steps = task.batch_size or task.n_samples, task.steps_per_epoch
    rows = np.full(steps, size)
    rows[-1] = task.n_samples - size * (steps - 1)
    return rows


def ends(steps, every):
    """The last step of each window of a run of `steps` steps: where a windowed figure is plotted."""
    return np.minimum(np.arange(every, steps + every, every), steps) - 1
