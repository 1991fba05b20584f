"""A bidirectional LSTM, the architectures talk: an LSTM(8) reads 10 values uniform on [−1, 1] forward, a
second LSTM(8) reads them backward; [forward's last state, backward's last state] (16) -> 1 logit, is the
first value above the last? Binary cross-entropy on the logit, Adam lr 0.01, full batch.
Keras 3: a functional keras.Model around layers.Bidirectional, compile, fit (gradients: tf.GradientTape,
the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "bilstm"  # the catalog task this file follows
LR, BETA1, BETA2 = 1e-2, 0.9, 0.999

# --- model


def build(params):
    """Keras's layouts are the canonical ones: Bidirectional's forward_layer kernel (1, 32), recurrent_kernel
    (8, 32), bias (32,), gate blocks i, f, g (Keras: c), o, then its backward_layer's (W_r, U_r, b_r);
    Dense.kernel (16, 1)."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    inputs = keras.Input(shape=(10, 1))
    # a copy of the LSTM reads x forward, a second (go_backwards=True) reads x_T … x_1; merge_mode="concat":
    # [forward's last state, backward's last state] (N, 16)
    h = layers.Bidirectional(layers.LSTM(8))(inputs)
    model = keras.Model(inputs, layers.Dense(1)(h))  # (N, 1) logits
    lstm, dense = params
    model.set_weights([lstm[key] for key in ("W", "U", "b", "W_r", "U_r", "b_r")] + [dense["W"], dense["b"]])
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def get_params(model, arrays=None):
    """[forward W, U, b, backward W, U, b, kernel, bias] (or their gradients, in the same order) ->
    canonical."""
    W, U, b, W_r, U_r, b_r, dense_W, dense_b = (
        model.get_weights() if arrays is None else map(ops.convert_to_numpy, arrays)
    )
    return [{"W": W, "U": U, "b": b, "W_r": W_r, "U_r": U_r, "b_r": b_r}, {"W": dense_W, "b": dense_b}]


def forward(model, x):
    return ops.convert_to_numpy(model(x))


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    # from_logits=True, else the output is read as probabilities, clipped at 1e-7 (prob-clipping/keras)
    return keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)  # (N,); compile takes the mean


# --- gradient


def grads(model, x, y):
    """(loss, dL/d of every weight): the backend's own gradient, here TensorFlow's tape."""
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
    """The catalog's 128 sequences x (N, 10, 1), y (N, 1) = 1 where x[:, 0] > x[:, −1], else 0; initial
    weights; batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
