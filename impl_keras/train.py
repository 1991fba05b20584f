"""Training, Keras 3 guides style: compile, then fit on the task's batches in the task's order.

Three things fit does not do by itself: keep the task's batches (its default is batch_size=32,
shuffle=True), report a loss per step or per window rather than a running mean over each epoch, and
run many steps per call. fit gets x's rows in the schedule's order, shuffle=False, or a generator of
the batches where each epoch ends in a short one (on TensorFlow, as the tf.data pipeline fit builds
from them, with autotuning off). A stock LambdaCallback resets the metrics when an execution begins
and reads logs["loss"] when it ends: the mean loss per sample of its steps.
compile(steps_per_execution=k) runs k steps per execution, where the history is read per window of k
steps (foundation.history), as XLA (jit_compile=True) on TensorFlow and jax. With k = 1 (the per-step
history the trajectory tests compare) compile keeps its defaults: jit_compile="auto" is XLA on jax,
the plain graph on a CPU-only TensorFlow and eager torch. The torch backend refuses k > 1
(backend/torch/trainer.py): it runs one step per execution and its history is windowed afterwards.
fit's train_step calls the model with training=True: BatchNormalization normalizes with each batch's
statistics and moves its moving statistics once per step, as the reference's training step does.
"""

import gc
import itertools
import time

import keras
import numpy as np

from foundation import history, validate
from foundation.arrays import as_dtype
from foundation.errors import check_history
from foundation.params import dtype_of
from impl_keras import mlp, optim

# values of x in schedule order one fit call holds (a full batch repeats x): 128 MB in float64. Fewer
# (2**20) put more calls' set-up between the executions: cybenko 205 µs a step instead of 138, mlp-large
# 64 ms instead of 29. A run that stops itself (until) starts with calls of FIRST_FIT values, doubling:
# it reads its clock within each call, and 128 MB built for a run that stops after a second cost
# softmax ~0.45 s of its 2.8 (the schedule and TensorFlow's copy of it).
VALUES_PER_FIT = 2**24
FIRST_FIT = 2**18


def train(task, params, steps=None, every=1, until=None):
    """Train a copy of `params`; history["loss"][k] is the loss of step k, before its update, or with
    every > 1 the mean loss per sample of steps k·every to (k + 1)·every − 1 (foundation.history);
    history["clock"]: (steps done, seconds since the first's end, fit call) at each execution's end:
    fit's steady state is read within each call, without its tracing, compiling and set-up (rosetta.timing).
    With `until` (seconds) the run stops early, as a stock callback stops fit: at the first execution's
    end with that many seconds of steady state (rosetta bench times one run, one build, for about a
    second); the history then holds the steps run."""
    steps, every = validate.train_call(task, params, steps, every)
    x, y = task.data()
    per_execution = steps_per_execution(every)
    with mlp.floatx_of(params):
        model = compiled(task, params, every)
        losses, clock, calls, steady = [], [], [], [0.0]  # steady: seconds between executions of one call

        def ended(batch, logs):  # the execution's mean loss per sample, and when it ended
            losses.append(float(logs["loss"]))
            now, call = time.perf_counter(), len(calls)
            steady[0] += now - clock[-1][1] if clock and clock[-1][2] == call else 0.0
            clock.append((len(losses) * per_execution, now, call))

        def past():
            return until is not None and len(clock) > 0 and steady[0] >= until

        record = keras.callbacks.LambdaCallback(  # record.model, not model: on jax it syncs fit's state
            on_train_begin=lambda logs: calls.append(len(calls)),  # a fit call begins
            on_train_batch_begin=lambda batch, logs: record.model.reset_metrics(),
            on_train_batch_end=ended,
        )
        # fit's stock stop, a callback setting model.stop_training, for arrays. A generator (the data
        # given steps_per_epoch) ends itself (schedule): TensorFlow reads it on a thread that a stop
        # mid-epoch leaves waiting in it, and the iterator's teardown then waits for that thread forever.
        stop = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: setattr(stop.model, "stop_training", past())
        )
        x, y, first = as_dtype(x, params), as_dtype(y, params), VALUES_PER_FIT if until is None else FIRST_FIT
        for data in schedule(task, steps, per_execution, x, y, past, first):
            callbacks = [record] if "steps_per_epoch" in data else [record, stop]
            model.fit(**data, epochs=1, shuffle=False, callbacks=callbacks, verbose=0)
            if past():
                break
        trained = mlp.get_params(model)
    # TensorFlow: what a fit stopped early leaves to the cyclic collector stalled a later run by ~20 s when
    # collected there (5 of ~170 runs); collected now it takes ~0.2 s (0 of 96)
    if until is not None:
        gc.collect()
    losses = np.array(losses, dtype=dtype_of(params))
    clock = np.minimum(clock, [steps, np.inf, np.inf])  # the last execution may be short
    check_history(task.name, losses, per_execution)
    if per_execution < every:  # the torch backend: one step per execution
        losses = history.windows(task, losses, every)
    return trained, {"loss": losses, "clock": clock - [0, clock[0][1], 0]}


def compiled(task, params, every):
    """The task's model holding `params`, compiled with its loss and optimizer to run
    steps_per_execution(every) steps per execution, as XLA where that is more than one. Call it
    inside mlp.floatx_of(params)."""
    per_execution = steps_per_execution(every)
    model = mlp.build(task, params)
    loss, weight = mlp.keras_loss(task)
    model.compile(optimizer=optim.make(task.optimizer), loss=loss, loss_weights=weight,
                  steps_per_execution=per_execution, jit_compile=per_execution > 1 or "auto")  # fmt: skip
    return model


def steps_per_execution(every):
    """fit's steps per execution for a history read every `every` steps: the torch backend refuses
    more than one (backend/torch/trainer.py)."""
    return 1 if keras.backend.backend() == "torch" else every


def schedule(task, steps, every, x, y, past=lambda: False, first=VALUES_PER_FIT):
    """fit's data for the task's batches, one dict per fit call. Batches of one size: x's rows in
    schedule order, which fit slices batch_size at a time, `first` values (whole executions) in the
    first call, twice as many in each next, VALUES_PER_FIT at most. A short batch ending each epoch:
    one generator of the batches, which ends early once past() is true."""
    batches, size = task.batches(steps), task.batch_size or task.n_samples
    if task.n_samples % size:
        rows = itertools.takewhile(lambda rows: not past(), batches)
        yield {"x": generated(((x[r], y[r]) for r in rows), x, y), "steps_per_epoch": steps}
        return
    start, values = 0, first
    while start < steps:
        per_call = every * max(1, values // (x[0].size * size * every))
        rows = np.concatenate([np.arange(task.n_samples)[b] for b in batches[start : start + per_call]])
        yield arrays(x[rows], y[rows], size)  # (steps·size, *input_shape), (steps·size, …)
        start, values = start + per_call, min(2 * values, VALUES_PER_FIT)


# On TensorFlow, fit's input is the tf.data pipeline fit would build itself (batches of the rows, or
# from_generator; prefetch), with tf.data's autotuning off. On one thread, its optimizer's thread took
# time from the steps (softmax 224 µs a step instead of 323–358, sine-relu 249–259 instead of 317–325)
# and, with a generator stopped early, held up fit's return by up to a second (6 of 9 runs, 0 of 9).


def arrays(x, y, size):
    """fit's input for x's and y's rows in schedule order, `size` rows a batch."""
    if keras.backend.backend() != "tensorflow":
        return {"x": x, "y": y, "batch_size": size}
    import tensorflow as tf

    def batched(a):  # (batches, size, *a's row shape): one slice a batch, not `size` rows batched
        return a.reshape(-1, size, *a.shape[1:])

    return {"x": untuned(tf.data.Dataset.from_tensor_slices((batched(x), batched(y))))}


def generated(batches, x, y):
    """fit's input for a generator of (x, y) batches, rows of x and y."""
    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf

    def spec(a):  # (batch, *a's row shape): an epoch's last batch is short
        return tf.TensorSpec((None, *a.shape[1:]), a.dtype)

    return untuned(tf.data.Dataset.from_generator(lambda: batches, output_signature=(spec(x), spec(y))))


def untuned(dataset):
    """The dataset, prefetched as fit prefetches, with tf.data's autotuning off."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
