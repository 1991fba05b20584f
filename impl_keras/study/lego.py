"""Gaussian XOR, the Lego tutorial: a 2-3-2 sigmoid net without biases on 300 Gaussian points, one-hot
targets, Σ(out − y)²/(2N) + λ·ΣW²/(2N), SGD lr 10, full batch.
Keras 3: keras.Sequential, compile, fit (gradients: tf.GradientTape, the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "xor-gauss"  # the catalog task this file follows
LR = 10.0
LAMBDA, N = 1e-3, 300  # the tutorial's λ and N: one full batch of 300 points
L2 = LAMBDA / (2 * N)  # λ·ΣW²/(2N): a constant times ΣW²

# --- model


def build(params):
    """Keras's layout is the canonical one: Dense.kernel (in, out), y = x @ W."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    model = keras.Sequential([
        keras.Input(shape=(2,)),
        layers.Dense(3, activation="sigmoid", use_bias=False, kernel_regularizer=l2),  # (N, 3)
        layers.Dense(2, activation="sigmoid", use_bias=False, kernel_regularizer=l2),  # (N, 2)
    ])  # fmt: skip
    model.set_weights([layer["W"] for layer in params])
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def l2(kernel):
    """λ·ΣW²/(2N), added to the loss. gotcha: keras.regularizers.L2(L2) casts L2 through float32 on
    TensorFlow (1/600000 -> 1.6666666625e-6 in float64); a NumPy float64 keeps it (l2-cast/keras)."""
    return ops.cast(np.float64(L2), kernel.dtype) * ops.sum(ops.square(kernel))


def get_params(model, arrays=None):
    """The kernels (or their gradients, in the same order) -> canonical [{"W": (in, out)}, ...]."""
    arrays = model.get_weights() if arrays is None else [ops.convert_to_numpy(a) for a in arrays]
    return [{"W": a} for a in arrays]


def forward(model, x):
    return ops.convert_to_numpy(model(x))


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    return 0.5 * ops.sum((y_pred - y_true) ** 2, axis=-1)  # ½·Σₖ(out − y)² per row (N,); compile: mean, /N


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW of each layer): the backend's own gradient, here TensorFlow's tape."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = model.compute_loss(x, y, model(x, training=True))  # compile's loss + the L2 regularizers
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
    """The catalog's data (y: one-hot), initial weights and batches (full batch: every row, every step)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
