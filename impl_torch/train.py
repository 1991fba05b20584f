"""The training loop, pytorch/examples style: zero_grad → forward → loss → backward → step."""

import math

import torch

from foundation import history, validate
from foundation.arrays import as_dtype
from foundation.errors import check_history
from impl_torch import mlp, optim


def train(task, params, steps=None, every=1):
    """Train a copy of `params`; history["loss"][k] is the loss of step k, before its update, or with
    every > 1 the mean loss per sample of steps k·every to (k + 1)·every − 1 (foundation.history)."""
    steps, every = validate.train_call(task, params, steps, every)
    model = mlp.build(task, params).train()  # BatchNorm: each step's forward moves its running statistics
    x, y = task.data()
    x, y = torch.as_tensor(as_dtype(x, params)), torch.as_tensor(as_dtype(y, params))  # labels: int64
    optimizer = optim.make(task.optimizer, model.parameters())
    losses = []
    for step, rows in enumerate(task.batches(steps)):
        rows = torch.as_tensor(rows) if not isinstance(rows, slice) else rows  # index array or [:]
        optimizer.zero_grad()
        loss = mlp.total_loss(task, model, x[rows], y[rows])
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = optim.learning_rate(task.optimizer, step)
        optimizer.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            check_history(task.name, losses)
    return mlp.get_params(model), {"loss": history.windows(task, losses, every)}
