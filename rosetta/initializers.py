"""Initial weights, always drawn in NumPy and then loaded into every framework.

No two frameworks share a random stream, so parity never relies on a framework's own initializer.
Kernel initializers are Keras's formulas (keras/src/initializers/random_initializers.py); the
tutorials' own schemes ("legacy_*") replay NumPy's legacy global RNG exactly as the tutorials did.
"""

import numpy as np

from rosetta.errors import unknown

# Keras/JAX scale the stddev of a normal truncated at 2σ so the truncated draw keeps the target
# variance: std of N(0, 1) restricted to [-2, 2] is 0.87962566103423978.
TRUNCATED_STD = 0.87962566103423978


def _truncated_normal(rng, stddev, shape):
    """N(0, stddev²) truncated to ±2·stddev by redrawing the values outside (as TF and JAX do)."""
    out = rng.standard_normal(shape)
    while (bad := np.abs(out) > 2.0).any():
        out[bad] = rng.standard_normal(int(bad.sum()))
    return stddev * out


def glorot_uniform(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # U(±√(6/(fan_in+fan_out)))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def glorot_normal(rng, fan_in, fan_out):
    stddev = np.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATED_STD
    return _truncated_normal(rng, stddev, (fan_in, fan_out))


def he_normal(rng, fan_in, fan_out):
    return _truncated_normal(rng, he_truncated_std(fan_in), (fan_in, fan_out))


def he_truncated_std(fan_in):
    """σ' = √(2/fan_in)/0.8796: the σ He normal draws with before truncating at ±2σ'."""
    return np.sqrt(2.0 / fan_in) / TRUNCATED_STD


def legacy_uniform(rng, fan_in, fan_out):
    """The 11-lines tutorial: 2·np.random.random((in, out)) − 1."""
    return 2 * rng.random_sample((fan_in, fan_out)) - 1


def legacy_uniform_scaled(rng, fan_in, fan_out):
    """The Lego tutorial: (2·np.random.random((in, out)) − 1) / √in."""
    return legacy_uniform(rng, fan_in, fan_out) / np.sqrt(fan_in)


KERNEL_INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "legacy_uniform": legacy_uniform,
    "legacy_uniform_scaled": legacy_uniform_scaled,
}


def make_rng(kind, seed):
    """legacy_* replay `np.random.seed(seed)` (a RandomState); the rest use a Generator."""
    if kind.startswith("legacy_"):
        return np.random.RandomState(seed)
    return np.random.default_rng(seed)


def init_params(sizes, biases, kind, seed, dtype="float64"):
    """Canonical weights: one {"W": (fan_in, fan_out), "b": (fan_out,)} per layer; biases start at 0.

    Kernels are drawn layer by layer from one stream, in float64, then cast to `dtype`.
    """
    if kind not in KERNEL_INITIALIZERS:
        raise unknown("initializer", kind, KERNEL_INITIALIZERS)
    draw, rng = KERNEL_INITIALIZERS[kind], make_rng(kind, seed)
    params = []
    for fan_in, fan_out, bias in zip(sizes[:-1], sizes[1:], biases):
        layer = {"W": draw(rng, fan_in, fan_out).astype(dtype)}
        if bias:
            layer["b"] = np.zeros(fan_out, dtype=dtype)
        params.append(layer)
    return params
