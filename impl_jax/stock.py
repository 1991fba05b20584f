"""The stock idiom `rosetta bench --against-stock` times this framework's training against: one
jitted jax.lax.fori_loop of optax steps and nothing recorded. Minibatches: each step a batch of the
same rows, the schedule's own, a short batch ending an epoch topped up from the epoch's first rows
(drop_remainder's cost without dropping)."""

from functools import partial

import jax
import numpy as np
import optax

from foundation.arrays import as_dtype
from impl_jax import mlp, optim


def train(task, params, steps):
    """`steps` optimizer steps; the trained weights, as a pytree, once they are computed."""
    x, y = task.data()
    rows = None
    if task.batch_size is not None:
        rows = np.stack([np.resize(b, task.batch_size) for b in task.batches(steps)])  # (steps, B)
    weights = mlp.split_running(mlp.build(task, params))  # (trained, BatchNorm's running statistics)
    weights = _run(task, steps, weights, as_dtype(x, params), as_dtype(y, params), rows)
    return jax.block_until_ready(weights)


@partial(jax.jit, static_argnums=(0, 1))
def _run(task, steps, weights, x, y, rows):
    opt = optim.make(task.optimizer)

    def step(k, carry):
        (params, running), state = carry
        batch = (x, y) if rows is None else (x[rows[k]], y[rows[k]])
        grads, running = jax.grad(mlp.total_loss, argnums=1, has_aux=True)(task, params, running, *batch)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), running), state

    return jax.lax.fori_loop(0, steps, step, (weights, opt.init(weights[0])))[0]
