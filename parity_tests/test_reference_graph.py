"""The reference's graph nodes against calculus (central differences) and against independent
forwards: the transposed convolution, global average pooling, BatchNorm, the bidirectional layers, and
whole graphs (a residual Add read twice, a Concatenate) walked backward in reverse topological order.
Also the graph's own checks: what a task's wiring may and may not say.

Gradient checks of a layer use the loss L = Σ out ⊙ R with a seeded R, as test_reference_layers.py.
"""

import dataclasses

import numpy as np
import pytest

import reference_numpy as ref
from foundation import tolerances
from foundation.errors import ArgumentError
from foundation.tolerances import rel_diff
from parity_tests.test_reference_layers import assert_gradcheck, numeric_grad, rng
from reference_numpy import conv, mlp, norm, recurrent
from rosetta import tasks
from rosetta.tasks import (
    GRU,
    LSTM,
    Activation,
    Add,
    BatchNorm,
    Bidirectional,
    Concatenate,
    Conv2D,
    Conv2DTranspose,  # fmt: skip
    Flatten,
    GlobalAveragePooling2D,
    Layer,
)

# ---- the transposed convolution ----


def transpose_arrays(h=3, w=4, k=3, c=2, f=3, n=2):
    g = rng()
    return {"x": g.standard_normal((n, h, w, c)), "W": g.standard_normal((k, k, f, c)) / k,
            "b": g.standard_normal(f)}  # fmt: skip


def transpose_layer(stride):
    forward = lambda x, W, b: conv.conv2d_transpose(x, W, b, stride)  # noqa: E731

    def backward(d, cache):
        dx, dW = conv.conv2d_transpose_backward(d, cache)
        return {"x": dx, "W": dW, "b": d.sum(axis=(0, 1, 2))}

    return forward, backward


@pytest.mark.parametrize("k, stride", [(2, 2), (3, 2), (3, 1), (2, 3)])
def test_conv_transpose_forward_equals_a_naive_loop(k, stride):
    """Every input pixel scatters its kernel-weighted copy: out[s·y + i, s·x + j] += x[y, x] · W[i, j]."""
    a = transpose_arrays(k=k)
    x, W, b = a["x"], a["W"], a["b"]
    n, h, w, _ = x.shape
    want = np.zeros((n, (h - 1) * stride + k, (w - 1) * stride + k, W.shape[2])) + b
    for y, xx, i, j in np.ndindex(h, w, k, k):
        want[:, stride * y + i, stride * xx + j] += x[:, y, xx] @ W[i, j].T
    assert rel_diff(conv.conv2d_transpose(x, W, b, stride)[0], want) <= 1e-14


@pytest.mark.parametrize("k, stride", [(2, 2), (3, 2), (3, 1)])
def test_gradcheck_conv_transpose(k, stride):
    assert_gradcheck(*transpose_layer(stride), transpose_arrays(k=k))


@pytest.mark.parametrize("k, stride", [(2, 2), (3, 2)])
def test_conv_transpose_is_the_conv_s_input_gradient(k, stride):
    """The transposed convolution of d with W is exactly what conv2d_backward sends back to the input
    of a "valid" convolution with kernel W (kh, kw, C=F_t, F=C_t): the adjoint, no kernel flip."""
    a = transpose_arrays(k=k)
    out = conv.conv2d_transpose(a["x"], a["W"], np.zeros(3), stride)[0]
    image = np.zeros_like(out)
    _, cache = conv.conv2d(image, a["W"], np.zeros(2), stride, "valid")
    assert rel_diff(conv.conv2d_backward(a["x"], cache)[0], out) <= 1e-14


def test_torch_cross_check_conv_transpose():
    """torch's ConvTranspose2d weight is (in, out, kh, kw): the canonical kernel's axes (3, 2, 0, 1)."""
    torch = pytest.importorskip("torch")
    a = transpose_arrays(k=3)
    x = torch.tensor(a["x"]).permute(0, 3, 1, 2)
    out = torch.nn.functional.conv_transpose2d(x, torch.tensor(a["W"].transpose(3, 2, 0, 1)),
                                               torch.tensor(a["b"]), stride=2)  # fmt: skip
    want = conv.conv2d_transpose(a["x"], a["W"], a["b"], 2)[0]
    assert rel_diff(out.permute(0, 2, 3, 1).numpy(), want) <= 1e-14


# ---- global average pooling and BatchNorm ----


def test_gradcheck_global_average_pooling():
    forward = lambda x: conv.global_avgpool2d(x)  # noqa: E731
    backward = lambda d, shape: {"x": conv.global_avgpool2d_backward(d, shape)}  # noqa: E731
    assert_gradcheck(forward, backward, {"x": rng().standard_normal((2, 3, 4, 5))})


def batchnorm_layer(training=True):
    def forward(x, gamma, beta):
        layer = {
            "gamma": gamma,
            "beta": beta,
            "moving_mean": np.full(x.shape[-1], 0.3),
            "moving_variance": np.full(x.shape[-1], 2.0),
        }
        return norm.batchnorm(x, layer, 1e-3, training)

    def backward(d, cache):
        dx, grads = norm.batchnorm_backward(d, cache)
        return {"x": dx, **grads}

    return forward, backward


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 2)], ids=["features", "images"])
def test_gradcheck_batchnorm(shape, training):
    """With batch statistics every output depends on every input of its channel: dx has three terms;
    on the running statistics, one."""
    g = rng()
    arrays = {"x": g.standard_normal(shape) * 2 + 1, "gamma": g.standard_normal(shape[-1]),
              "beta": g.standard_normal(shape[-1])}  # fmt: skip
    assert_gradcheck(*batchnorm_layer(training), arrays)


def test_batchnorm_normalizes_the_batch_and_its_running_statistics_follow_the_formula():
    x = rng().standard_normal((5, 3, 3, 2)) * 3 + 2
    layer = {
        "gamma": np.ones(2),
        "beta": np.zeros(2),
        "moving_mean": np.zeros(2),
        "moving_variance": np.ones(2),
    }
    out, cache = norm.batchnorm(x, layer, 1e-5, training=True)
    assert np.allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-14)
    assert np.allclose(out.var(axis=(0, 1, 2)), 1 / (1 + 1e-5 / x.var(axis=(0, 1, 2))), rtol=1e-12)
    n, var = 45, x.var(axis=(0, 1, 2))
    biased = norm.running_stats(layer, cache, n, 0.1, unbiased=False)
    unbiased = norm.running_stats(layer, cache, n, 0.1, unbiased=True)
    assert np.allclose(biased["moving_mean"], 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-14)
    assert np.allclose(biased["moving_variance"], 0.9 + 0.1 * var, rtol=1e-14)
    assert np.allclose(unbiased["moving_variance"], 0.9 + 0.1 * var * 45 / 44, rtol=1e-14)
    inference = norm.batchnorm(x, {**layer, **biased}, 1e-5, training=False)[0]
    want = (x - biased["moving_mean"]) / np.sqrt(biased["moving_variance"] + 1e-5)
    assert rel_diff(inference, want) <= 1e-14


# ---- both directions ----


def bidirectional_layer(cell, return_sequences):
    def forward(x, W, U, b, W_r, U_r, b_r):
        params = {"W": W, "U": U, "b": b, "W_r": W_r, "U_r": U_r, "b_r": b_r}
        return recurrent.bidirectional(x, params, cell, return_sequences)

    def backward(d, cache):
        dx, grads = recurrent.bidirectional_backward(d, cache)
        return {"x": dx, **grads}

    return forward, backward


def bidirectional_arrays(cell, n=2, t=4, n_in=3, u=3):
    g, width = rng(), {"lstm": 4, "gru": 3}[cell] * u
    one = {"W": (n_in, width), "U": (u, width), "b": (width,) if cell == "lstm" else (2, width)}
    shapes = {"x": (n, t, n_in), **one, **{f"{key}_r": shape for key, shape in one.items()}}
    return {name: 0.5 * g.standard_normal(shape) for name, shape in shapes.items()}


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last-states", "sequences"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradcheck_bidirectional(cell, return_sequences):
    assert_gradcheck(*bidirectional_layer(cell, return_sequences), bidirectional_arrays(cell))


def test_bidirectional_backward_half_reads_the_sequence_reversed():
    """The backward layer's last state is the forward layer's last state on the reversed sequence."""
    a = bidirectional_arrays("lstm")
    params = {key: value for key, value in a.items() if key != "x"}
    out = recurrent.bidirectional(a["x"], params, "lstm")[0]
    back = {"W": a["W_r"], "U": a["U_r"], "b": a["b_r"]}
    assert np.array_equal(out[:, 3:], recurrent.lstm(a["x"][:, ::-1], back)[0][:, -1])


def test_torch_cross_check_bidirectional_sequences():
    """torch's bidirectional nn.LSTM gives every step [forward h_t, backward h_t] in time order too."""
    torch = pytest.importorskip("torch")
    a = bidirectional_arrays("lstm")
    lstm = torch.nn.LSTM(3, 3, batch_first=True, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for suffix, back in (("", ""), ("_reverse", "_r")):  # canonical i, f, g, o = torch's order
            getattr(lstm, f"weight_ih_l0{suffix}").copy_(torch.tensor(a["W" + back].T))
            getattr(lstm, f"weight_hh_l0{suffix}").copy_(torch.tensor(a["U" + back].T))
            getattr(lstm, f"bias_ih_l0{suffix}").copy_(torch.tensor(a["b" + back]))
            getattr(lstm, f"bias_hh_l0{suffix}").zero_()
        out = lstm(torch.tensor(a["x"]))[0].numpy()
    params = {key: value for key, value in a.items() if key != "x"}
    assert rel_diff(out, recurrent.bidirectional(a["x"], params, "lstm", True)[0]) <= 1e-14


# ---- whole graphs: every gradient of the loss by central differences ----

SKIP = (Conv2D(3, 3, padding="same", activation="tanh", name="a"),
        Conv2D(3, 3, padding="same", activation="linear"), BatchNorm(), Add(inputs=("a", "2")),
        Activation("elu", 1.0), GlobalAveragePooling2D(), Layer(2))  # fmt: skip
GRAPHS = {
    "residual": ((5, 5, 2), SKIP, "softmax_ce"),
    "concatenate-read-thrice": (
        6,
        (
            Layer(4, "tanh", name="h"),
            Layer(4, "sigmoid"),
            Concatenate(inputs=("h", "1")),
            Layer(4, "tanh"),
            Add(inputs=("h", "1", "3")),
            BatchNorm(),
            Layer(2),
        ),
        "mse",
    ),  # fmt: skip
    "bigru-sequences": ((4, 2), (Bidirectional(GRU(3), return_sequences=True), Flatten(), Layer(2)), "mse"),
    "upsampling": ((2, 2, 2), (Conv2DTranspose(3, 3, 2, activation="tanh"), Conv2D(2, 2)), "mse"),
}


def graph_task(name):
    n_in, layers, loss = GRAPHS[name]
    task = tasks.Task(name, name, n_in, layers, loss, tasks.Optimizer(), lambda: None, seed=3)
    x = rng(4).standard_normal((5, *task.input_shape))
    y = rng(5).integers(0, 2, 5) if loss == "softmax_ce" else rng(5).standard_normal((5, *task.output_shape))
    return task, x, y


def random_params(task, seed=6):
    """The task's weights with every array perturbed, running statistics included (not at 0 and 1)."""
    g = rng(seed)
    noise = lambda key, v: 0.3 * g.standard_normal(v.shape) + (key == "moving_variance")  # noqa: E731
    return [{key: value + noise(key, value) for key, value in layer.items()}
            for layer in task.init_params()]  # fmt: skip


def graph_gradcheck_errors(task, params, x, y):
    """{node.key: max|analytic − numeric|} over the largest numeric gradient of the model: a bias
    before a BatchNorm has a zero gradient, which no relative difference of its own could judge."""
    _, grads = ref.loss_and_grads(task, params, x, y)
    loss = lambda: mlp.loss_and_grads_native(task, params, x, y)[0]  # noqa: E731
    numeric = [{key: numeric_grad(loss, params[i][key]) for key in layer} for i, layer in enumerate(grads)]
    scale = max(np.max(np.abs(g)) for layer in numeric for g in layer.values())
    return {f"{i}.{key}": np.max(np.abs(grads[i][key] - g)) / scale
            for i, layer in enumerate(numeric) for key, g in layer.items()}  # fmt: skip


@pytest.mark.parametrize("name", list(GRAPHS))
def test_gradcheck_whole_graphs(name):
    task, x, y = graph_task(name)
    errors = graph_gradcheck_errors(task, random_params(task), x, y)
    assert max(errors.values()) <= tolerances.GRADCHECK, errors


def test_gradcheck_catches_a_gradient_overwritten_instead_of_added(monkeypatch):
    """A node read twice (the residual's input) must sum both readers' gradients; keeping only the
    last one written is the classic graph bug."""
    task, x, y = graph_task("residual")
    params = random_params(task)
    real = mlp.layer_backward

    def forgetful(spec, layer, entry, delta):
        grads, d_in = real(spec, layer, entry, delta)
        return grads, [d_in[0], 0 * d_in[1]] if isinstance(spec, Add) else d_in

    monkeypatch.setattr(mlp, "layer_backward", forgetful)
    assert max(graph_gradcheck_errors(task, params, x, y).values()) > 0.01


@pytest.mark.parametrize("name", ["resnet", "bilstm", "deconv"])
def test_the_catalog_s_graph_nets_learn(name):
    """Each converges in its schedule (reference numbers: resnet and bilstm 100 % accuracy, deconv MSE
    0.25 -> 8e-4), so their trajectories carry the point of the net."""
    task = tasks.get(name)
    x, y = task.data()
    trained, history = ref.train(task, task.init_params())
    score = task.evaluate(ref.forward(task, trained, x), y)
    assert (score == 1.0) if task.metric == "accuracy" else (score < 0.01 * history["loss"][0])


def test_a_chain_written_as_a_graph_is_the_same_model():
    chain = tasks.get("cnn")
    named = tuple(dataclasses.replace(spec, name=f"n{i}", inputs=(f"n{i - 1}",) if i else ("x",))
                  for i, spec in enumerate(chain.layers))  # fmt: skip
    graph = dataclasses.replace(chain, layers=named)
    x, y = chain.data()
    params = chain.init_params()
    assert not graph.layers == chain.layers and graph.is_chain
    (loss_g, grads_g), (loss_c, grads_c) = (ref.loss_and_grads(t, params, x, y) for t in (graph, chain))
    assert loss_g == loss_c and all(np.array_equal(a[k], b[k]) for a, b in zip(grads_g, grads_c) for k in a)


# ---- what a graph may not say ----

BAD_GRAPHS = [
    ((Layer(3, name="a"), Layer(2, name="a")), "the name 'a' is taken"),
    ((Layer(3), Layer(2, inputs=("h",))), r"inputs \('h',\) must name earlier nodes or 'x'"),
    ((Layer(3, name="h"), Add(inputs=("h",)), Layer(2)), "takes two inputs or more, got 1"),
    ((Layer(3, name="h"), Layer(3, inputs=("h", "x"))), "takes one input, got 2"),
    ((Layer(3, name="h"), Layer(3, inputs=("x",)), Layer(2)), r"nodes \['h'\] are read by no other node"),
    ((Layer(2, name="h"), Layer(3, inputs=("h",)), Add(inputs=("h", "1")), Layer(2)),
     "Add takes inputs of one shape"),
]  # fmt: skip


@pytest.mark.parametrize("layers, message", BAD_GRAPHS)
def test_a_bad_graph_is_refused_naming_the_node(layers, message):
    with pytest.raises(ArgumentError, match=message):
        tasks.Task("bad", "bad", 4, layers, "mse", tasks.Optimizer(), lambda: None)


def test_a_recurrent_node_must_read_the_input_sequence():
    layers = (Bidirectional(LSTM(2), return_sequences=True), Bidirectional(LSTM(2)), Layer(1))
    with pytest.raises(ArgumentError, match="a recurrent layer must read the input sequence"):
        tasks.Task("bad", "bad", (4, 3), layers, "mse", tasks.Optimizer(), lambda: None)


def test_an_image_head_needs_the_mse_loss():
    with pytest.raises(ArgumentError, match="with the mse loss, a Conv2D or Conv2DTranspose"):
        tasks.Task(
            "bad", "bad", (2, 2, 1), (Conv2DTranspose(1),), "bce_logits", tasks.Optimizer(), lambda: None
        )
