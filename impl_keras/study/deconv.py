"""A fully-convolutional denoiser, the architectures talk: 8×8×1 noisy bars -> conv 8 (2×2, stride 2) relu
("down1", 4×4) -> conv 16 (2×2, stride 2) relu (2×2) -> transposed conv 8 (2×2, stride 2) relu ("up1", 4×4)
-> concatenate [down1, up1] (4×4×16, U-Net's skip) -> transposed conv 1 (2×2, stride 2) sigmoid (8×8×1);
mean squared error against the clean bars, Adam lr 0.01, full batch.
Keras 3: a functional keras.Model (the skip reads down1 twice), compile, fit (gradients: tf.GradientTape,
the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "deconv"  # the catalog task this file follows
LR, BETA1, BETA2 = 1e-2, 0.9, 0.999
CANONICAL = {"kernel": "W", "bias": "b"}

# --- model


def build(params):
    """Keras's layouts are the canonical ones: Conv2D.kernel (kh, kw, in, out), Conv2DTranspose.kernel
    (kh, kw, out, in), images NHWC; model.layers after the Input are the task's nodes, in order."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    inputs = keras.Input(shape=(8, 8, 1))
    down1 = layers.Conv2D(8, 2, strides=2, activation="relu")(inputs)  # (N, 4, 4, 8)
    x = layers.Conv2D(16, 2, strides=2, activation="relu")(down1)  # (N, 2, 2, 16)
    up1 = layers.Conv2DTranspose(8, 2, strides=2, activation="relu")(x)  # (N, 4, 4, 8)
    x = layers.Concatenate()([down1, up1])  # the skip: axis=-1, (N, 4, 4, 8 + 8), down1's channels first
    outputs = layers.Conv2DTranspose(1, 2, strides=2, activation="sigmoid")(x)  # (N, 8, 8, 1)
    model = keras.Model(inputs, outputs)
    model.set_weights([a for layer in params for a in (layer.get("W"), layer.get("b")) if a is not None])
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def get_params(model, arrays=None):
    """Each node's weights (or, given the gradients of model.trainable_variables, theirs) -> canonical."""
    nodes = model.layers[1:]  # after the InputLayer
    if arrays is None:
        return [{CANONICAL[w.name]: ops.convert_to_numpy(w) for w in layer.weights} for layer in nodes]
    grad = {v.path: ops.convert_to_numpy(a) for v, a in zip(model.trainable_variables, arrays)}
    return [{CANONICAL[w.name]: grad[w.path] for w in layer.trainable_weights} for layer in nodes]


def forward(model, x):
    return ops.convert_to_numpy(model(x))


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    return keras.losses.mean_squared_error(y_true, y_pred)  # (N, 8, 8): the last axis; compile's the rest


# --- gradient


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): the backend's own gradient, here TensorFlow's tape."""
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
    """The catalog's 48 drawn 8×8 bars with N(0, 0.3²) noise (x NHWC), the clean pictures (y, the same
    shape), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
