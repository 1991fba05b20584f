"""Initial weights, always drawn in NumPy and then loaded into every framework.

No two frameworks share a random stream, so parity never relies on a framework's own initializer.
Kernel initializers are Keras's formulas (keras/src/initializers/random_initializers.py); the
tutorials' own schemes ("legacy_*") replay NumPy's legacy global RNG exactly as the tutorials did.
"""

import numpy as np

from foundation.errors import unknown

# Keras/JAX scale the stddev of a normal truncated at 2σ so the truncated draw keeps the target
# variance: std of N(0, 1) restricted to [-2, 2] is 0.87962566103423978.
TRUNCATED_STD = 0.87962566103423978


def _truncated_normal(rng, stddev, shape):
    """N(0, stddev²) truncated to ±2·stddev by redrawing the values outside (as TF and JAX do)."""
    out = rng.standard_normal(shape)
    while (bad := np.abs(out) > 2.0).any():
        out[bad] = rng.standard_normal(int(bad.sum()))
    return stddev * out


# Each kernel initializer draws an array of `shape`, (fan_in, fan_out) unless given: a conv kernel
# (kh, kw, in, out) has Keras's fans kh·kw·in and kh·kw·out (compute_fans).


def glorot_uniform(rng, fan_in, fan_out, shape=None):
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # U(±√(6/(fan_in+fan_out)))
    return rng.uniform(-limit, limit, shape or (fan_in, fan_out))


def glorot_normal(rng, fan_in, fan_out, shape=None):
    stddev = np.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATED_STD
    return _truncated_normal(rng, stddev, shape or (fan_in, fan_out))


def he_normal(rng, fan_in, fan_out, shape=None):
    return _truncated_normal(rng, he_truncated_std(fan_in), shape or (fan_in, fan_out))


def he_truncated_std(fan_in):
    """σ' = √(2/fan_in)/0.8796: the σ He normal draws with before truncating at ±2σ'."""
    return np.sqrt(2.0 / fan_in) / TRUNCATED_STD


def legacy_uniform(rng, fan_in, fan_out, shape=None):
    """The 11-lines tutorial: 2·np.random.random((in, out)) − 1."""
    return 2 * rng.random_sample(shape or (fan_in, fan_out)) - 1


def legacy_uniform_scaled(rng, fan_in, fan_out, shape=None):
    """The Lego tutorial: (2·np.random.random((in, out)) − 1) / √in."""
    return legacy_uniform(rng, fan_in, fan_out, shape) / np.sqrt(fan_in)


KERNEL_INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "legacy_uniform": legacy_uniform,
    "legacy_uniform_scaled": legacy_uniform_scaled,
}


def orthogonal(rng, rows, cols):
    """keras.initializers.Orthogonal() of a (rows, cols) matrix, drawn in NumPy: Q of the QR of a
    N(0, 1) matrix (max, min) of the two sizes, its columns' signs fixed by diag(R), transposed when
    rows < cols (then the rows are orthonormal)."""
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)  # reduced: q (max, min)
    q = q * np.sign(np.diag(r))
    return q.T if rows < cols else q


def make_rng(kind, seed):
    """legacy_* replay `np.random.seed(seed)` (a RandomState); the rest use a Generator."""
    if kind.startswith("legacy_"):
        return np.random.RandomState(seed)
    return np.random.default_rng(seed)


def drawer(kind, seed):
    """(the kernel initializer `kind`, its random stream): every layer of a task draws from one stream."""
    if kind not in KERNEL_INITIALIZERS:
        raise unknown("initializer", kind, KERNEL_INITIALIZERS)
    return KERNEL_INITIALIZERS[kind], make_rng(kind, seed)


# ---- one layer's initial weights, float64, canonical layout (foundation.layouts) ----


def dense(draw, rng, fan_in, units, bias):
    """{"W": (fan_in, units), "b": zeros (units,)}, "b" only with a bias."""
    layer = {"W": draw(rng, fan_in, units)}
    if bias:
        layer["b"] = np.zeros(units)
    return layer


def conv(draw, rng, shape):
    """{"W": (kh, kw, in, out), "b": zeros (out,)}; fans kh·kw·in and kh·kw·out, as Keras's Conv2D."""
    kh, kw, c_in, c_out = shape
    return {"W": draw(rng, kh * kw * c_in, kh * kw * c_out, shape), "b": np.zeros(c_out)}


def conv_transpose(draw, rng, shape):
    """{"W": (kh, kw, out, in), "b": zeros (out,)}; Keras reads the fans off the kernel's last two axes
    as for Conv2D (kh·kw·out and kh·kw·in): the same draw with the two swapped, glorot's sum unchanged."""
    kh, kw, c_out, c_in = shape
    return {"W": draw(rng, kh * kw * c_out, kh * kw * c_in, shape), "b": np.zeros(c_out)}


def batchnorm(channels):
    """γ = 1, β = 0 and the running statistics at mean 0, variance 1, as every framework starts them."""
    ones, zeros = np.ones(channels), np.zeros(channels)
    return {"gamma": ones, "beta": zeros, "moving_mean": zeros.copy(), "moving_variance": ones.copy()}


def embedding(rng, shape):
    """A token or position table N(0, 0.02²), GPT-2's (and nanoGPT's) initializer."""
    return 0.02 * rng.standard_normal(shape)


def layernorm(dim):
    """γ = 1, β = 0, as every framework starts them."""
    return {"gamma": np.ones(dim), "beta": np.zeros(dim)}


def attention(draw, rng, dim, bias=True):
    """Wq, Wk, Wv, Wo (dim, dim) from the kernel initializer, the biases zeros (foundation.layouts)."""
    layer = {}
    for p in "qkvo":
        layer |= {f"W{p}": draw(rng, dim, dim)} | ({f"b{p}": np.zeros(dim)} if bias else {})
    return layer


def lstm(draw, rng, n_in, units):
    """Keras's LSTM defaults: W (in, 4u) from the kernel initializer, U (u, 4u) orthogonal, b (4u,)
    zeros but the forget block at 1 (unit_forget_bias=True); gate blocks i, f, g, o."""
    b = np.zeros(4 * units)
    b[units : 2 * units] = 1.0
    return {"W": draw(rng, n_in, 4 * units), "U": orthogonal(rng, units, 4 * units), "b": b}


def gru(draw, rng, n_in, units):
    """Keras's GRU defaults: W (in, 3u) from the kernel initializer, U (u, 3u) orthogonal, b (2, 3u)
    zeros (input and recurrent bias); gate blocks z, r, h."""
    W, U = draw(rng, n_in, 3 * units), orthogonal(rng, units, 3 * units)
    return {"W": W, "U": U, "b": np.zeros((2, 3 * units))}
