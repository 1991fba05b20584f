"""The NumPy reference against calculus (finite differences) and against the tutorials' printouts."""

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given

import reference_numpy as ref
from foundation import tolerances
from foundation.tolerances import rel_diff, rel_diff_params
from parity_tests.strategies import mlp_tasks, off_kink_params
from rosetta import tasks


def numerical_grads(task, params, x, y, h=1e-6):
    """Central differences (L(w + h) − L(w − h)) / 2h, one weight at a time, float64."""
    grads = []
    for layer in params:
        grad = {}
        for key, value in layer.items():
            g = np.zeros_like(value)
            for i in np.ndindex(value.shape):
                old = value[i]
                value[i] = old + h
                plus, _ = ref.loss_and_grads(task, params, x, y)
                value[i] = old - h
                minus, _ = ref.loss_and_grads(task, params, x, y)
                value[i] = old
                g[i] = (plus - minus) / (2 * h)
            grad[key] = g
        grads.append(grad)
    return grads


def gradcheck_error(task):
    params = off_kink_params(task)
    x, y = task.data()
    _, grads = ref.loss_and_grads(task, params, x, y)
    return rel_diff_params(numerical_grads(task, params, x, y), grads)


@pytest.mark.parametrize(
    "activation, loss, bias, l2",
    list(itertools.product(tasks.ACTIVATIONS, tasks.LOSSES, [True, False], [0.0, 0.05])),
)
def test_gradcheck_every_activation_and_loss(activation, loss, bias, l2):
    n_out = 3 if loss == "multitask" else 2  # multitask: 1 regression column and 2 classes
    task = tasks.make((3, 4, n_out), (activation, activation), loss, bias=bias, l2=l2, n=6, seed=7)
    assert gradcheck_error(task) <= tolerances.GRADCHECK


@given(mlp_tasks())
def test_gradcheck_random_mlps(task):
    assert gradcheck_error(task) <= tolerances.GRADCHECK


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    """The check can fail: a tanh derivative missing its square is caught."""
    task = tasks.make((2, 3, 1), ("tanh", "linear"), "mse", seed=1)
    real = ref.mlp.activation_grad

    def wrong(name, z, a, alpha):
        return 1 - a if name == "tanh" else real(name, z, a, alpha)  # tanh' is 1 − a², not 1 − a

    monkeypatch.setattr(ref.mlp, "activation_grad", wrong)
    assert gradcheck_error(task) > 1e-3


@pytest.mark.parametrize("name", ["xor", "xor-gauss", "softmax", "hard-deep"])
def test_gradcheck_catalog_tasks(name):
    task = tasks.get(name)
    if task.n_samples > 40:  # keep the one-weight-at-a-time loop short: a slice of the data
        task = replace(task, make_data=lambda t=task: tuple(a[::10] for a in t.data()))
    assert gradcheck_error(task) <= tolerances.GRADCHECK


# ---- the tutorials' published numbers ----


def test_perceptron_output_after_training():
    task = tasks.get("perceptron")
    params, _ = ref.train(task, task.init_params(), steps=task.steps - 1)  # printed before update 10000
    out = ref.forward(task, params, task.data()[0]).ravel()
    np.testing.assert_array_equal(np.round(out, 8), [0.00966449, 0.00786506, 0.99358898, 0.99211957])


XOR_PRINTED = ["0.496410031903", "0.00858452565325", "0.00578945986251",
               "0.00462917677677", "0.00395876528027", "0.00351012256786"]  # fmt: skip


def xor_errors(framework, printouts=6):
    """mean|y − out| after 0, 10000, ..., 50000 updates, as the tutorial printed it (12 digits); the
    first `printouts` of the six. The loss is read per 500 steps, as `rosetta compare` reads it (Keras:
    500 steps per execution)."""
    task = tasks.get("xor")
    x, y = task.data()
    params, printed = task.init_params("float64"), []
    while True:
        printed.append(f"{np.mean(np.abs(y - framework.forward(task, params, x))):.12g}")
        if len(printed) == printouts:
            return printed
        params, _ = framework.train(task, params, 10000, 500)


def test_xor_reproduces_the_tutorial():
    assert xor_errors(ref) == XOR_PRINTED


def test_xor_gauss_worked_example():
    task = tasks.get("xor-gauss")
    x, _ = task.data()
    out = ref.forward(task, task.init_params(), x[:1])
    np.testing.assert_array_equal(np.round(out[0], 8), [0.37166596, 0.45414264])


# ---- training outcomes ----


def trained(name):
    task = tasks.get(name)
    params, history = ref.train(task, task.init_params())
    return task, params, history


def test_line_learns_its_coefficients():
    _, params, _ = trained("line")
    assert abs(params[0]["W"].item() - 2) < 0.01 and abs(params[0]["b"].item() - 5) < 0.01


def test_sine_linear_approaches_the_least_squares_line():
    task, params, _ = trained("sine-linear")
    x, y = task.data()
    (w, b), *_ = np.linalg.lstsq(np.c_[x, np.ones_like(x)], y.ravel(), rcond=None)
    assert abs(params[0]["W"].item() - w) < 0.05 and abs(params[0]["b"].item() - b) < 0.02


def test_hard_deep_fits_the_function():
    task, params, _ = trained("hard-deep")
    x, y = task.data()
    assert task.evaluate(ref.forward(task, params, x), y) < 0.03


def test_softmax_classifies_the_spiral():
    task, params, history = trained("softmax")
    x, labels = task.data()
    assert task.evaluate(ref.forward(task, params, x), labels) >= 0.95
    assert history["loss"][-1] < history["loss"][0] / 2


# ---- both float dtypes, and the two Adam forms ----


@pytest.mark.parametrize("name", tasks.names())
def test_float32_follows_float64(name):
    task = tasks.get(name)
    x, y = task.data()
    p64, p32 = task.init_params("float64"), task.init_params("float32")
    out32 = ref.forward(task, p32, x)
    assert out32.dtype == np.float32
    assert rel_diff(out32, ref.forward(task, p64, x)) < 1e-5
    _, grads = ref.loss_and_grads(task, p32, x, y)
    assert all(g.dtype == np.float32 for layer in grads for g in layer.values())


def test_adam_forms_differ_by_the_epsilon_placement():
    """Keras's ε̂ form equals the torch form with ε·√(1−β2ᵗ) in step t, so with ε → 0 they agree."""
    task = tasks.get("softmax")
    p = task.init_params()
    no_eps = {form: ref.train(tasks.with_optimizer(task, form=form, eps=0.0), p, 20)[0]
              for form in tasks.FORMS}  # fmt: skip
    assert rel_diff_params(no_eps["keras"], no_eps["torch"]) < 1e-10
    torch_form = ref.train(task, p, 50)[0]
    keras_form = ref.train(tasks.with_optimizer(task, form="keras", eps=1e-7), p, 50)[0]
    assert rel_diff_params(keras_form, torch_form) > 1e-6


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_forms_agree_until_the_learning_rate_changes(nesterov):
    """Keras's v = μv − lr·g is −lr·buf of torch's buf = μ·buf + g while lr is constant; after a
    learning-rate drop Keras's velocity still carries steps taken at the old rate."""
    task = tasks.with_optimizer(tasks.get("sine-nesterov"), nesterov=nesterov)
    p = task.init_params()

    def gap(**changes):
        forms = {f: ref.train(tasks.with_optimizer(task, form=f, **changes), p, 60)[0] for f in tasks.FORMS}
        return rel_diff_params(forms["keras"], forms["torch"])

    assert gap() < 1e-12
    assert gap(lr_drops=((30, 0.001),)) > 1e-4


# ---- the handbook's heads, PReLU, Cybenko's net and the 8-3-8 autoencoder (issue 14) ----

HANDBOOK = ["moons", "sin-cos", "multitask", "sine-prelu", "cybenko", "autoencoder"]


@pytest.mark.parametrize("name", HANDBOOK)
def test_gradcheck_handbook_tasks(name):
    """Every weight, PReLU's α included, against central differences (a slice of the bigger data)."""
    task = tasks.get(name)
    if task.n_samples > 40:
        task = replace(task, make_data=lambda t=task: tuple(a[::25] for a in t.data()))
    assert gradcheck_error(task) <= tolerances.GRADCHECK


def test_gradcheck_catches_a_wrong_prelu_alpha_gradient(monkeypatch):
    """The α gradient is checked: its sign flipped (da/dα = −min(z, 0)) is caught."""
    task = tasks.make((2, 4, 1), ("prelu", "linear"), "mse", seed=1)
    real = ref.mlp.backward

    def wrong(task, params, cache, dout):
        grads = real(task, params, cache, dout)
        grads[0]["alpha"] = -grads[0]["alpha"]
        return grads

    monkeypatch.setattr(ref.mlp, "backward", wrong)
    assert gradcheck_error(task) > 1e-3


def test_multitask_is_the_weighted_sum_of_its_two_losses():
    task = tasks.get("multitask")
    params, (x, y) = task.init_params(), task.data()
    r, (w1, w2) = task.n_regression, task.loss_weights
    out = ref.forward(task, params, x)
    mse, _ = ref.mlp.named_loss("mse", out[:, :r], y[:, :r])
    ce, _ = ref.mlp.softmax_ce(out[:, r:], np.argmax(y[:, r:], axis=1))
    assert ref.loss_and_grads(task, params, x, y)[0] == pytest.approx(w1 * mse + w2 * ce, rel=1e-14)
    assert w1 != w2  # the weights matter: a swap would change the loss


def test_moons_and_multitask_classify_their_training_data():
    for name, accuracy in [("moons", 0.99), ("multitask", 0.97)]:
        task, params, history = trained(name)
        x, y = task.data()
        assert task.evaluate(ref.forward(task, params, x), y) >= accuracy, name
        assert history["loss"][-1] < history["loss"][0] / 20, name


def test_regressions_fit_their_functions():
    for name, mse in [("sin-cos", 0.01), ("sine-prelu", 0.01), ("cybenko", 0.01)]:
        task, params, _ = trained(name)
        x, y = task.data()
        assert task.evaluate(ref.forward(task, params, x), y) < mse, name


def test_prelu_learns_a_different_alpha_per_unit():
    task, params, _ = trained("sine-prelu")
    alpha = params[0]["alpha"]
    assert alpha.shape == (20,) and np.ptp(alpha) > 0.1  # started at 0.25 everywhere


def test_autoencoder_learns_eight_distinct_codes():
    """The 3-unit bottleneck separates the eight one-hot inputs: rounded codes all differ, and
    decoding recovers every input."""
    task, params, _ = trained("autoencoder")
    x, y = task.data()
    codes = ref.mlp.activation("sigmoid", x @ params[0]["W"] + params[0]["b"], 0)  # (8, 3)
    assert len({tuple(row) for row in np.round(codes, 1)}) == 8
    assert task.evaluate(ref.forward(task, params, x), y) == 1.0


# ---- convolutional and recurrent nets (issue 15) ----

NETS = ["cnn", "lstm", "gru"]


def tenth(task):
    """The task on every tenth sample: the one-weight-at-a-time loop stays short."""
    return replace(task, make_data=lambda t=task: tuple(a[::10] for a in t.data()))


@pytest.mark.parametrize("name", NETS)
def test_gradcheck_cnn_and_recurrent_tasks(name):
    """Every conv kernel and bias, and the LSTM's and GRU's W, U and b, against central differences."""
    assert gradcheck_error(tenth(tasks.get(name))) <= tolerances.GRADCHECK


def small_net(n_in, layers, loss, n=5, seed=4):
    """A task on seeded N(0, 1) inputs (N, *n_in) with targets for `loss`: what the catalog does not
    cover (odd sizes, "valid" and stride-2 "same", average pooling, stacked Dense after a recurrent
    layer, every conv activation but relu)."""
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((n, *n_in)), layers[-1].units
    y = {
        "mse": lambda: rng.standard_normal((n, k)),
        "bce_logits": lambda: rng.integers(0, 2, (n, k)).astype(float),
        "softmax_ce": lambda: rng.integers(0, k, n),
    }[loss]()
    return tasks.Task("net", "gradcheck", n_in, tuple(layers), loss, tasks.Optimizer(), lambda: (x, y))


SMALL_NETS = {
    "odd image, stride-2 same, avg pool": small_net(
        (7, 6, 2),
        [tasks.Conv2D(3, 3, 2, "same", "tanh"), tasks.Pool2D(2, "avg"), tasks.Flatten(), tasks.Layer(2)],
        "mse",
    ),
    "valid convs, elu and leaky_relu, max pool": small_net(
        (6, 6, 1),
        [
            tasks.Conv2D(2, 2, 1, "valid", "elu", 1.0),
            tasks.Conv2D(3, 3, 1, "valid", "leaky_relu", 0.1),
            tasks.Pool2D(2),
            tasks.Flatten(),
            tasks.Layer(4, "sigmoid"),
            tasks.Layer(3),
        ],
        "softmax_ce",
    ),
    "conv sigmoid, linear, 1x1 kernel": small_net(
        (4, 5, 3),
        [
            tasks.Conv2D(2, 1, 1, "valid", "sigmoid"),
            tasks.Conv2D(2, 3, 1, "same", "linear"),
            tasks.Flatten(),
            tasks.Layer(1),
        ],
        "bce_logits",
    ),
    "lstm, two Dense after": small_net(
        (5, 3), [tasks.LSTM(4), tasks.Layer(3, "tanh"), tasks.Layer(1)], "bce_logits"
    ),
    "gru, softmax head": small_net((4, 2), [tasks.GRU(3), tasks.Layer(3)], "softmax_ce"),
}


@pytest.mark.parametrize("name", SMALL_NETS)
def test_gradcheck_small_cnns_and_recurrent_nets(name):
    assert gradcheck_error(SMALL_NETS[name]) <= tolerances.GRADCHECK


def test_gradcheck_catches_the_last_hidden_state_fed_to_the_wrong_step(monkeypatch):
    """Many-to-one: dL/dh_T belongs to the last step; fed to the first one instead, it is caught."""
    real = ref.mlp.RECURRENT[tasks.LSTM]
    monkeypatch.setitem(
        ref.mlp.RECURRENT, tasks.LSTM, (real[0], lambda dh, cache: real[1](dh[:, ::-1], cache))
    )
    assert gradcheck_error(tenth(tasks.get("lstm"))) > 1e-3


def test_gradcheck_catches_a_max_pool_gradient_sent_to_the_wrong_element(monkeypatch):
    """Max pooling's gradient goes to the window's maximum; spread like average pooling's, it is caught."""
    monkeypatch.setitem(
        ref.mlp.POOLS,
        "max",
        (ref.conv.maxpool2d, lambda d, cache: ref.conv.avgpool2d_backward(d, cache[:2])),
    )
    assert gradcheck_error(tenth(tasks.get("cnn"))) > 1e-3


def test_cnn_lstm_gru_learn_their_training_data():
    for name, good in [
        ("cnn", lambda m: m == 1.0),
        ("lstm", lambda m: m < 1e-4),
        ("gru", lambda m: m == 1.0),
    ]:
        task, params, history = trained(name)
        x, y = task.data()
        assert good(task.evaluate(ref.forward(task, params, x), y)), name
        assert history["loss"][-1] < history["loss"][0] / 100, name


def test_recurrent_layers_read_the_sequence_in_order():
    """The output is the last hidden state: reversing the time axis changes it, and the LSTM's
    output equals its last hidden state from recurrent.py."""
    task = tasks.get("lstm")
    params, (x, _) = task.init_params(), task.data()
    out = ref.forward(task, params, x[:5])
    assert rel_diff(ref.forward(task, params, x[:5, ::-1]), out) > 1e-2
    hs, _ = ref.recurrent.lstm(x[:5], params[0])
    np.testing.assert_array_equal(out, hs[:, -1] @ params[1]["W"] + params[1]["b"])


def test_the_cnn_flattens_row_major_over_h_w_c():
    """Flatten's row (y·W + x)·C + c holds pixel (y, x) of channel c, Keras's order on NHWC: a head
    that reads only that row outputs that pixel of the pooled maps. (A consistent NCHW flatten would
    pass every gradient check; this and the frameworks' parity tests catch it.)"""
    task, x = tasks.get("cnn"), tasks.get("cnn").data()[0][:4]
    params = task.init_params()
    _, cache = ref.mlp.predict(task, params, x)
    pooled = cache[2][2]  # (N, 2, 2, 8): the max pool's output
    (h, w, c), (row, col, channel) = pooled.shape[1:], (1, 0, 5)
    params[4]["W"] = np.zeros((h * w * c, 3))
    params[4]["W"][(row * w + col) * c + channel, 0] = 1.0
    np.testing.assert_array_equal(ref.forward(task, params, x)[:, 0], pooled[:, row, col, channel])
