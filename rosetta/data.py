"""The tutorials' data sets, generated in NumPy from fixed seeds (x float64; y targets or int labels)."""

import numpy as np

# The 11-lines tutorial: three inputs, the third always 1 (it plays the bias).
TRUTH_TABLE = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)


def perceptron():
    """y = the first input column."""
    return TRUTH_TABLE.copy(), np.array([[0, 0, 1, 1]], dtype=np.float64).T


def xor():
    """y = x0 xor x1."""
    return TRUTH_TABLE.copy(), np.array([[0, 1, 1, 0]], dtype=np.float64).T


def xor_gauss(n=300):
    """Lego tutorial: Gaussian points, label xor(x0 > 0, x1 > 0), one-hot 0 → [1, 0], 1 → [0, 1]."""
    x = np.random.RandomState(0).randn(n, 2)
    label = np.logical_xor(x[:, 0] > 0, x[:, 1] > 0).astype(np.int64)
    return x, np.eye(2)[label]  # (n, 2), (n, 2)


def grid(n=1000):
    """The function-approximation tutorial's inputs: 1000 points on [-3, 3], as a column."""
    return np.linspace(-3, 3, n).reshape(-1, 1)


def line_fn(x):
    return 2 * x + 5


def sine_fn(x):
    return 2 * np.sin(x) + 5


def hard_fn(x):
    """x·sin(2πx) for x < 0, −x·sin(πx) + exp(x/2) − 1 otherwise."""
    return np.where(x < 0, x * np.sin(2 * np.pi * x), -x * np.sin(np.pi * x) + np.exp(x / 2) - 1)


def regression(fn):
    """(x, fn(x)) on the tutorial's grid; fn is one of the functions above."""

    def make():
        x = grid()
        return x, fn(x)

    return make


def spiral(points=100, classes=3, seed=0):
    """CS231n's spiral: class k at radius linspace(0, 1), angle linspace(4k, 4k+4) + 0.2·N(0, 1)."""
    rng = np.random.RandomState(seed)
    x = np.zeros((points * classes, 2))
    for k in range(classes):
        rows = slice(points * k, points * (k + 1))
        r = np.linspace(0.0, 1.0, points)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), points) + rng.randn(points) * 0.2
        x[rows] = np.c_[r * np.sin(t), r * np.cos(t)]
    return x, np.repeat(np.arange(classes), points)  # (300, 2) float64, (300,) int64 labels


def blobs(n, n_in, n_out, labels, seed):
    """Random data for ad-hoc tasks: x ~ N(0, 1); y ~ N(0, 1), {0, 1} or class labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in))
    if labels == "classes":
        return x, rng.integers(0, n_out, n)
    if labels == "binary":
        return x, rng.integers(0, 2, (n, n_out)).astype(np.float64)
    return x, rng.standard_normal((n, n_out))
