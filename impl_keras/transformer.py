"""The transformer's nodes in Keras 3: keras.layers.ReversibleEmbedding (the token table, and the output
projection tied to it), learned positions, keras.layers.LayerNormalization and causal
keras.layers.MultiHeadAttention.

Canonical (foundation.layouts): token table "E" (vocab, E), positions "P" (T, E), LayerNorm "gamma",
"beta" (E,), attention Wq, bq, Wk, bk, Wv, bv, Wo, bo with x @ W + b. Keras holds the table, the
positions and LayerNorm's weights as they are; MultiHeadAttention's query/key/value EinsumDense kernels
are (E, h, d) with biases (h, d), its output kernel (h, d, E) with bias (E,): attention_native and
attention_canonical reshape them, with foundation.layouts's heads_shaped / heads_in / heads_out, and
nowhere else.
"""

import keras
from keras import ops

from foundation.layouts import heads_in, heads_out, heads_shaped
from impl_keras import float64_fixes

ZEROS = "zeros"  # the task's weights replace every initializer


def embedding(spec, name):
    """keras.layers.ReversibleEmbedding(vocab, dim): token ids (N, T) -> (N, T, dim) as Embedding, and with
    reverse=True h @ Eᵀ with the same variable (tie_weights=True: keras_hub's GPT-2 lm head)."""
    return keras.layers.ReversibleEmbedding(
        spec.vocab, spec.dim, tie_weights=True, embeddings_initializer=ZEROS, name=name
    )  # Keras's default initializer is U(±0.05), torch's N(0, 1), GPT-2's N(0, 0.02²)


class Positions(keras.layers.Layer):
    """Learned positions added to the sequence: x + P, P (T, E) an Embedding read at 0 … T − 1 (GPT-2's
    wpe; keras-io's TokenAndPositionEmbedding). keras.layers has no position layer (keras_hub's
    PositionEmbedding returns P broadcast, not x + P)."""

    def build(self, input_shape):
        length, dim = input_shape[1:]
        self.table = keras.layers.Embedding(length, dim, embeddings_initializer=ZEROS, name="table")
        self.table.build((length,))

    def call(self, x):
        return ops.add(x, self.table(ops.arange(ops.shape(x)[1])))  # (N, T, E) + (T, E)


def position_embedding(spec, name):
    """Positions: a weight (T, E) added to every sequence of the batch."""
    return Positions(name=name)


def layernorm(spec, name):
    """keras.layers.LayerNormalization over the last axis with the task's ε: Keras's default is 1e-3,
    torch's 1e-5 (docs/divergences.md, layernorm-epsilon/keras)."""
    return keras.layers.LayerNormalization(axis=-1, epsilon=spec.eps, name=name)


def attention(spec, name, width):
    """keras.layers.MultiHeadAttention(heads, key_dim=E/heads, use_bias=spec.bias) on a sequence
    (N, T, E) of width E, to be called as attention(x, x, use_causal_mask=...): value_dim = key_dim,
    output E, scale 1/√key_dim; its float64 fix where Keras computes it in float32
    (float64_fixes.attention)."""
    return float64_fixes.attention(spec.heads, width // spec.heads, spec.bias, name)


def tied_output(embedding_layer, h):
    """logits = h @ Eᵀ, (N, T, E) -> (N, T, vocab): the Embedding node's own ReversibleEmbedding called
    again with reverse=True, so its one variable takes the gradient of both uses."""
    return embedding_layer(h, reverse=True)


# ---- each layer's variables under their canonical keys ----


def embedding_params(layer):
    """{"E": embeddings (vocab, dim)} of the ReversibleEmbedding."""
    return {"E": layer.embeddings}


def position_params(layer):
    return {"P": layer.table.embeddings}


def layernorm_params(layer):
    return {"gamma": layer.gamma, "beta": layer.beta}


def attention_params(layer):
    """{"Wq": query kernel (E, h, d), "bq": its bias (h, d), … "Wo": output kernel (h, d, E), "bo": (E,)}:
    Keras's shapes (no biases with use_bias=False); attention_native and attention_canonical convert."""
    dense = {"q": layer.query_dense, "k": layer.key_dense, "v": layer.value_dense, "o": layer.output_dense}
    kernels = {f"W{p}": d.kernel for p, d in dense.items()}
    return kernels | ({f"b{p}": d.bias for p, d in dense.items()} if layer.use_bias else {})


def attention_native(layer, weights):
    """The canonical Wq … bo in the shapes of the layer's variables: (E, h·d) -> (E, h, d), (h·d,) ->
    (h, d), Wo (h·d, E) -> (h, d, E), bo (E,) as it is (heads_shaped, the inverse of heads_in and
    heads_out), each checked by converting it back."""
    native = {}
    for key, variable in attention_params(layer).items():
        native[key] = heads_shaped(weights[key], tuple(variable.shape))
        back = attention_canonical({key: native[key]})[key]
        assert back.shape == weights[key].shape, f"{key}: {weights[key].shape} -> {variable.shape}"
    return native


def attention_canonical(arrays):
    """Keras's shapes (attention_params) -> canonical: kernels (E, h, d) and biases (h, d) by heads_in, the
    output kernel (h, d, E) by heads_out, bo (E,) as it is."""
    assert all(arrays[key].ndim == 3 for key in arrays if key[0] == "W"), {
        k: a.shape for k, a in arrays.items()
    }
    return {
        key: heads_out(a) if key == "Wo" else a if key == "bo" else heads_in(a) for key, a in arrays.items()
    }
