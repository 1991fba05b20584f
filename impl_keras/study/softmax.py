"""Softmax classification, the ML handbook's multiclass head: a 2-100-3 ReLU net on a 3-arm spiral,
softmax cross-entropy + λ·ΣW² on the kernels, Adam lr 0.01, full batch.
Keras 3: keras.Sequential, compile, fit (gradients: tf.GradientTape, the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "softmax"  # the catalog task this file follows
LR, BETA1, BETA2 = 1e-2, 0.9, 0.999
L2 = 1e-3

# --- model


def build(params):
    """Keras's layout is the canonical one: Dense.kernel (in, out), Dense.bias (out,)."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    model = keras.Sequential([
        keras.Input(shape=(2,)),
        layers.Dense(100, activation="relu", kernel_regularizer=l2),  # (N, 100)
        layers.Dense(3, kernel_regularizer=l2),  # (N, 3) logits
    ])  # fmt: skip
    model.set_weights([a for layer in params for a in (layer["W"], layer["b"])])
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def l2(kernel):
    """λ·ΣW², added to the loss. gotcha: keras.regularizers.L2(λ) casts λ through float32 on TensorFlow
    (1e-3 -> 1.0000000475e-3 in float64); a NumPy float64 λ keeps it (l2-cast/keras)."""
    return ops.cast(np.float64(L2), kernel.dtype) * ops.sum(ops.square(kernel))


def get_params(model, arrays=None):
    """[kernel, bias, kernel, bias] (or their gradients, in the same order) -> canonical layers."""
    arrays = model.get_weights() if arrays is None else [ops.convert_to_numpy(a) for a in arrays]
    return [{"W": arrays[i], "b": arrays[i + 1]} for i in range(0, len(arrays), 2)]


def forward(model, x):
    return ops.convert_to_numpy(model(x))


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    # from_logits=True, else the output is read as probabilities, clipped at 1e-7 (prob-clipping/keras)
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)  # (N,)


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): the backend's own gradient, here TensorFlow's tape."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = model.compute_loss(x, y, model(x, training=True))  # compile's loss + the L2 regularizers
    return float(value), get_params(model, tape.gradient(value, model.trainable_variables))


# --- update


def optimizer():
    """Keras's Adam is not torch's: w −= lr·√(1 − β2ᵗ)/(1 − β1ᵗ)·m/(√v + ε̂), its "epsilon hat" ε̂ = 1e-7
    beside √v where torch puts ε = 1e-8 beside √v̂. No ε makes the two equal (adam-epsilon/keras)."""
    # gotcha: TensorFlow casts Python floats via float32, 0.9 -> 0.899999976 (hyperparameter-cast/keras)
    return keras.optimizers.Adam(learning_rate=LR, beta_1=np.float64(BETA1), beta_2=np.float64(BETA2))


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
    """The catalog's data (y: class labels 0, 1, 2), initial weights and batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
