"""rosetta.transfer: a trained model's weights copied into its port, in place, in every direction between
torch, Keras (on the backend of the process), Flax NNX and canonical. The proof is the check: after
the transfer, which changed dst, rosetta.check(src, dst, x) is ok. Each adapter's writer inverts its
reader, kind by kind; what cannot be placed is refused in one line and leaves dst as it was; `rosetta
transfer` writes DST's own format. `make test` runs the tests with Keras in their names on every backend."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

import rosetta
from parity_tests.ports import BUILD, LAYER_BUILD, build, data, layer_data, layer_weights, weights
from parity_tests.test_check_catalog import ResidualNet
from parity_tests.test_check_cli import SPEC
from parity_tests.test_check_cli import rosetta as rosetta_cli
from parity_tests.test_check_graphs import TiedLM, Twice
from parity_tests.zoo import (
    ZOO,
    gpt_flax_port,
    gpt_torch,
    minigpt_flax,
    minigpt_torch_port,
    next_tokens,
    nnx_kwargs,
)
from parity_tests.zoo_more import ZOO_MORE
from parity_tests.zoo_ports_more import PORTS_MORE, minigpt_keras_port
from rosetta import tasks
from rosetta.portcheck import TransferError
from rosetta.portcheck.adapters import framework_of

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
nn, L = torch.nn, keras.layers

if keras.backend.backend() == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 Keras weights on jax need it

FRAMEWORKS = ("torch", "keras", "flax", "canonical")
PAIRS = [pytest.param(a, b, id=f"{a}-to-{b}") for a, b in itertools.permutations(FRAMEWORKS, 2)]
CYCLE = [
    pytest.param(a, b, id=f"{a}-to-{b}")
    for a, b in (("torch", "keras"), ("keras", "flax"), ("flax", "torch"))
]


# ---- a port before its weights, and what the transfer may write ----


def scramble(model, seed=3):
    """Every weight and running statistic of `model` set to other values, U(0.5, 1.5), in place."""
    rng = np.random.default_rng(seed)
    other = lambda shape, dtype: rng.uniform(0.5, 1.5, tuple(shape)).astype(dtype)  # noqa: E731
    framework = framework_of(model)
    if framework == "torch":
        with torch.no_grad():
            for name, t in model.state_dict(keep_vars=True).items():
                if isinstance(t, nn.Parameter) or name.endswith(("running_mean", "running_var")):
                    t.copy_(torch.from_numpy(other(t.shape, str(t.dtype).removeprefix("torch."))))
    elif framework == "keras":
        for v in (v for v in model.weights if "float" in v.dtype):  # not a Dropout's seed
            v.assign(other(v.shape, v.dtype))
    elif framework == "flax":
        for v in flax_variables(model):
            v.set_value(jax_array(other(v.shape, v.dtype)))
    else:
        for a in (a for layer in model[1] for a in layer.values()):
            a[...] = other(a.shape, a.dtype)
    return model


def flax_variables(model):
    """Its weights and BatchNorm statistics (not the state of its random streams)."""
    from flax import nnx

    held = (nnx.Param, nnx.BatchStat)
    return [v for _, m in nnx.iter_modules(model) for v in vars(m).values() if isinstance(v, held)]


def jax_array(a):
    import jax.numpy as jnp

    return jnp.asarray(a)


def arrays(model):
    """Every array of `model` a transfer could write, as NumPy copies."""
    framework = framework_of(model)
    if framework == "torch":
        return [t.detach().numpy().copy() for t in model.state_dict().values()]
    if framework == "keras":
        return [np.array(keras.ops.convert_to_numpy(v)) for v in model.weights]
    if framework == "flax":
        return [np.array(v[...]) for v in flax_variables(model)]
    return [a.copy() for layer in model[1] for a in layer.values()]


def transferred(src, dst, x, given=None, hints=()):
    """transfer(src, dst) changes dst's arrays (they were not src's), then check(src, dst, x) is ok."""
    before = arrays(dst)
    mapping = rosetta.transfer(src, dst, given)
    assert any(not np.array_equal(a, b) for a, b in zip(before, arrays(dst), strict=True)), str(mapping)
    report = rosetta.check(src, dst, x)
    assert report.ok and [hint.kind for hint in report.hints] == list(hints), f"{mapping}\n{report}"
    return mapping


def refused(src, dst, *expected, x=None):
    """transfer(src, dst) refused in one line holding `expected`; dst's arrays as they were."""
    before = arrays(dst)
    with pytest.raises(TransferError) as caught:
        rosetta.transfer(src, dst, x)
    message = str(caught.value)
    assert "\n" not in message and all(part in message for part in expected), message
    after = arrays(dst)
    assert len(after) == len(before) and all(np.array_equal(a, b) for a, b in zip(before, after))
    return message


def other_weights(params, seed=1):
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=v.shape).astype(v.dtype) for k, v in layer.items()} for layer in params]


# ---- every direction: an MLP; a CNN, an LSTM, a GRU; a residual block with BatchNorm ----


@pytest.mark.parametrize("fa,fb", PAIRS)
def test_an_mlp_is_transferred_in_every_direction(fa, fb):
    x, _ = data()
    mapping = transferred(build(fa), BUILD[fb](other_weights(weights())), x)  # x: made from the input shape
    assert [len(row) for row in mapping] == [3] * 3 and len(str(mapping).splitlines()) == 4
    assert all(("weight = Wᵀ" in how) == ("torch" in (fa, fb)) for _, _, how in mapping), str(mapping)


def flax_layers(kind, params, bug=None):
    """ports.py's CNN ("same" convs, the second with stride 2, max pooling, a flatten into a Dense), LSTM
    or GRU (the last state into a Dense) as an nnx.Module, with Flax's own initial weights."""
    from flax import nnx

    kw = nnx_kwargs(str(params[0]["W"].dtype))

    class CNN(nnx.Module):
        def __init__(self):
            self.conv1 = nnx.Conv(2, 4, (3, 3), padding="SAME", **kw)
            self.conv2 = nnx.Conv(4, 6, (3, 3), strides=2, padding="SAME", **kw)
            self.linear = nnx.Linear(24, 3, **kw)

        def __call__(self, x):
            x = nnx.max_pool(nnx.relu(self.conv2(nnx.relu(self.conv1(x)))), (2, 2), strides=(2, 2))
            return self.linear(x.reshape(x.shape[0], -1))  # (N, H·W·C)

    class RNN(nnx.Module):
        def __init__(self):
            cell = (nnx.LSTMCell if kind == "lstm" else nnx.GRUCell)(3, 4, **kw)
            self.rnn, self.linear = nnx.RNN(cell), nnx.Linear(4, 2, **kw)

        def __call__(self, x):
            return self.linear(self.rnn(x)[:, -1])

    return CNN() if kind == "cnn" else RNN()


LAYERS = LAYER_BUILD | {"flax": flax_layers}


def unstated(fa, fb):
    """Neither torch nor Flax states its input's shape: a convolution's H and W must come with x."""
    return {fa, fb} == {"torch", "flax"}


def layer_params(kind, seed=None):
    """ports.py's weights (seed None) or others of their shapes; a GRU's recurrent bias b[1] zero, as
    Flax's GRUCell has none (refused below when it is not)."""
    params = layer_weights(kind)[1]
    params = params if seed is None else other_weights(params, seed)
    if kind == "gru":
        params[0]["b"][1] = 0
    return params


@pytest.mark.parametrize("kind", ["cnn", "lstm", "gru"])
@pytest.mark.parametrize("fa,fb", PAIRS)
def test_a_cnn_lstm_and_gru_are_transferred_in_every_direction(fa, fb, kind):
    x, _ = layer_data(kind)
    given = x if kind == "cnn" and unstated(fa, fb) else None
    transferred(LAYERS[fa](kind, layer_params(kind)), LAYERS[fb](kind, layer_params(kind, 1)), x, given)


def flax_residual():
    """The catalog's resnet as an nnx.Module: stride-2 "SAME" stem, BatchNorm (Flax's momentum 1 − 0.1),
    two conv-relu-BatchNorm, the shortcut added, global mean, a Linear."""
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs("float64")

    class Residual(nnx.Module):
        def __init__(self):
            self.stem = nnx.Conv(1, 8, (3, 3), strides=2, padding="SAME", **kw)
            self.conv1, self.conv2 = (nnx.Conv(8, 8, (3, 3), padding="SAME", **kw) for _ in range(2))
            self.bn0, self.bn1, self.bn2 = (
                nnx.BatchNorm(8, momentum=0.9, epsilon=1e-5, **kw) for _ in range(3)
            )
            self.fc = nnx.Linear(8, 3, **kw)

        def __call__(self, x):
            h = self.bn0(nnx.relu(self.stem(x)))
            out = self.bn2(nnx.relu(self.conv2(self.bn1(nnx.relu(self.conv1(h))))))
            return self.fc(jnp.mean(nnx.relu(out + h), axis=(1, 2)))

    return Residual()


def residual(framework):
    """The catalog's resnet in `framework`, with its own initial weights."""
    import impl_keras

    task = tasks.get("resnet")
    made = {
        "torch": lambda: ResidualNet().double().eval(),
        "keras": lambda: impl_keras.build(task, task.init_params()),
        "flax": flax_residual,
        "canonical": lambda: (task, task.init_params()),
    }
    return made[framework]()


def trained(model, x):
    """Running statistics as training leaves them: two training-mode forwards (canonical: 20 steps)."""
    framework = framework_of(model)
    if framework == "canonical":
        import reference_numpy

        return model[0], reference_numpy.train(*model, 20)[0]
    for _ in range(2):
        if framework == "torch":
            with torch.no_grad():
                model.train()(torch.from_numpy(x).permute(0, 3, 1, 2))
        elif framework == "keras":
            model(x, training=True)
        else:
            model.train()
            model(jax_array(x))
    if framework != "keras":
        model.eval()
    return model


@pytest.mark.parametrize("fa,fb", PAIRS)
def test_a_residual_block_with_trained_batchnorm_statistics_in_every_direction(fa, fb):
    x, _ = tasks.get("resnet").data()
    src, dst = trained(residual(fa), x), scramble(residual(fb))
    mapping = transferred(src, dst, x, given=x if unstated(fa, fb) else None)
    assert sum("moving_mean" in how for _, _, how in mapping) == 3, str(mapping)


# ---- stacked and bidirectional recurrent layers; embeddings and attention; tied weights ----


def stacked(framework, seed=0):
    """Two bidirectional LSTM layers over (N, 5, 3) returning sequences, a Dense per step: torch's one
    nn.LSTM(num_layers=2), Keras's two Bidirectional(LSTM), Flax's two nnx.Bidirectional(nnx.RNN)."""
    if framework == "torch":
        torch.manual_seed(seed)
        lstm, head = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True), nn.Linear(8, 2)
        return ManyToMany(lstm, head).double().eval()
    if framework == "keras":
        keras.utils.set_random_seed(seed)
        both = [L.Bidirectional(L.LSTM(4, return_sequences=True, dtype="float64")) for _ in range(2)]
        return keras.Sequential([keras.Input((5, 3), dtype="float64"), *both, L.Dense(2, dtype="float64")])
    from flax import nnx

    kw = nnx_kwargs("float64")
    rnn = lambda n_in: nnx.Bidirectional(*(nnx.RNN(nnx.LSTMCell(n_in, 4, **kw)) for _ in range(2)))  # noqa: E731
    return nnx.Sequential(rnn(3), rnn(8), nnx.Linear(8, 2, **kw))


class ManyToMany(nn.Module):
    def __init__(self, rnn, head):
        super().__init__()
        self.rnn, self.head = rnn, head

    def forward(self, x):
        return self.head(self.rnn(x)[0])


@pytest.mark.parametrize("fa,fb", CYCLE)  # each framework once as src and once as dst
def test_stacked_bidirectional_lstms_one_anchor_per_layer(fa, fb):
    x = np.random.default_rng(0).normal(size=(4, 5, 3))
    mapping = transferred(stacked(fa), scramble(stacked(fb, seed=1)), x, given=x)
    assert len(mapping) == 3 and all("_r" in how for _, _, how in list(mapping)[:2]), str(mapping)


MINIGPT = {
    "flax": lambda model: model,
    "torch": lambda model: minigpt_torch_port(model, "float64", None),
    "keras": lambda model: minigpt_keras_port(model, "float64", None),
}


@pytest.mark.parametrize("fa,fb", CYCLE)  # each framework once as src and once as dst
def test_token_and_position_embeddings_and_attention_minigpt(fa, fb):
    """The JAX AI stack's miniGPT (nnx.MultiHeadAttention), its torch port (nn.MultiheadAttention's
    packed in_proj_weight) and its Keras port (MultiHeadAttention's kernels (E, h, d))."""
    src, dst = MINIGPT[fa](minigpt_flax("float64")), scramble(MINIGPT[fb](minigpt_flax("float64")))
    mapping = transferred(src, dst, next_tokens("float64")[0])
    assert sum("Wq" in how for _, _, how in mapping) == 2, str(mapping)


@pytest.mark.parametrize("tied_side", ["torch", "flax"])
def test_nanogpt_tied_table_stays_tied_written_once(tied_side):
    """torch's lm_head.weight is wte.weight, Flax's output layer wte.attend: one array, two layers."""
    net = gpt_torch("float64", tied=True)
    port = gpt_flax_port(net, "float64", None)
    src, dst = (port, scramble(net)) if tied_side == "torch" else (net, scramble(port))
    mapping = transferred(src, dst, next_tokens("float64")[0])
    assert sum("written once" in how for _, _, how in mapping) == 1, str(mapping)
    assert tied_side == "flax" or net.lm_head.weight is net.wte.weight


def keras_lm(same_table):
    """TiedLM's Keras port, untied: an Embedding and a Dense(7, no bias), the Dense's kernel the table's
    transpose (`same_table`) or its own."""
    port = keras.Sequential(
        [
            keras.Input((), dtype="int32"),
            L.Embedding(7, 4, dtype="float64", name="table"),
            L.Dense(4, activation="relu", dtype="float64"),
            L.Dense(7, use_bias=False, dtype="float64", name="out"),
        ]
    )
    if same_table:
        port.layers[-1].kernel.assign(np.asarray(port.layers[0].embeddings).T)
    return port


def test_a_keras_port_untied_into_a_tied_torch_model_keeps_the_tie_or_is_refused():
    torch.manual_seed(0)
    x = np.random.default_rng(0).integers(0, 7, 16)
    model = TiedLM().double().eval()
    message = refused(
        keras_lm(False), model, "one array (lm_head.weight is wte.weight)", "src's table and out"
    )
    assert "different values" in message
    transferred(keras_lm(True), model, x)
    assert model.lm_head.weight is model.wte.weight


def keras_twice(shared, seed=0):
    """test_check_graphs' Twice (one Linear applied twice, tanh) in Keras: one Dense called twice
    (`shared`), or two Dense layers with weights of their own."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,), dtype="float64")
    first = L.Dense(4, activation="tanh", name="first", dtype="float64")
    second = first if shared else L.Dense(4, activation="tanh", name="second", dtype="float64")
    return keras.Model(inputs, L.Dense(2, dtype="float64")(second(first(inputs))))


def test_a_layer_run_twice_keras_torch_is_written_once_and_two_different_layers_into_it_refused():
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 4))
    mapping = transferred(Twice().double(), keras_twice(shared=True), x)
    assert "(tied, first/kernel serves a layer run twice: written once)" in str(mapping), str(mapping)
    refused(keras_twice(shared=False), Twice().double(), "one array (fc.weight serves a layer run twice)")


ENTRIES = {entry.name: entry for entry in ZOO + ZOO_MORE}
ZOO_PORTS = {  # every port of the zoo: (the entry's name, build)
    **{f"{entry.name}-first-port": (entry.name, entry.build) for entry in ZOO + ZOO_MORE},
    **{f"{port.model}-to-{port.framework}": (port.model, port.build) for port in PORTS_MORE},
}


@pytest.mark.parametrize("name", ZOO_PORTS)
def test_zoo_round_trips(name):
    """The original into its scrambled port: check ok, no hint; the port back into a scrambled original:
    every array bit-identical to the original's. Both ordered pairs of the two frameworks."""
    model, make = ZOO_PORTS[name]
    x, _ = ENTRIES[model].data("float64")
    original, port = make("float64")
    transferred(original, scramble(port), x, given=x)
    back = scramble(make("float64")[0])
    rosetta.transfer(port, back, x)
    for a, b in zip(carried(original), carried(back), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def carried(model):
    """arrays(model), but a torch LSTM's two biases as their sum: the function has one bias, b = bias_ih +
    bias_hh, and a transfer into torch writes it to bias_ih, bias_hh = 0."""
    if framework_of(model) != "torch":
        return arrays(model)
    lstms = tuple(f"{name}." for name, m in model.named_modules() if isinstance(m, nn.LSTM))
    state = {k: t.detach().numpy() for k, t in model.state_dict().items()}
    sums = {
        k: v + state[k.replace("bias_ih", "bias_hh")]
        for k, v in state.items()
        if k.startswith(lstms) and "bias_ih" in k
    }
    return [sums.get(k, v) for k, v in state.items() if not (k.startswith(lstms) and "bias_hh" in k)]


def test_float64_weights_into_a_float32_keras_port_are_cast_and_said():
    x, _ = data()
    dst = BUILD["keras"](other_weights(weights("float32")))
    mapping = transferred(build("torch"), dst, x, hints=["dtype"])
    assert mapping.notes == ["src holds float64, dst float32: the values are cast to dst's"]


# ---- each writer inverts its reader: canonical -> native -> canonical is the identity, kind by kind ----


def random_like(layer, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=np.shape(v)).astype(np.asarray(v).dtype) for k, v in layer.items()}


def same(la, lb):
    return la.keys() == lb.keys() and all(np.array_equal(la[k], lb[k]) for k in la)


TORCH_KINDS = {
    "linear": lambda: (nn.Linear(4, 3), {}),
    "linear-after-an-nchw-flatten": lambda: (nn.Linear(12, 3), {"chw": (3, 2, 2)}),
    "conv1d": lambda: (nn.Conv1d(2, 3, 3), {}),
    "conv2d": lambda: (nn.Conv2d(2, 3, 3), {}),
    "conv-transpose": lambda: (nn.ConvTranspose2d(2, 3, 2, stride=2), {}),
    "lstm-stacked-bidirectional": lambda: (
        nn.LSTM(3, 4, 2, batch_first=True, bidirectional=True),
        {"stage": 1},
    ),
    "gru-bidirectional": lambda: (nn.GRU(3, 4, batch_first=True, bidirectional=True), {}),
    "batchnorm": lambda: (nn.BatchNorm2d(3), {}),
    "layernorm": lambda: (nn.LayerNorm(4), {}),
    "rmsnorm": lambda: (nn.RMSNorm(4), {}),
    "embedding": lambda: (nn.Embedding(5, 4), {}),
    "attention-packed": lambda: (nn.MultiheadAttention(4, 2, batch_first=True), {}),
    "attention-kdim-vdim": lambda: (nn.MultiheadAttention(4, 2, batch_first=True, kdim=3, vdim=5), {}),
}


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_torch_writes_invert_its_reads(kind):
    from rosetta.portcheck.adapters import torch as adapter

    m, kw = TORCH_KINDS[kind]()
    m = m.double()
    want = random_like({k: v for k, v in adapter.canonical(m, **kw).items() if k != "b_hh" and k != "b_hh_r"})
    for t, _, value, _ in adapter.native(m, want, **kw):
        adapter.TorchModel.assign(t, value)
    got = adapter.canonical(m, **kw)
    assert same({k: got[k] for k in want}, want) and not np.any(got.get("b_hh", 0))


KERAS_KINDS = {  # a layer, and the input that builds it
    "dense": lambda: (L.Dense(3, dtype="float64"), (4,)),
    "conv2d": lambda: (L.Conv2D(3, 3, dtype="float64"), (5, 5, 2)),
    "conv1d": lambda: (L.Conv1D(3, 3, dtype="float64"), (6, 2)),
    "conv-transpose": lambda: (L.Conv2DTranspose(3, 2, strides=2, dtype="float64"), (3, 3, 2)),
    "lstm": lambda: (L.LSTM(4, dtype="float64"), (5, 3)),
    "gru": lambda: (L.GRU(4, dtype="float64"), (5, 3)),
    "bidirectional": lambda: (L.Bidirectional(L.LSTM(4, dtype="float64"), dtype="float64"), (5, 3)),
    "batchnorm": lambda: (L.BatchNormalization(dtype="float64"), (4,)),
    "layernorm": lambda: (L.LayerNormalization(dtype="float64"), (4,)),
    "rmsnorm": lambda: (L.RMSNormalization(dtype="float64"), (4,)),
    "embedding": lambda: (L.Embedding(5, 4, dtype="float64"), (3,)),
    "attention": lambda: (L.MultiHeadAttention(2, 3, dtype="float64"), (5, 4)),
}


@pytest.mark.parametrize("kind", KERAS_KINDS)
def test_keras_writes_invert_its_reads(kind):
    from rosetta.portcheck.adapters import keras as adapter

    layer, shape = KERAS_KINDS[kind]()
    x = np.zeros((1, *shape), "int32" if kind == "embedding" else "float64")
    layer(x, x) if kind == "attention" else layer(x)
    want = random_like(adapter.canonical(layer, layer.weights))
    for variable, _, value, _ in adapter.native(layer, want):
        adapter.KerasModel.assign(variable, value)
    assert same(adapter.canonical(layer, layer.weights), want)


def flax_kinds(kind):
    """A Flax layer of `kind`, and the `use` its anchor reads it with."""
    from flax import nnx

    kw = nnx_kwargs("float64")
    lstm = lambda: nnx.RNN(nnx.LSTMCell(3, 4, **kw))  # noqa: E731
    made = {
        "linear": lambda: nnx.Linear(4, 3, **kw),
        "conv2d": lambda: nnx.Conv(2, 3, (3, 3), **kw),
        "conv1d": lambda: nnx.Conv(2, 3, (3,), **kw),
        "conv-transpose": lambda: nnx.ConvTranspose(2, 3, (2, 2), **kw),
        "conv-transpose-transpose-kernel": lambda: nnx.ConvTranspose(
            2, 3, (2, 2), transpose_kernel=True, **kw
        ),
        "lstm": lstm,
        "gru": lambda: nnx.RNN(nnx.GRUCell(3, 4, **kw)),
        "bidirectional": lambda: nnx.Bidirectional(lstm(), lstm()),
        "batchnorm": lambda: nnx.BatchNorm(4, **kw),
        "layernorm": lambda: nnx.LayerNorm(4, **kw),
        "rmsnorm": lambda: nnx.RMSNorm(4, **kw),
        "embedding": lambda: nnx.Embed(5, 4, **kw),
        "embedding-attend": lambda: nnx.Embed(5, 4, **kw),
        "attention": lambda: nnx.MultiHeadAttention(2, 4, qkv_features=6, decode=False, **kw),
    }
    return made[kind](), "attend" if kind == "embedding-attend" else ""


FLAX_KINDS = (
    "linear conv2d conv1d conv-transpose conv-transpose-transpose-kernel lstm gru bidirectional batchnorm "
    "layernorm rmsnorm embedding embedding-attend attention"
).split()


@pytest.mark.parametrize("kind", FLAX_KINDS)
def test_flax_writes_invert_its_reads(kind):
    from rosetta.portcheck.adapters import flax as adapter

    layer, use = flax_kinds(kind)
    want = random_like(adapter.canonical(layer, use=use))
    if kind == "gru":
        want["b"][1] = 0  # an nnx.GRUCell holds no recurrent bias
    for variable, _, value, _ in adapter.native(layer, want, use):
        adapter.FlaxModel.assign(variable, value)
    assert same(adapter.canonical(layer, use=use), want)


@pytest.mark.parametrize("name", ["resnet", "bilstm", "deconv", "sine-prelu", "cnn", "gru"])
def test_canonical_writes_invert_its_reads(name):
    from rosetta.portcheck.adapters.canonical import CanonicalModel

    task = tasks.get(name)
    params = task.init_params()
    model = CanonicalModel((task, params))
    want = [random_like(layer) for layer in model.weights()]
    for k, layer in enumerate(want):
        for w in model.writes(k, layer):
            model.assign(w.target, w.value)
    assert all(same(a, b) for a, b in zip(CanonicalModel((task, params)).weights(), want, strict=True))


# ---- refusals: one line naming the layer and what was expected, dst untouched ----


def keras_mlp(sizes, names=None, bias=True):
    names = names or [None] * (len(sizes) - 1)
    denses = [L.Dense(n, use_bias=bias, name=name, dtype="float64") for n, name in zip(sizes[1:], names)]
    return keras.Sequential([keras.Input((sizes[0],), dtype="float64"), *denses])


def test_a_layer_without_a_counterpart_keras_torch_is_refused():
    extra = keras_mlp((5, 7, 7, 7, 3), ["d0", "d1", "d2", "d3"])
    refused(build("torch"), extra, "dst's d2 (Dense(7→7)) has no counterpart in src", "src has 3", "dst 4")
    refused(extra, build("torch"), "src's d2 (Dense(7→7)) has no counterpart in dst")


class Branches(nn.Module):
    """Two Linear(4→4) side by side on x, concatenated, then a head: neither reads the other's output."""

    def __init__(self):
        super().__init__()
        self.left, self.right, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(8, 2)

    def forward(self, x):
        return self.head(torch.cat([self.left(x), self.right(x)], dim=1))


def test_two_alike_layers_on_parallel_branches_torch_keras_are_ambiguous():
    inputs = keras.Input((4,), dtype="float64")
    a, b = (L.Dense(4, name=name, dtype="float64")(inputs) for name in ("a", "b"))
    port = keras.Model(inputs, L.Dense(2, dtype="float64")(L.Concatenate()([a, b])))
    refused(Branches().double(), port, "ambiguous: src's left and right (Linear(4→4))", "dst's a, b")


def test_a_shape_no_layout_rule_explains_keras_torch_is_refused():
    keras.utils.set_random_seed(0)
    conv = L.Conv2D(4, 3, padding="same", name="conv", dtype="float64")
    src = keras.Sequential([keras.Input((6, 6, 1), dtype="float64"), conv, L.Flatten(), L.Dense(2)])
    dst = nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.Flatten(), nn.Linear(144, 2)).double()
    refused(
        src, dst, "src's conv (Conv2D(1→4, k=3", "dst's 0 (Conv2d(1→4, k=5", "W (3, 3, 1, 4) vs (5, 5, 1, 4)"
    )


def test_a_bias_on_one_side_torch_keras_and_a_gru_bias_flax_cannot_hold_are_refused():
    refused(nn.Linear(5, 3, bias=False).double(), keras_mlp((5, 3)), "'b' on dst's side only")
    gru = LAYERS["keras"]("gru", layer_weights("gru")[1])  # b[1] nonzero
    refused(gru, flax_layers("gru", layer_weights("gru")[1]), "Flax's nnx.GRUCell has no recurrent bias")


def test_no_input_shape_on_either_side_torch_flax_asks_for_x():
    cnn = layer_params("cnn")
    refused(LAYERS["torch"]("cnn", cnn), flax_layers("cnn", cnn), "give x", "height and width")


def test_a_failed_write_into_canonical_weights_is_undone():
    params = other_weights(weights())
    before = [layer["W"].copy() for layer in params]
    params[2]["W"].setflags(write=False)
    dst = BUILD["canonical"](params)
    refused(build("torch"), dst, "dst left as it was: writing layers.2.W failed")
    assert all(np.array_equal(layer["W"], w) for layer, w in zip(params, before))


# ---- the command line: DST's own format, written whole or not at all ----


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The softmax MLP trained (.keras), and ports holding other weights: a torch state_dict, Flax msgpack,
    canonical .npz; x.npy."""
    from flax import nnx, serialization

    from foundation import params

    d = tmp_path_factory.mktemp("transfer")
    np.save(d / "x.npy", data()[0])
    build("keras").save(d / "model.keras")
    other = other_weights(weights())
    BUILD["keras"](other).save(d / "port.keras")
    torch.save(BUILD["torch"](other).state_dict(), d / "port.pt")
    pure = nnx.to_pure_dict(nnx.state(BUILD["flax"](other)))
    (d / "port.msgpack").write_bytes(serialization.msgpack_serialize(pure))
    params.save(d / "port.npz", other)
    return d


def test_rosetta_transfer_writes_each_framework_s_own_file_and_check_agrees(files, capsys):
    check = ["check", files / "model.keras", "--spec-b", SPEC, "--input", files / "x.npy"]
    assert rosetta_cli(*check[:2], files / "port.pt", *check[2:], capsys=capsys)[0] == 1  # not yet
    proc = subprocess.run(
        [sys.executable, "-m", "rosetta", "transfer", files / "model.keras", files / "port.pt"]
        + ["--spec-b", SPEC, "--out", files / "out.pt"],
        capture_output=True,
        text=True,
    )
    head = f"keras-{keras.backend.backend()} → torch: 3 layers"
    assert proc.returncode == 0 and head in proc.stdout, proc.stderr
    for port in ("port.npz", "port.msgpack", "port.keras"):  # from the torch file: canonical, Flax, Keras
        out = port.replace("port", "out")
        argv = ["transfer", files / "out.pt", files / port, "--spec-a", SPEC, "--spec-b", SPEC, "--json"]
        code, stdout, err = rosetta_cli(*argv, "--out", files / out, capsys=capsys)
        assert code == 0 and [row["src"] for row in json.loads(stdout)["rows"]] == ["0", "2", "4"], err
    for out in ("out.pt", "out.npz", "out.msgpack", "out.keras"):
        code, stdout, err = rosetta_cli(*check[:2], files / out, *check[2:], capsys=capsys)
        assert code == 0, f"{out}: {stdout}{err}"


def test_rosetta_transfer_refusals_exit_2_in_one_line_and_leave_out_as_it_was(files, capsys):
    (files / "kept.pt").write_bytes(b"what was there")
    narrower = json.dumps({"sizes": [5, 7, 3], "activations": ["relu", "linear"]})
    torch.save(
        nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double().state_dict(), files / "n.pt"
    )
    cases = [
        (["model.keras", "n.pt", "--spec-b", narrower, "--out", "kept.pt"], "has no counterpart"),
        (["model.keras", "port.pt", "--spec-b", SPEC, "--out", "out.keras"], "expected a .pt or .pth file"),
    ]
    for argv, expected in cases:
        argv = [files / a if a.endswith((".keras", ".pt")) else a for a in argv]
        code, out, err = rosetta_cli("transfer", *argv, capsys=capsys)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and expected in err, err
    assert (files / "kept.pt").read_bytes() == b"what was there"
    assert not any(path.name.startswith("tmp") for path in files.iterdir())  # no temporary file left
