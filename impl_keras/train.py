"""Training, Keras 3 guides style: compile, then fit on the task's batches in the task's order.

Two things fit does not do by itself: keep the task's batches (its default is batch_size=32,
shuffle=True) and report the loss of every step (history["loss"] is a running mean over each epoch,
and with steps_per_execution only the last step's logs reach callbacks). An ordered PyDataset feeds
the batches; a metric updated in compute_loss records each step's loss during fit.
"""

import keras
import numpy as np
from keras import ops

from impl_keras import mlp, optim
from rosetta import validate
from rosetta.errors import check_history


class StepLosses(keras.metrics.Metric):
    """The loss of training step k at index k, before its update (regularization included)."""

    def __init__(self, steps):
        super().__init__(name="step_losses")
        self.values = self.add_variable(shape=(steps,), initializer="zeros", name="values")
        self.step = self.add_variable(shape=(), initializer="zeros", dtype="int32", name="step")

    def update_state(self, loss):
        values, index = ops.convert_to_tensor(self.values), ops.reshape(self.step, (1,))
        self.values.assign(ops.slice_update(values, index, ops.reshape(ops.stop_gradient(loss), (1,))))
        self.step.assign_add(1)

    def result(self):
        """The latest step's loss: fit turns every step's logs into Python numbers (on torch), so
        the whole record stays in `values`, read once fit returns."""
        return ops.take(ops.convert_to_tensor(self.values), ops.maximum(self.step - 1, 0))


class Sequential(keras.Sequential):
    """keras.Sequential whose compute_loss (the total loss fit differentiates) also feeds StepLosses."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        if training:
            self.step_losses.update_state(loss)
        return loss


class OrderedBatches(keras.utils.PyDataset):
    """Batch k is step k of the task's schedule: its rows, in its order."""

    def __init__(self, task, steps, x, y):
        super().__init__()
        self.rows, self.x, self.y = list(task.batches(steps)), x, y

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, k):
        return self.x[self.rows[k]], self.y[self.rows[k]]  # (B, n_in), (B, K) or labels (B,)


def dataset(batches):
    """The batches as fit takes them on this backend."""
    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf

    # Keras fixes a PyDataset's tf.data shapes from its first two batches (32 rows each) and would
    # refuse the 8-row last batch of an epoch; it also runs Python for every batch. Instead: each
    # step's row indices as one ragged tensor, gathered inside the graph.
    rows = [np.arange(len(batches.x))[r] for r in batches.rows]
    ragged = tf.RaggedTensor.from_row_lengths(np.concatenate(rows), [len(r) for r in rows])
    x, y = tf.constant(batches.x), tf.constant(batches.y)
    return tf.data.Dataset.from_tensor_slices(ragged).map(lambda r: (tf.gather(x, r), tf.gather(y, r)))


def compiled(task, params, steps):
    """The model with the task's loss and optimizer. On TF and JAX the whole run is one execution
    (steps_per_execution: a tf.while_loop / one Python loop of jitted steps, no callbacks between);
    the torch backend allows only 1. jit_compile: jax.jit on JAX; on TF an XLA launch per step was
    slower than the plain graph for nets this small; torch.compile took ~1 min to compile here."""
    model = mlp.build(task, params, sequential=Sequential)
    model.step_losses = StepLosses(steps)
    backend = keras.backend.backend()
    model.compile(
        optimizer=optim.make(task.optimizer),
        loss=mlp.task_loss(task),
        steps_per_execution=1 if backend == "torch" else steps,
        jit_compile=backend == "jax",
    )
    return model


def train(task, params, steps=None):
    """Train a copy of `params`; history["loss"][k] is the loss of step k, before its update."""
    steps = validate.train_call(task, params, steps)
    steps = task.steps if steps is None else steps
    x, y = task.data()
    with mlp.floatx_of(params):
        model = compiled(task, params, steps)
        batches = OrderedBatches(task, steps, mlp.as_dtype(x, params), mlp.as_dtype(y, params))
        # epochs: Keras 1's nb_epoch. One Keras epoch is the whole run: the task's epochs are in batches.
        model.fit(dataset(batches), epochs=1, shuffle=False, verbose=0)
        losses = ops.convert_to_numpy(model.step_losses.values.value)
        trained = mlp.get_params(model)
    check_history(task.name, losses)
    return trained, {"loss": losses}
