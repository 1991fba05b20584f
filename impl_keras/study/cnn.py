"""A small CNN, the architectures talk: 8×8×1 bars -> conv 4 (3×3, same) relu -> conv 8 (3×3, stride 2, same)
relu -> max pool 2 -> flatten (32) -> 3 logits, softmax cross-entropy, Adam lr 3e-3.
Keras 3: keras.Sequential, compile, fit (gradients: tf.GradientTape, the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "cnn"  # the catalog task this file follows
LR, BETA1, BETA2 = 3e-3, 0.9, 0.999

# --- model


def build(params):
    """Keras's layouts are the canonical ones: Conv2D.kernel (kh, kw, in, out), images NHWC."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),  # (N, 8, 8, 4)
        layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),  # (N, 4, 4, 8)
        layers.MaxPooling2D(2),  # (N, 2, 2, 8)
        layers.Flatten(),  # (N, 32)
        layers.Dense(3),  # (N, 3) logits
    ])  # fmt: skip
    model.set_weights([a for layer in params for a in (layer.get("W"), layer.get("b")) if a is not None])
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def get_params(model, arrays=None):
    """[kernel, bias] × 3 (or their gradients, in the same order) -> canonical layers, pool and flatten {}."""
    arrays = model.get_weights() if arrays is None else [ops.convert_to_numpy(a) for a in arrays]
    conv1, conv2, dense = ({"W": arrays[i], "b": arrays[i + 1]} for i in (0, 2, 4))
    return [conv1, conv2, {}, {}, dense]


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
    """The catalog's 90 drawn 8×8 bars and diagonals (x NHWC, y: labels 0, 1, 2), initial weights, batches."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
