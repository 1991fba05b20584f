"""The training loop as compiled code: the task's batches in the task's order, one optax step each,
the whole schedule one jax.lax.scan inside one jit (compiled once per task, shapes and step count).

The scan carries weights = (trained, running) (mlp.split_running) and the optimizer's state: optax
updates the trained weights, each step sets BatchNorm's running statistics (empty for other tasks)."""

from functools import partial

import jax
import numpy as np

from foundation import history, validate
from foundation.arrays import as_dtype
from foundation.errors import check_history
from impl_jax import mlp, optim

# steps per iteration of the compiled loop. Float64, 2-core machine: 2 runs xor's ~0.8 µs steps
# 1.1–1.3× faster than 1 and within 3 % of 4 (no task more than 0.03 µs slower), and compiles the
# 24 tasks in 14 s against 4's 19
UNROLL = 2


def train(task, params, steps=None, every=1):
    """Train a copy of `params`; history["loss"][k] is the loss of step k, before its update, or with
    every > 1 the mean loss per sample of steps k·every to (k + 1)·every − 1 (foundation.history)."""
    steps, every = validate.train_call(task, params, steps, every)
    # jax arrays are immutable: the caller's weights stay as they are
    weights = mlp.split_running(mlp.build(task, params))
    x, y = task.data()
    x, y = as_dtype(x, params), as_dtype(y, params)
    if task.batch_size is None:
        weights, losses = run_full_batch(task, weights, x, y, steps)
    else:
        weights, losses = run_minibatches(task, weights, x, y, *schedule(task, steps))
    losses = np.asarray(losses)
    check_history(task.name, losses)  # after the compiled run: the scan cannot stop early
    return mlp.get_params(mlp.with_running(*weights)), {"loss": history.windows(task, losses, every)}


def start(task, weights):
    """The scan's first carry: (weights, the optimizer's initial state on the trained weights)."""
    return weights, optim.make(task.optimizer).init(weights[0])


def step(task, carry, x, y):
    """One training step on one batch; carry = ((trained, running), optimizer state)."""
    (params, running), state = carry
    grad = jax.value_and_grad(mlp.total_loss, argnums=1, has_aux=True)
    (loss, running), grads = grad(task, params, running, x, y)
    params, state = optim.update(task.optimizer, params, grads, state)
    return ((params, running), state), loss


@partial(jax.jit, static_argnums=(0, 4))
def run_full_batch(task, weights, x, y, steps):
    """`steps` steps on all rows, one scan: (weights, losses (steps,))."""
    (weights, _), losses = jax.lax.scan(
        lambda carry, _: step(task, carry, x, y), start(task, weights), length=steps, unroll=UNROLL
    )
    return weights, losses


def schedule(task, steps):
    """The task's batches (row indices in its seeded order) as scan inputs, one row per step: is
    the step the epoch's short last batch, the rows of a full batch (size,), the rows of a short
    one (R,) with R = N mod size (N if N < size); the unused one of the two is a dummy."""
    batches = task.batches(steps)
    size, n_short = task.batch_size, task.n_samples % task.batch_size
    is_short = np.array([len(rows) != size for rows in batches], dtype=bool)
    full = [np.zeros(size, np.int64) if s else rows for s, rows in zip(is_short, batches)]
    rest = [rows if s else np.zeros(n_short, np.int64) for s, rows in zip(is_short, batches)]
    return is_short, as_rows(full, size), as_rows(rest, n_short)


def as_rows(batches, width):
    return np.array(batches, dtype=np.int64).reshape(len(batches), width)  # (steps, width)


@partial(jax.jit, static_argnums=0)
def run_minibatches(task, weights, x, y, is_short, full, rest):
    """One scan over the steps; lax.cond runs the batch of the step's shape. Exact mean losses on
    every batch, short ones included: no padding, no masks."""

    def batch(carry, rows):
        return step(task, carry, x[rows], y[rows])

    def body(carry, inputs):
        is_short, full, rest = inputs
        if rest.shape[0] == 0:  # static: N is a multiple of the batch size
            return batch(carry, full)
        return jax.lax.cond(is_short, lambda: batch(carry, rest), lambda: batch(carry, full))

    (weights, _), losses = jax.lax.scan(body, start(task, weights), (is_short, full, rest), unroll=UNROLL)
    return weights, losses
