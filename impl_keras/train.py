"""Training, Keras 3 guides style: compile, then fit on the task's batches in the task's order.

Two things fit does not do by itself: keep the task's batches (its default is batch_size=32,
shuffle=True) and report the loss of every step (history["loss"] is a running mean over each epoch).
A PyDataset feeds the batches in order; a callback reads each step's loss from fit's logs, so fit
runs one step per execution (steps_per_execution=1, the default: with more, callbacks see only the
last step of each execution). compile's other defaults are the fast ones here: jit_compile="auto"
is XLA on jax, and the plain graph on a CPU-only TensorFlow and eager torch.
"""

import keras
import numpy as np

from impl_keras import mlp, optim
from rosetta import validate
from rosetta.arrays import as_dtype
from rosetta.errors import check_history
from rosetta.params import dtype_of


def train(task, params, steps=None):
    """Train a copy of `params`; history["loss"][k] is the loss of step k, before its update."""
    steps = validate.train_call(task, params, steps)
    x, y = task.data()
    with mlp.floatx_of(params):
        model = mlp.build(task, params)
        loss, weight = mlp.keras_loss(task)
        model.compile(optimizer=optim.make(task.optimizer), loss=loss, loss_weights=weight)
        losses = StepLosses()
        batches = Batches(task, steps, as_dtype(x, params), as_dtype(y, params))
        # epochs: Keras 1's nb_epoch. One Keras epoch is the whole run: the task's epochs are in batches.
        model.fit(batches, epochs=1, shuffle=False, callbacks=[losses], verbose=0)
        trained = mlp.get_params(model)
    history = np.array(losses.values, dtype=dtype_of(params))
    check_history(task.name, history)
    return trained, {"loss": history}


class Batches(keras.utils.PyDataset):
    """Batch k is step k of the task's schedule: its rows, in its order."""

    def __init__(self, task, steps, x, y):
        super().__init__()
        self.rows, self.x, self.y = task.batches(steps), x, y

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, k):
        return self.x[self.rows[k]], self.y[self.rows[k]]  # (B, *input_shape), (B, K) or labels (B,)


class StepLosses(keras.callbacks.Callback):
    """The loss of each step, before its update (regularization included): fit's logs["loss"] is
    the mean since the metrics were last reset, so reset them before every step."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.reset_metrics()

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(logs["loss"]))
