"""A GRU, the architectures talk: GRU(8) reads a 6-bit stream (a bit as ±1), its last state -> 1 logit, the
stream's parity; log loss on the logit, Adam lr 0.01, full batch of all 64 streams.
Keras 3: keras.Sequential, compile, fit (gradients: tf.GradientTape, the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "gru"  # the catalog task this file follows
LR, BETA1, BETA2 = 1e-2, 0.9, 0.999

# --- model


def build(params):
    """Keras's layouts are the canonical ones: GRU kernel (1, 24), recurrent_kernel (8, 24), gate blocks
    z, r, h; bias (2, 24): [input bias, recurrent bias]; Dense.kernel (8, 1)."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    model = keras.Sequential([
        keras.Input(shape=(6, 1)),
        # reset_after=True, Keras 3's default: ĥ = tanh(x W_h + b0_h + r ⊙ (h U_h + b1_h)), bias (2, 24);
        # False is the paper's form, (r ⊙ h) U_h, one bias: another function (gru-reset-after/keras)
        layers.GRU(8, reset_after=True),  # (N, 8): the last state (return_sequences=False)
        layers.Dense(1),  # (N, 1) logits
    ])  # fmt: skip
    gru, dense = params
    model.set_weights([gru["W"], gru["U"], gru["b"], dense["W"], dense["b"]])
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def get_params(model, arrays=None):
    """[kernel, recurrent_kernel, bias, kernel, bias] (or their gradients, in the same order) -> canonical."""
    W, U, b, dense_W, dense_b = model.get_weights() if arrays is None else map(ops.convert_to_numpy, arrays)
    return [{"W": W, "U": U, "b": b}, {"W": dense_W, "b": dense_b}]


def forward(model, x):
    return ops.convert_to_numpy(model(x))


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    # from_logits=True, else the output is read as probabilities, clipped at 1e-7 (prob-clipping/keras)
    return keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)  # (N,); compile takes the mean


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW, dL/dU and dL/db of each layer): the backend's own gradient, here TensorFlow's tape."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = model.compute_loss(x, y, model(x, training=True))  # compile's loss (+ any regularizer)
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
    # gotcha: fit's defaults shuffle and take 32 a batch (fit-defaults/keras): the task's batches instead
    data = ((x[rows], y[rows]) for rows in batches)
    model.fit(data, steps_per_epoch=len(batches), epochs=1, shuffle=False, callbacks=[record], verbose=0)
    return get_params(model), np.array(losses)


# --- data


def load(dtype="float64", steps=None):
    """The catalog's 64 streams x (64, 6, 1) of ±1, y (64, 1) their parity 0 or 1, initial weights and
    batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
