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


def blobs(n, n_in, n_out, labels, seed, n_regression=0):
    """Random data for ad-hoc tasks: x ~ N(0, 1); y ~ N(0, 1), {0, 1}, class labels, or (multitask)
    n_regression N(0, 1) columns then one-hot labels of n_out − n_regression classes."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in))
    if labels == "classes":
        return x, rng.integers(0, n_out, n)
    if labels == "multitask":
        classes = n_out - n_regression
        return x, np.c_[rng.standard_normal((n, n_regression)), np.eye(classes)[rng.integers(0, classes, n)]]
    if labels == "binary":
        return x, rng.integers(0, 2, (n, n_out)).astype(np.float64)
    return x, rng.standard_normal((n, n_out))


# ---- the handbook's heads and the architectures talk's autoencoder ----


def two_moons(n=200, noise=0.15, seed=0):
    """Two interleaving half circles (as sklearn's make_moons) plus N(0, noise²); labels (n, 1), 0 or 1."""
    rng = np.random.RandomState(seed)
    n_top = n // 2
    t_top, t_bottom = np.linspace(0, np.pi, n_top), np.linspace(0, np.pi, n - n_top)
    top = np.c_[np.cos(t_top), np.sin(t_top)]  # label 0
    bottom = np.c_[1 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)]  # label 1
    x = np.r_[top, bottom] + noise * rng.randn(n, 2)
    return x, np.r_[np.zeros(n_top), np.ones(n - n_top)].reshape(-1, 1)  # (n, 2), (n, 1)


def sin_cos(n=1000):
    """Multi-output regression: x ↦ (sin x, cos x) on the tutorial's grid; y (n, 2)."""
    x = grid(n)
    return x, np.c_[np.sin(x), np.cos(x)]


def multitask(n=300, seed=0, sectors=3):
    """Points in the unit square [-1, 1]²; targets: two regression columns (‖x‖², x0·x1), then the
    one-hot angular sector of x (`sectors` equal angles from the positive x0 axis); y (n, 2 + sectors)."""
    x = np.random.RandomState(seed).uniform(-1, 1, (n, 2))
    sector = np.floor((np.arctan2(x[:, 1], x[:, 0]) % (2 * np.pi)) / (2 * np.pi / sectors)).astype(np.int64)
    return x, np.c_[np.sum(x**2, axis=1), x[:, 0] * x[:, 1], np.eye(sectors)[sector]]


def cybenko_fn(x):
    """A continuous function on [0, 1] for Cybenko's net: sin(2πx) + ½·sin(6πx)·x."""
    return np.sin(2 * np.pi * x) + 0.5 * np.sin(6 * np.pi * x) * x


def unit_interval(n=200):
    return np.linspace(0, 1, n).reshape(-1, 1)


def cybenko():
    x = unit_interval()
    return x, cybenko_fn(x)


def one_hot_8():
    """The 8-3-8 autoencoder: the eight one-hot vectors are both inputs and targets; (8, 8), (8, 8)."""
    return np.eye(8), np.eye(8)


# ---- the architectures talk's convolutional and recurrent nets (issue 15) ----

BARS = ("horizontal bar", "vertical bar", "diagonal")  # the cnn task's classes 0, 1, 2


def bar(kind, size, rng):
    """One size×size picture of `kind` (0 horizontal, 1 vertical, 2 diagonal): a line 4 to size
    pixels long at a random place, intensity 1 on 0."""
    image, length = np.zeros((size, size)), rng.integers(4, size + 1)
    start, line = rng.integers(0, size - length + 1), rng.integers(0, size)
    along = np.arange(start, start + length)
    if kind == 0:
        image[line, along] = 1.0
    elif kind == 1:
        image[along, line] = 1.0
    else:  # a diagonal ↘ or ↗ through the square's length×length corner at a random place
        offset = rng.integers(0, size - length + 1)
        rows = along if rng.integers(2) else along[::-1]
        image[rows, np.arange(offset, offset + length)] = 1.0
    return image


def bars(n_per_class=30, size=8, noise=0.2, seed=0):
    """Small drawn images for the cnn task: x (3·n, size, size, 1) NHWC, a bar or a diagonal plus
    N(0, noise²) pixel noise; y (3·n,) int labels (BARS), the classes interleaved 0, 1, 2, 0, ..."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(BARS)), n_per_class)
    images = np.stack([bar(k, size, rng) for k in labels])
    x = images + noise * rng.standard_normal(images.shape)
    return x[..., None], labels


def sine_windows(n=200, window=10, step=0.3):
    """Next-step prediction: x (n, window, 1) the windows sin(step·t) of a sine wave, y (n, 1) the
    value after each window."""
    wave = np.sin(step * np.arange(n + window))
    x = np.stack([wave[i : i + window] for i in range(n)])
    return x[..., None], wave[window:, None]


def parity_bits(bits=6):
    """Every bit stream of length `bits` (all 2^bits), x (2^bits, bits, 1), the first bit first, a
    1 bit as +1 and a 0 bit as −1; y (2^bits, 1) their parity (XOR over time), 0 or 1. (With 0/1
    inputs the GRU stays on the loss plateau ln 2 for most seeds; with ±1 it leaves it by step ~200.)"""
    b = (np.arange(2**bits)[:, None] >> np.arange(bits - 1, -1, -1)) & 1  # (2^bits, bits) of 0, 1
    return (2.0 * b - 1)[..., None], (b.sum(axis=1, keepdims=True) % 2).astype(np.float64)


# ---- the architectures talk's graph nets (issue 23) ----


def noisy_bars(n_per_class=16, size=8, noise=0.3, seed=1):
    """Denoising for the deconv task: x (3·n, size, size, 1) bars plus N(0, noise²) noise, y the clean
    pictures, the same shape: the net downsamples, then a learned upsampling draws the bar again."""
    rng = np.random.default_rng(seed)
    images = np.stack([bar(k, size, rng) for k in np.tile(np.arange(len(BARS)), n_per_class)])
    return (images + noise * rng.standard_normal(images.shape))[..., None], images[..., None]


def first_vs_last(n=128, steps=10, seed=0):
    """Is the sequence's first value above its last? x (n, steps, 1) uniform on [−1, 1], y (n, 1) 0 or 1.
    Each direction reads one of the two ends last, fresh: a bidirectional net combines them."""
    x = np.random.default_rng(seed).uniform(-1, 1, (n, steps, 1))
    return x, (x[:, 0] > x[:, -1]).astype(np.float64)


def sort_digits(n=256, length=6, digits=3, seed=0):
    """minGPT's sort demo: `length` random digits then the same sorted, as one sequence of 2·length
    tokens; a language model reads the first 2·length − 1 and predicts each next token. x, y: int64
    (n, 2·length − 1), y = x shifted by one (the first half of y is random digits, unpredictable)."""
    rng = np.random.default_rng(seed)
    digits_ = rng.integers(0, digits, (n, length))
    sequence = np.concatenate([digits_, np.sort(digits_, axis=1)], axis=1)
    return sequence[:, :-1], sequence[:, 1:]
