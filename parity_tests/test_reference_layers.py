"""The reference conv, pooling, flatten, LSTM and GRU layers against calculus (central differences) and
against independent forwards: a naive loop, TensorFlow's "same" rule worked by hand, and torch in float64.

Every gradient check uses the loss L = Σ out ⊙ R with a seeded R, so dL/dout = R.
"""

import numpy as np
import pytest

from foundation import layouts, tolerances
from foundation.tolerances import rel_diff
from reference_numpy import conv, recurrent


def rng(seed=0):
    return np.random.default_rng(seed)


def numeric_grad(loss, a, h=1e-6):
    """Central differences (L(a + h) − L(a − h)) / 2h, one entry of `a` at a time (changed in place)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        plus = loss()
        a[i] = old - h
        minus = loss()
        a[i] = old
        g[i] = (plus - minus) / (2 * h)
    return g


def gradcheck_errors(forward, backward, arrays):
    """{name: max|analytic − numeric| / max|numeric|} for every input and weight in `arrays`.

    forward(**arrays) -> (out, cache); backward(dout, cache) -> {name: gradient}.
    """
    out, cache = forward(**arrays)
    r = rng(1).standard_normal(out.shape)
    analytic = backward(r, cache)
    loss = lambda: np.sum(forward(**arrays)[0] * r)  # noqa: E731
    return {name: rel_diff(analytic[name], numeric_grad(loss, a)) for name, a in arrays.items()}


def assert_gradcheck(forward, backward, arrays):
    errors = gradcheck_errors(forward, backward, arrays)
    assert max(errors.values()) <= tolerances.GRADCHECK, errors


# ---- layers as forward(**arrays) / backward(dout, cache) -> {name: gradient} ----


def conv_layer(stride, padding):
    forward = lambda x, W, b: conv.conv2d(x, W, b, stride, padding)  # noqa: E731
    backward = lambda d, cache: dict(zip(("x", "W", "b"), conv.conv2d_backward(d, cache)))  # noqa: E731
    return forward, backward


def recurrent_layer(kind, states):
    """LSTM or GRU; `states` the given initial states (None: zeros)."""
    fwd, bwd = getattr(recurrent, kind), getattr(recurrent, f"{kind}_backward")

    def forward(x, W, U, b):
        return fwd(x, {"W": W, "U": U, "b": b}, *states)

    def backward(d, cache):
        dx, grads = bwd(d, cache)
        return {"x": dx, **grads}

    return forward, backward


def conv_arrays(h, w, kh, kw, n=2, c=3, f=4, dtype=np.float64):
    g = rng()
    x = g.standard_normal((n, h, w, c))
    W = g.standard_normal((kh, kw, c, f)) / np.sqrt(kh * kw * c)
    return {"x": x.astype(dtype), "W": W.astype(dtype), "b": g.standard_normal(f).astype(dtype)}


def recurrent_arrays(kind, n=3, t=4, n_in=3, u=5, dtype=np.float64):
    """Non-square on purpose (in ≠ u), scaled so that the gates stay away from saturation."""
    g = rng()
    width = {"lstm": 4, "gru": 3}[kind] * u
    bias = (width,) if kind == "lstm" else (2, width)
    arrays = {
        "x": g.standard_normal((n, t, n_in)),
        "W": 0.5 * g.standard_normal((n_in, width)),
        "U": 0.5 * g.standard_normal((u, width)),
        "b": 0.5 * g.standard_normal(bias),
    }
    return {name: a.astype(dtype) for name, a in arrays.items()}


def initial_states(kind, given, n=3, u=5):
    count = 2 if kind == "lstm" else 1
    return [0.5 * rng(2).standard_normal((n, u)) if given else None for _ in range(count)]


def distinct(shape):
    """Evenly spaced values in [−2, 2), shuffled: gaps of 4/size ≫ h, so no max-pool tie for h to cross."""
    size = int(np.prod(shape))
    return (4.0 * rng().permutation(size) / size - 2.0).reshape(shape)


# ---- "same" padding: TensorFlow's rule, worked by hand ----

# (size, kernel, stride) -> (before, after). out = ⌈size/stride⌉,
# total = max((out − 1)·stride + kernel − size, 0), before = total // 2.
SAME_PADDING = {
    (5, 3, 2): (1, 1),  # out 3: 2·2 + 3 − 5 = 2
    (6, 3, 2): (0, 1),  # out 3: 2·2 + 3 − 6 = 1, the odd pixel after
    (4, 2, 1): (0, 1),  # out 4: 3·1 + 2 − 4 = 1
    (5, 3, 1): (1, 1),  # out 5: 4 + 3 − 5 = 2
    (7, 4, 2): (1, 2),  # out 4: 3·2 + 4 − 7 = 3
    (5, 1, 2): (0, 0),  # out 3: 2·2 + 1 − 5 = 0
    (6, 1, 2): (0, 0),  # out 3: 2·2 + 1 − 6 = −1 -> 0
    (8, 2, 2): (0, 0),  # out 4: 3·2 + 2 − 8 = 0
    (3, 5, 1): (2, 2),  # out 3: 2 + 5 − 3 = 4, the kernel wider than the input
    (7, 5, 3): (2, 2),  # out 3: 2·3 + 5 − 7 = 4
}


@pytest.mark.parametrize("size, kernel, stride", list(SAME_PADDING))
def test_same_padding_follows_tensorflow(size, kernel, stride):
    assert layouts.same_padding(size, kernel, stride) == SAME_PADDING[size, kernel, stride]


@pytest.mark.parametrize(
    "size, kernel, stride, padding, expected",
    [(5, 3, 2, "same", 3), (6, 3, 2, "same", 3), (5, 3, 1, "valid", 3), (5, 3, 2, "valid", 2),
     (6, 3, 2, "valid", 2), (7, 4, 2, "valid", 2), (4, 2, 2, "valid", 2)],
)  # fmt: skip
def test_output_size(size, kernel, stride, padding, expected):
    assert layouts.output_size(size, kernel, stride, padding) == expected


def test_layout_checks_name_what_was_expected():
    arrays = conv_arrays(5, 5, 3, 3)
    with pytest.raises(ValueError, match=r"\(kh, kw, in=3, out\)"):
        conv.conv2d(arrays["x"], arrays["W"][:, :, :1], arrays["b"])
    with pytest.raises(ValueError, match="NHWC"):
        conv.conv2d(arrays["x"][0], arrays["W"], arrays["b"])
    with pytest.raises(KeyError, match="valid paddings"):
        conv.conv2d(arrays["x"], arrays["W"], arrays["b"], padding="full")
    lstm = recurrent_arrays("lstm")
    with pytest.raises(ValueError, match="gate blocks i, f, g, o"):
        recurrent.lstm(lstm["x"], {"W": lstm["W"], "U": lstm["U"], "b": lstm["b"][:-1]})
    gru = recurrent_arrays("gru")
    with pytest.raises(ValueError, match=r"b is \(2, 15\) \(gate blocks z, r, h\)"):
        recurrent.gru(gru["x"], {"W": gru["W"], "U": gru["U"], "b": gru["b"][0]})


# ---- forwards against independent computations ----


def naive_conv(x, W, b, stride, padding):
    """Four loops over (n, y, x, f), reading zero where the window leaves the input."""
    n, h, w, _ = x.shape
    kh, kw, _, f = W.shape
    ho, wo = (layouts.output_size(s, k, stride, padding) for s, k in ((h, kh), (w, kw)))
    top, left = (
        layouts.same_padding(s, k, stride)[0] if padding == "same" else 0 for s, k in ((h, kh), (w, kw))
    )
    out = np.zeros((n, ho, wo, f))
    for i, y, xx, o in np.ndindex(out.shape):
        total = b[o]
        for di, dj in np.ndindex(kh, kw):
            row, col = stride * y + di - top, stride * xx + dj - left
            if 0 <= row < h and 0 <= col < w:
                total += x[i, row, col] @ W[di, dj, :, o]
        out[i, y, xx, o] = total
    return out


CONV_CASES = [  # (H, W, kh, kw, stride, padding): odd and even sizes, so "same" with stride 2 pads unevenly
    (5, 5, 3, 3, 1, "valid"),
    (6, 7, 3, 2, 2, "valid"),
    (5, 5, 3, 3, 1, "same"),
    (4, 5, 2, 2, 1, "same"),  # even kernel: (0, 1) on both axes
    (6, 6, 3, 3, 2, "same"),  # (0, 1): the bottom row and the right column only
    (5, 6, 3, 3, 2, "same"),  # (1, 1) down, (0, 1) across
    (7, 6, 4, 3, 2, "same"),  # (1, 2) down, (0, 1) across
]


@pytest.mark.parametrize("h, w, kh, kw, stride, padding", CONV_CASES)
def test_conv_forward_equals_a_naive_loop(h, w, kh, kw, stride, padding):
    a = conv_arrays(h, w, kh, kw)
    out, _ = conv.conv2d(a["x"], a["W"], a["b"], stride, padding)
    assert rel_diff(out, naive_conv(a["x"], a["W"], a["b"], stride, padding)) <= tolerances.FORWARD["float64"]


@pytest.mark.parametrize("p", [2, 3])
def test_pooling_forwards(p):
    x = rng().standard_normal((2, 5, 7, 3))
    blocks = x[:, : 5 // p * p, : 7 // p * p].reshape(2, 5 // p, p, 7 // p, p, 3)
    assert np.array_equal(conv.maxpool2d(x, p)[0], blocks.max(axis=(2, 4)))
    assert rel_diff(conv.avgpool2d(x, p)[0], blocks.mean(axis=(2, 4))) <= 1e-15


def test_maxpool_tie_gives_the_gradient_to_the_first_max_row_major():
    x = np.array([[0.0, 2.0], [2.0, 2.0]])[None, :, :, None]  # (1, 2, 2, 1), three tied maxima
    _, cache = conv.maxpool2d(x, 2)
    dx = conv.maxpool2d_backward(np.ones((1, 1, 1, 1)), cache)
    assert np.array_equal(dx[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_flatten_is_row_major_over_h_w_c():
    x = rng().standard_normal((2, 3, 4, 5))
    out, _ = conv.flatten(x)
    n, row, col, ch = 1, 2, 3, 4
    assert out.shape == (2, 60) and out[n, (row * 4 + col) * 5 + ch] == x[n, row, col, ch]


# ---- gradient checks ----


@pytest.mark.parametrize("h, w, kh, kw, stride, padding", CONV_CASES)
def test_gradcheck_conv(h, w, kh, kw, stride, padding):
    assert_gradcheck(*conv_layer(stride, padding), conv_arrays(h, w, kh, kw))


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
@pytest.mark.parametrize("p", [2, 3])
def test_gradcheck_pooling(kind, p):
    forward = lambda x: getattr(conv, kind)(x, p)  # noqa: E731
    backward = lambda d, cache: {"x": getattr(conv, f"{kind}_backward")(d, cache)}  # noqa: E731
    assert_gradcheck(forward, backward, {"x": distinct((2, 5, 7, 3))})


def test_gradcheck_flatten():
    backward = lambda d, cache: {"x": conv.flatten_backward(d, cache)}  # noqa: E731
    assert_gradcheck(conv.flatten, backward, {"x": rng().standard_normal((2, 3, 4, 5))})


@pytest.mark.parametrize("given", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradcheck_recurrent(kind, given):
    assert_gradcheck(*recurrent_layer(kind, initial_states(kind, given)), recurrent_arrays(kind))


LAYERS = {  # name -> (forward, backward), arrays; one small case of each parametrized layer
    "conv": (conv_layer(2, "same"), conv_arrays(6, 5, 3, 3)),
    "lstm": (recurrent_layer("lstm", [None, None]), recurrent_arrays("lstm")),
    "gru": (recurrent_layer("gru", [None]), recurrent_arrays("gru")),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_float32_weights_give_float32_outputs_and_gradients(name):
    (forward, backward), arrays = LAYERS[name]
    weights = {key: a.astype(np.float32) for key, a in arrays.items() if key != "x"}
    out, cache = forward(arrays["x"], **weights)  # a float64 input follows the weights' dtype
    grads = backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())


# ---- the checks can fail ----


def test_gradcheck_catches_a_max_pool_gradient_sent_to_the_wrong_element(monkeypatch):
    """Windows unflattened column-major: the gradient lands on the transposed element of each window."""
    real = conv.unwindow

    def wrong(dwin, shape, p):
        return real(dwin.reshape(dwin.shape[:-1] + (p, p)).swapaxes(-1, -2).reshape(dwin.shape), shape, p)

    monkeypatch.setattr(conv, "unwindow", wrong)
    backward = lambda d, cache: {"x": conv.maxpool2d_backward(d, cache)}  # noqa: E731
    forward = lambda x: conv.maxpool2d(x, 2)  # noqa: E731
    assert gradcheck_errors(forward, backward, {"x": distinct((2, 4, 4, 3))})["x"] > 0.1


def test_gradcheck_catches_a_kernel_gradient_off_by_one_part_in_1e5(monkeypatch):
    real = conv.conv2d_backward

    def wrong(dout, cache):
        dx, dW, db = real(dout, cache)
        return dx, dW * (1 + 1e-5), db

    monkeypatch.setattr(conv, "conv2d_backward", wrong)
    errors = gradcheck_errors(*conv_layer(1, "same"), conv_arrays(5, 5, 3, 3))
    assert errors["W"] > tolerances.GRADCHECK and errors["x"] <= tolerances.GRADCHECK


# ---- torch in float64: proves the layouts documented in foundation.layouts ----


def to_torch_gru_blocks(a):
    """Canonical [z, r, h] blocks on the last axis -> torch's [r, z, n]."""
    blocks = np.split(a, 3, axis=-1)
    return np.concatenate([blocks[k] for k in layouts.TORCH_GRU_BLOCKS], axis=-1)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch pads a copy
@pytest.mark.parametrize("kh, kw, stride", [(3, 3, 1), (2, 4, 1), (3, 3, 2), (4, 3, 2)])
def test_torch_cross_check_conv_same(kh, kw, stride):
    """torch's padding="same" (stride 1) and F.pad + padding=0 (stride 2) against the reference."""
    torch = pytest.importorskip("torch")
    a = conv_arrays(6, 7, kh, kw)
    ours, _ = conv.conv2d(a["x"], a["W"], a["b"], stride, "same")
    x = torch.from_numpy(a["x"]).permute(0, 3, 1, 2)  # NHWC -> NCHW
    weight = torch.from_numpy(a["W"]).permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    if stride == 1:
        theirs = torch.nn.functional.conv2d(x, weight, torch.from_numpy(a["b"]), padding="same")
    else:
        (top, bottom), (left, right) = layouts.same_padding(6, kh, 2), layouts.same_padding(7, kw, 2)
        x = torch.nn.functional.pad(x, (left, right, top, bottom))
        theirs = torch.nn.functional.conv2d(x, weight, torch.from_numpy(a["b"]), stride=2)
    assert rel_diff(ours, theirs.permute(0, 2, 3, 1).numpy()) <= tolerances.FORWARD["float64"]


@pytest.mark.parametrize("given", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_torch_cross_check_recurrent(kind, given):
    """nn.LSTM: W = weight_ih.T, U = weight_hh.T, b = bias_ih + bias_hh (split at random here).
    nn.GRU: the same with the blocks [r, z, n] -> [z, r, h] and b = [bias_ih, bias_hh]."""
    torch = pytest.importorskip("torch")
    a, states = recurrent_arrays(kind), initial_states(kind, given)
    ours, _ = getattr(recurrent, kind)(a["x"], {k: a[k] for k in "WUb"}, *states)
    if kind == "lstm":
        b_hh = rng(3).standard_normal(a["b"].shape)
        torch_weights = (a["W"].T, a["U"].T, a["b"] - b_hh, b_hh)
        net = torch.nn.LSTM(3, 5, batch_first=True, dtype=torch.float64)
    else:
        W, U, b = (to_torch_gru_blocks(a[k]) for k in "WUb")
        torch_weights = (W.T, U.T, b[0], b[1])
        net = torch.nn.GRU(3, 5, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), torch_weights):
            getattr(net, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        state = None
        if given:
            h0 = [torch.from_numpy(s[None]) for s in states]  # (1, N, u) each: (h0, c0) or h0
            state = tuple(h0) if kind == "lstm" else h0[0]
        theirs, _ = net(torch.from_numpy(a["x"]), state)
    assert rel_diff(ours, theirs.numpy()) <= tolerances.FORWARD["float64"]


def test_torch_cross_check_max_pool_tie():
    torch = pytest.importorskip("torch")
    x = np.array([[0.0, 2.0], [2.0, 2.0]])[None, :, :, None]
    _, cache = conv.maxpool2d(x, 2)
    t = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    torch.nn.functional.max_pool2d(t, 2).sum().backward()
    assert np.array_equal(
        conv.maxpool2d_backward(np.ones((1, 1, 1, 1)), cache), t.grad.permute(0, 2, 3, 1).numpy()
    )
