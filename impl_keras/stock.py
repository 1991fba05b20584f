"""The stock idiom `rosetta bench --against-stock` times this framework's training against: the
Keras guides' compile(steps_per_execution=500, jit_compile=True) and one fit over the schedule.
Full batch: x repeated once per step; minibatches: fit's own batches and shuffle, over whole epochs.
The torch backend refuses both settings: one step per execution, eager. Its one callback reads the
clock when an execution ends, as train's does, so that the steady state is timed without tracing."""

import time

import keras
import numpy as np

from foundation import history
from foundation.arrays import as_dtype
from impl_keras import mlp
from impl_keras.train import compiled


def train(task, params, steps):
    """`steps` optimizer steps (whole epochs); {"clock": (steps done, seconds since the first's end)
    at each execution's end}."""
    x, y = task.data()
    x, y = as_dtype(x, params), as_dtype(y, params)
    clock = []
    with mlp.floatx_of(params):
        model = compiled(task, params, history.LONGEST)  # 500 steps per execution
        per_epoch, epoch = (steps if task.batch_size is None else task.steps_per_epoch), []

        def ended(batch, logs):  # batch: the execution's last step in its epoch
            clock.append((epoch[-1] * per_epoch + batch + 1, time.perf_counter()))

        tick = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda k, logs: epoch.append(k), on_train_batch_end=ended
        )
        if task.batch_size is None:
            x, y = np.repeat(x[None], steps, 0), np.repeat(y[None], steps, 0)  # (steps, N, …)
            model.fit(x.reshape(-1, *x.shape[2:]), y.reshape(-1, *y.shape[2:]), batch_size=task.n_samples,
                      shuffle=False, callbacks=[tick], verbose=0)  # fmt: skip
        else:
            model.fit(x, y, batch_size=task.batch_size, epochs=steps // task.steps_per_epoch,
                      callbacks=[tick], verbose=0)  # fmt: skip
    return {"clock": np.array(clock) - [0, clock[0][1]]}
