"""A tiny GPT, nanoGPT at toy size: tokens (N, 11) of minGPT's sort demo -> token table (3, 16) + learned
positions -> 2 pre-LayerNorm blocks (x + attention(LN(x)), 2 causal heads, no biases; then + MLP 16-64-16,
exact GELU) -> LayerNorm -> logits = h @ Eᵀ with the token table (tied); softmax cross-entropy over all
N·T positions, AdamW lr 1e-3, λ 0.01, minibatches of 32.
Keras 3: a functional keras.Model (ReversibleEmbedding called twice: the table and the tied head),
compile, fit (gradients: tf.GradientTape, the TensorFlow backend)."""

import math

import keras
import numpy as np
from keras import layers, ops

from foundation.catalog import get

TASK = "transformer"  # the catalog task this file follows
LR, BETA1, BETA2, WD = 1e-3, 0.9, 0.999, 0.01
VOCAB, LENGTH, WIDTH, HEADS, LN_EPS = 3, 11, 16, 2, 1e-5
BLOCKS = (2, 9)  # the index of each block's first node (b0.ln1, b1.ln1) in the canonical list

# --- model


class Positions(layers.Layer):
    """Learned positions added to the sequence: x + P, P (11, 16) (GPT-2's wpe); keras.layers has none."""

    def build(self, input_shape):
        self.positions = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", name="positions")

    def call(self, x):
        return x + self.positions  # (N, T, E) + (T, E)


class Attention(layers.MultiHeadAttention):
    """gotcha: on TensorFlow the scale 1/√key_dim, a Python float, reaches float64 through float32
    (0.35355338, 1.7e-8 off): a NumPy float64 keeps it (attention-scale/keras)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._inverse_sqrt_key_dim = np.float64(1 / math.sqrt(self._key_dim))


def build(params):
    """Keras's layouts are the canonical ones (E, P, γ, β, Dense kernel (in, out)) but for the attention's:
    query/key/value kernels (16, 2, 8) = Wq … reshaped by head, output kernel (2, 8, 16) = Wo reshaped
    (attention-layout/keras). Layers are named after the task's nodes (b0.ln1 -> b0_ln1)."""
    dtype = str(params[0]["E"].dtype)
    # gotcha: weights, inputs, losses and metrics follow floatx, float32 by default (floatx/keras)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    tokens = keras.Input(shape=(LENGTH,), dtype="int64")
    embed = layers.ReversibleEmbedding(VOCAB, WIDTH, tie_weights=True, name="embed")
    x = Positions(name="pos")(embed(tokens))  # (N, T, 16)
    for b in range(2):
        # gotcha: LayerNormalization's default ε is 1e-3, torch's 1e-5 (layernorm-epsilon/keras)
        a = layers.LayerNormalization(epsilon=LN_EPS, name=f"b{b}_ln1")(x)
        attention = Attention(num_heads=HEADS, key_dim=WIDTH // HEADS, use_bias=False, name=f"b{b}_attn")
        x = layers.Add()([x, attention(a, a, use_causal_mask=True)])  # query = key = value: self-attention
        m = layers.LayerNormalization(epsilon=LN_EPS, name=f"b{b}_ln2")(x)
        m = layers.Dense(4 * WIDTH, activation=gelu, name=f"b{b}_fc")(m)
        x = layers.Add()([x, layers.Dense(WIDTH, name=f"b{b}_proj")(m)])
    x = layers.LayerNormalization(epsilon=LN_EPS, name="ln_f")(x)
    model = keras.Model(tokens, embed(x, reverse=True))  # (N, T, 3) logits = h @ Eᵀ, the same variable
    for layer, node in zip(weighted(model), [params[i] for i in NODES]):
        native = [np.reshape(node[key], tuple(w.shape)) for key, w in zip(KEYS[type(layer)], layer.weights)]
        layer.set_weights(native)  # the attention's (16, 16) -> (16, 2, 8), Wo -> (2, 8, 16)
    model.compile(optimizer=optimizer(), loss=loss)
    return model


NODES = (0, 1, 2, 3, 5, 6, 7, 9, 10, 12, 13, 14, 16)  # the canonical nodes with weights, in layer order
KEYS = {layers.ReversibleEmbedding: ("E",), Positions: ("P",), layers.LayerNormalization: ("gamma", "beta"),
        Attention: ("Wq", "Wk", "Wv", "Wo"), layers.Dense: ("W", "b")}  # fmt: skip


def weighted(model):
    return [layer for layer in model.layers if layer.weights]


def get_params(model, arrays=None):
    """Each node's weights (or, given the gradients of model.trainable_variables, theirs) -> canonical:
    the attention's (16, 2, 8) and (2, 8, 16) kernels flattened back to (16, 16)."""
    value = {v.path: ops.convert_to_numpy(v) for v in model.weights}
    if arrays is not None:
        value = {v.path: ops.convert_to_numpy(a) for v, a in zip(model.trainable_variables, arrays)}
    nodes = [{} for _ in range(18)]
    for layer, i in zip(weighted(model), NODES):
        for key, w in zip(KEYS[type(layer)], layer.weights):
            nodes[i][key] = (
                value[w.path].reshape(-1, WIDTH) if key[0] == "W" and w.ndim == 3 else value[w.path]
            )
    return nodes


def gelu(z):
    """The exact z·Φ(z). gotcha: keras.ops.gelu's default is the tanh form (gelu-approximate/keras), and
    activation="gelu" (tf.nn.gelu) casts 1/√2 through float32 (gelu-cast/keras): 1/√2 a NumPy float64."""
    return 0.5 * z * ops.erfc(-z * np.float64(1 / math.sqrt(2)))


def forward(model, x):
    return ops.convert_to_numpy(model(x))


# --- loss


def loss(y_true, y_pred):  # gotcha: Keras's order is (target, output), torch's (output, target)
    # from_logits=True, else the output is read as probabilities, clipped at 1e-7 (prob-clipping/keras)
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)  # (N, T): mean


# --- gradient


def grads(model, x, y):
    """(loss, the trained weights' gradients): the backend's own gradient, here TensorFlow's tape; the
    table's is the sum of its two uses (one variable)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = model.compute_loss(x, y, model(x, training=True))
    return float(value), get_params(model, tape.gradient(value, model.trainable_variables))


# --- update


def optimizer():
    """keras.optimizers.AdamW: w ← w − lr·λ·w on every variable (weight-decay/keras), then Keras's Adam,
    which is not torch's: w −= lr·√(1 − β2ᵗ)/(1 − β1ᵗ)·m/(√v + ε̂), ε̂ = 1e-7 beside √v where torch puts
    ε = 1e-8 beside √v̂. No ε makes the two equal (adam-epsilon/keras)."""
    # gotcha: TensorFlow casts Python floats via float32, 0.9 -> 0.899999976 (hyperparameter-cast/keras)
    return keras.optimizers.AdamW(
        learning_rate=LR, weight_decay=np.float64(WD), beta_1=np.float64(BETA1), beta_2=np.float64(BETA2)
    )


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
    """The catalog's 256 sort-demo sequences: x the first 11 of 6 digits (0–2) then the same sorted, y the
    next token at each position (int64 (256, 11) both); initial weights; the task's minibatches of 32."""
    task = get(TASK)
    x, y = task.data()
    return x, y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
