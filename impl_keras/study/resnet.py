"""A residual block, the architectures talk: 8×8×1 bars -> conv 8 (3×3, stride 2) relu -> BatchNorm ("stem")
-> conv 8 relu -> BatchNorm -> conv 8 relu -> BatchNorm -> + stem -> relu -> global average pool -> 3 logits;
softmax cross-entropy, Adam lr 0.01, full batch.
Keras 3: a functional keras.Model (the shortcut reads the stem twice), compile, fit (gradients:
tf.GradientTape, the TensorFlow backend)."""

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "resnet"  # the catalog task this file follows
LR, BETA1, BETA2 = 1e-2, 0.9, 0.999
BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # the task's (torch's) r ← (1 − m)·r + m·batch
CANONICAL = {"kernel": "W", "bias": "b", "gamma": "gamma", "beta": "beta",
             "moving_mean": "moving_mean", "moving_variance": "moving_variance"}  # fmt: skip

# --- model


def build(params):
    """Keras's layouts are the canonical ones: Conv2D.kernel (kh, kw, in, out), BatchNormalization gamma,
    beta, moving_mean, moving_variance; model.layers after the Input are the task's nodes, in order."""
    dtype = str(params[0]["W"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)  # (N, 4, 4, 8)
    stem = batchnorm()(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(stem)
    x = batchnorm()(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = batchnorm()(x)
    x = layers.Add()([stem, x])  # the shortcut
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)  # (N, 8)
    model = keras.Model(inputs, layers.Dense(3)(x))  # (N, 3) logits
    model.set_weights([a for layer in params for a in layer.values()])  # per layer: W, b or γ, β, μ, σ²
    model.compile(optimizer=optimizer(), loss=loss)
    return model


def get_params(model, arrays=None):
    """Each node's weights (or, given the gradients of model.trainable_variables, theirs) -> canonical."""
    nodes = model.layers[1:]  # after the InputLayer
    if arrays is None:
        return [{CANONICAL[w.name]: ops.convert_to_numpy(w) for w in layer.weights} for layer in nodes]
    grad = {v.path: ops.convert_to_numpy(a) for v, a in zip(model.trainable_variables, arrays)}
    return [{CANONICAL[w.name]: grad[w.path] for w in layer.trainable_weights} for layer in nodes]


def batchnorm():
    # gotcha: Keras's momentum is the old value's weight, r ← μ·r + (1 − μ)·batch: μ = 1 − m
    # (batchnorm-momentum/keras)
    return layers.BatchNormalization(momentum=1 - BN_MOMENTUM, epsilon=BN_EPS)


def forward(model, x):
    return ops.convert_to_numpy(model(x, training=False))  # BatchNorm: the moving statistics


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    # from_logits=True, else the output is read as probabilities, clipped at 1e-7 (prob-clipping/keras)
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)  # (N,)


# --- gradient


def grads(model, x, y):
    """(loss, the trained weights' gradients): the backend's own gradient, here TensorFlow's tape."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = model.compute_loss(x, y, model(x, training=True))  # BatchNorm: the batch's statistics
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
    """The catalog's 30 drawn 8×8 bars (x NHWC, y: labels 0, 1, 2), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
