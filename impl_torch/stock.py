"""The stock idiom `rosetta bench --against-stock` times this framework's training against: the
pytorch/examples loop on the same model and optimizer, zero_grad → forward → loss → backward → step,
and nothing else (no loss read back, no learning-rate schedule)."""

import torch

from foundation.arrays import as_dtype
from impl_torch import mlp, optim


def train(task, params, steps):
    """`steps` optimizer steps on the task's batches; nothing recorded."""
    model = mlp.build(task, params)
    x, y = task.data()
    x, y = torch.as_tensor(as_dtype(x, params)), torch.as_tensor(as_dtype(y, params))
    optimizer = optim.make(task.optimizer, model.parameters())
    for rows in task.batches(steps):
        optimizer.zero_grad()
        mlp.total_loss(task, model, x[rows], y[rows]).backward()
        optimizer.step()
