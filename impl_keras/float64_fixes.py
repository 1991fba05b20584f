"""Where Keras 3.15 computes float64 in float32, and the one change a float64 run makes for each.

impl_keras is stock Keras; these fixes apply only when the weights are float64 (float32 runs never
see them). Each has a row in docs/divergences.md measuring stock Keras against the fix.
"""

import contextlib

import keras
import numpy as np
from keras import ops
from keras.src.backend.common import dtypes

BACKEND = keras.backend.backend()

if BACKEND == "jax":
    import jax

    # `float32-default/jax`: JAX computes in float32, silently truncating float64, unless x64 is on.
    # Process-wide; float32 weights still compute in float32 (Keras casts inputs to the layers' dtype).
    jax.config.update("jax_enable_x64", True)


@contextlib.contextmanager
def type_promotion(dtype):
    """`float64-promotion/keras` (jax, torch): Keras's type promotion maps float64 to float32 off
    TensorFlow "to be aligned with JAX's default" (keras/src/backend/common/dtypes.py,
    BIT64_TO_BIT32_DTYPE), so ops.matmul on torch and ops.tanh and ops.mean on jax compute float64
    in float32, and BatchNormalization casts its input to result_type(float64, "float32") = float32
    (3.3e-7 off in its output on both). With x64 on, JAX keeps float64: promote float64 to float64
    for this run only."""
    table, previous = dtypes.BIT64_TO_BIT32_DTYPE, dtypes.BIT64_TO_BIT32_DTYPE["float64"]
    if dtype == "float64":
        table["float64"] = "float64"
    try:
        yield
    finally:
        table["float64"] = previous


def exact(value):
    """`hyperparameter-cast/keras` (tensorflow): ops.cast(0.9, "float64") makes a float32 constant
    first (0.89999998); a NumPy float64 casts exactly. float32 runs keep the Python float."""
    return np.float64(value) if keras.config.floatx() == "float64" else value


class LeakyReLU(keras.layers.LeakyReLU):
    """`leaky-relu-alpha/keras` (tensorflow): TensorFlow's LeakyRelu op holds α as a float32
    attribute (0.01 becomes 0.0099999998 in float64); where(z > 0, z, α·z) keeps α in float64."""

    def call(self, inputs):
        return ops.where(inputs > 0, inputs, exact(self.negative_slope) * inputs)


class L2(keras.regularizers.L2):
    """`l2-cast/keras` (tensorflow): keras.regularizers.L2 computes ops.cast(λ, dtype)·ΣW², and the
    cast goes through float32 (λ = 1e-3 becomes 1.0000000475e-3); λ as a NumPy float64 instead."""

    def __call__(self, x):
        return ops.cast(exact(self.l2), x.dtype) * ops.sum(ops.square(x))


class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """`attention-scale/keras` (tensorflow): the scale 1/√key_dim is a Python float, which the TensorFlow
    backend casts to float64 through float32 (1/√8 becomes 0.35355338, 1.7e-8 off): a NumPy float64.
    `attention-softmax/keras` (jax): ops.dot_product_attention runs jax.nn.dot_product_attention, whose
    softmax is float32 whatever the inputs (5e-8 off): Keras's own other path, the one
    return_attention_scores=True takes (ops.einsum, the causal mask, keras.layers.Softmax), in float64."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._inverse_sqrt_key_dim = exact(self._inverse_sqrt_key_dim)

    def _compute_attention(
        self, query, key, value, attention_mask=None, training=None, return_attention_scores=False
    ):
        # overriding it makes call() build the causal mask itself (causal_only is False) and pass it here
        return super()._compute_attention(
            query, key, value, attention_mask, training, return_attention_scores=True
        )


SQRT_HALF = 0.7071067811865476  # 1/√2


def gelu(z):
    """`gelu-cast/keras` (tensorflow): tf.nn.gelu's exact form casts 1/√2 through float32
    (math_ops.cast(0.7071067811865476, float64)); z/2·erfc(−z/√2) with 1/√2 a NumPy float64."""
    return 0.5 * z * ops.erfc(-z * exact(SQRT_HALF))


def leaky_relu(alpha):
    """keras.layers.LeakyReLU(negative_slope=α); its float64 fix on TensorFlow."""
    if BACKEND == "tensorflow" and keras.config.floatx() == "float64":
        return LeakyReLU(negative_slope=alpha)
    return keras.layers.LeakyReLU(negative_slope=alpha)  # Keras's default slope is 0.3: pass ours


def l2(penalty):
    """keras.regularizers.L2(λ); its float64 fix on TensorFlow."""
    if BACKEND == "tensorflow" and keras.config.floatx() == "float64":
        return L2(penalty)
    return keras.regularizers.L2(penalty)


def attention(heads, key_dim, use_bias, name):
    """keras.layers.MultiHeadAttention(heads, key_dim, use_bias); its float64 fix on TensorFlow and jax."""
    if BACKEND in ("tensorflow", "jax") and keras.config.floatx() == "float64":
        return MultiHeadAttention(heads, key_dim, use_bias=use_bias, name=name)
    return keras.layers.MultiHeadAttention(heads, key_dim, use_bias=use_bias, name=name)


def gelu_activation():
    """Dense's activation= for the exact GELU: "gelu" (keras.activations.gelu, approximate=False; not
    keras.ops.gelu, whose default is the tanh form); its float64 fix on TensorFlow."""
    return gelu if BACKEND == "tensorflow" and keras.config.floatx() == "float64" else "gelu"
