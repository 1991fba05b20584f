"""Every argument of forward, loss_and_grads and train, checked once, in NumPy, before any framework
computes: the four framework packages call these first, so a bad argument gets the same error, word
for word, whichever framework it was given to. What is checked, and what is not: docs/errors.md.
"""

import numpy as np

from foundation import params as canonical
from foundation.checks import number, whole  # noqa: F401  (validate's vocabulary)
from foundation.errors import ArgumentError

# The most training steps one call may take. JAX builds its minibatch schedule (steps × batch_size
# row indices) in memory before compiling the scan: at this bound, under about 1 GB.
MAX_STEPS = 1_000_000


def steps(value):
    """A whole number of steps up to MAX_STEPS."""
    return whole("steps", value, 1, MAX_STEPS)


def inputs(task, x, dtype):
    """x as a finite (N, *task.input_shape) array in the weights' dtype, N ≥ 1."""
    x, shape = np.asarray(x), task.input_shape
    if x.dtype.kind not in "biuf":
        raise ArgumentError(f"x: expected real numbers, got dtype {x.dtype}")
    if x.shape[1:] != shape:
        expected = ", ".join(["N", *map(str, shape)])
        raise ArgumentError(f"x: expected shape ({expected}) for task {task.name!r}, got {x.shape}")
    if x.shape[0] == 0:
        raise ArgumentError("x: an empty batch (0 rows); need at least one row")
    if task.tokens:
        return tokens(x, task.vocab)
    if not np.all(np.isfinite(x)):
        raise ArgumentError("x: contains NaN or Inf")
    return x.astype(dtype, copy=False)


def tokens(x, vocab):
    """Token ids: int64 in [0, vocab), whatever the weights' dtype."""
    if x.dtype.kind not in "iu":
        raise ArgumentError(f"x: expected integer token ids, got dtype {x.dtype}")
    if x.min() < 0 or x.max() >= vocab:
        raise ArgumentError(f"x: token ids must be in [0, {vocab}), got {x.min()} to {x.max()}")
    return x.astype(np.int64, copy=False)


def targets(task, y, n, dtype):
    """y for task.loss: int64 labels (N,) in [0, K) for softmax_ce ((N, T) for a sequence's logits), else
    finite (N, K) in the weights' dtype (N, H, W, C for a convolution's output), in [0, 1] for bce_logits
    (soft labels allowed)."""
    y, k = np.asarray(y), task.n_out
    if task.loss == "softmax_ce":
        return labels(y, (n, *task.output_shape[:-1]), k)
    if y.dtype.kind not in "biuf" or y.shape != (n, *task.output_shape):
        shape = (n, *task.output_shape)
        raise ArgumentError(f"y: expected {task.loss} targets of shape {shape} like the output, "
                            f"got {y.dtype} {y.shape}")  # fmt: skip
    if not np.all(np.isfinite(y)):
        raise ArgumentError("y: contains NaN or Inf")
    if task.loss == "bce_logits" and (y.min() < 0 or y.max() > 1):
        raise ArgumentError(f"y: bce_logits expects targets in [0, 1], got {y.min():g} to {y.max():g}")
    return y.astype(dtype, copy=False)


def labels(y, shape, k):
    """Class labels of `shape`, (N,) or (N, T) per position, in [0, k)."""
    if y.dtype.kind not in "iu" or y.shape != shape:
        expected = f"integer class labels of shape {shape}"
        raise ArgumentError(f"y: softmax_ce expects {expected}, got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= k:
        raise ArgumentError(f"y: class labels must be in [0, {k}), got {y.min()} to {y.max()}")
    return y.astype(np.int64, copy=False)


def task_of(task):
    from foundation.tasks import Task

    if not isinstance(task, Task):
        got = type(task).__name__
        raise ArgumentError(f"task: expected a rosetta.tasks.Task (tasks.get or tasks.make), got {got}")
    return task


def forward_call(task, params, x):
    """forward(task, params, x): the inputs in the weights' dtype."""
    dtype = canonical.validate(task_of(task), params)
    return inputs(task, x, dtype)


def loss_call(task, params, x, y):
    """loss_and_grads(task, params, x, y): (x, y) ready for the framework."""
    x = forward_call(task, params, x)
    return x, targets(task, y, len(x), x.dtype)


def train_call(task, params, n_steps, every=1):
    """train(task, params, steps, every): the weights and the task's own data checked; the steps and
    the steps per recorded loss."""
    loss_call(task, params, *task.data())
    return steps(task.steps if n_steps is None else n_steps), whole("every", every, 1, MAX_STEPS)
