"""Sine regression, "neural networks in pictures": a 1-5-1 ReLU net fits 2·sin(x) + 5, MSE, SGD lr 0.01,
minibatches of 32 in the task's seeded order (catalog task "sine-relu").
Keras 3: keras.Sequential, compile, fit (gradients: tf.GradientTape, the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "sine-relu"  # the catalog task this file follows
LR = 0.01

# --- model


def build(params):
    """Keras's layout is the canonical one: Dense.kernel (in, out), Dense.bias (out,)."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    model = keras.Sequential([
        keras.Input(shape=(1,)),
        layers.Dense(5, activation="relu"),  # (N, 5)
        layers.Dense(1),  # (N, 1)
    ])  # fmt: skip
    model.set_weights([a for layer in params for a in (layer["W"], layer["b"])])
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def get_params(model, arrays=None):
    """[kernel, bias, kernel, bias] (or their gradients, in the same order) -> canonical layers."""
    arrays = model.get_weights() if arrays is None else [ops.convert_to_numpy(a) for a in arrays]
    return [{"W": arrays[i], "b": arrays[i + 1]} for i in range(0, len(arrays), 2)]


def forward(model, x):
    return ops.convert_to_numpy(model(x))


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    return keras.losses.mean_squared_error(y_true, y_pred)  # (N,); compile's loss takes the mean


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): the backend's own gradient, here TensorFlow's tape."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = model.compute_loss(x, y, model(x, training=True))  # compile's loss (+ any regularizer)
    return float(value), get_params(model, tape.gradient(value, model.trainable_variables))


# --- update


def optimizer():
    return keras.optimizers.SGD(learning_rate=LR)  # w −= lr·g


# --- loop


def train(params, x, y, batches):
    model = build(params)
    losses = []
    record = keras.callbacks.LambdaCallback(  # logs["loss"] is a running mean: reset it every step
        on_train_batch_begin=lambda batch, logs: model.reset_metrics(),
        on_train_batch_end=lambda batch, logs: losses.append(logs["loss"]),
    )
    data = (
        (x[rows], y[rows]) for rows in batches
    )  # fit's default: shuffled, 32 a batch (fit-defaults/keras)
    model.fit(data, steps_per_epoch=len(batches), epochs=1, shuffle=False, callbacks=[record], verbose=0)
    return get_params(model), np.array(losses)


# --- data


def load(dtype="float64", steps=None):
    """The catalog's data, initial weights and batches: rows of a seeded permutation per epoch, 32 a
    batch, the last one of each epoch shorter (1000 = 31·32 + 8)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
