"""The reference training loop: the task's batches in the task's order, one optimizer step each."""

import numpy as np

from foundation import history, validate
from foundation.arrays import as_dtype
from foundation.errors import check_history
from reference_numpy import mlp, optim


def train(task, params, steps=None, every=1):
    """Train a copy of `params`; history["loss"][k] is the loss of step k, before its update, or with
    every > 1 the mean loss per sample of steps k·every to (k + 1)·every − 1 (foundation.history)."""
    steps, every = validate.train_call(task, params, steps, every)
    params = mlp.build(task, params)
    x, y = task.data()
    x, y = as_dtype(x, params), as_dtype(y, params)
    state = optim.make(task.optimizer, params)
    losses = []
    for t, rows in enumerate(task.batches(steps), start=1):
        loss, grads, stats = mlp.training_step_values(task, params, x[rows], y[rows])
        losses.append(loss)
        if not np.isfinite(loss):
            check_history(task.name, losses)
        optim.update(task.optimizer, params, grads, state, t)
        for layer, running in zip(params, stats):  # BatchNorm's running statistics
            layer.update(running)
    return mlp.get_params(params), {"loss": history.windows(task, losses, every)}
