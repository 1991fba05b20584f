"""rosetta.check on recurrent layers that return sequences and read both ways: Keras's
Bidirectional(LSTM(return_sequences=True)) against Flax's nnx.Bidirectional(nnx.RNN(nnx.LSTMCell)),
and torch's nn.GRU(bidirectional=True) against Keras's Bidirectional(GRU). The correct ports are ok
with a loss and 3 steps; directions swapped are named bidirectional-order."""

import numpy as np
import pytest

import rosetta
from parity_tests.zoo import nnx_kwargs

keras = pytest.importorskip("keras")
L = keras.layers
VOCAB, EMBED, UNITS, T = 12, 4, 3, 5


def tokens(dtype):
    rng = np.random.default_rng(0)
    return rng.integers(0, VOCAB, size=(8, T)), rng.normal(size=(8, 2)).astype(dtype)


def keras_bilstm(dtype, cell=L.LSTM):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((T,), dtype="int32")
    x = L.Embedding(VOCAB, EMBED, dtype=dtype)(inputs)
    x = L.Bidirectional(cell(UNITS, return_sequences=True, dtype=dtype), dtype=dtype)(x)
    return keras.Model(inputs, L.Dense(2, dtype=dtype)(L.GlobalAveragePooling1D(dtype=dtype)(x)))


def flax_port(model, dtype, bug):
    """nnx.LSTMCell holds one Linear per gate (ii, if_, ig, io on x; hi, hf, hg, ho on h, with the
    bias): Keras's kernel blocks i, f, g, o split into them. `bug="bidirectional-order"` gives the
    forward RNN the backward layer's weights and back."""
    jax = pytest.importorskip("jax")
    nnx = pytest.importorskip("flax.nnx")
    kw = nnx_kwargs(dtype)

    class Port(nnx.Module):
        def __init__(self):
            self.embed = nnx.Embed(VOCAB, EMBED, **kw)
            cells = [nnx.LSTMCell(EMBED, UNITS, **kw) for _ in range(2)]
            self.rnn = nnx.Bidirectional(nnx.RNN(cells[0]), nnx.RNN(cells[1]))
            self.out = nnx.Linear(2 * UNITS, 2, **kw)

        def __call__(self, tokens):
            return self.out(self.rnn(self.embed(tokens)).mean(axis=1))

    port, weights = Port(), [np.asarray(w) for w in model.get_weights()]
    port.embed.embedding.value = jax.numpy.asarray(weights[0])
    directions = [weights[1:4], weights[4:7]]
    if bug == "bidirectional-order":
        directions.reverse()
    for rnn, (kernel, recurrent, bias) in zip((port.rnn.forward_rnn, port.rnn.backward_rnn), directions):
        for k, gate in enumerate(("i", "f", "g", "o")):
            block = slice(k * UNITS, (k + 1) * UNITS)
            getattr(rnn.cell, "if_" if gate == "f" else f"i{gate}").kernel.value = jax.numpy.asarray(
                kernel[:, block]
            )
            h = getattr(rnn.cell, f"h{gate}")
            h.kernel.value, h.bias.value = (
                jax.numpy.asarray(recurrent[:, block]),
                jax.numpy.asarray(bias[block]),
            )
    port.out.kernel.value, port.out.bias.value = (
        jax.numpy.asarray(weights[-2]),
        jax.numpy.asarray(weights[-1]),
    )
    return port


def torch_bigru(dtype):
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, EMBED)
            self.gru = nn.GRU(EMBED, UNITS, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * UNITS, 2)

        def forward(self, tokens):
            out, _ = self.gru(self.embedding(tokens))
            return self.fc(out.mean(1))

    torch.manual_seed(0)
    return Net().to(getattr(torch, dtype)).eval()


def keras_gru_port(net, dtype, bug):
    """torch's GRU blocks r, z, n -> Keras's z, r, h (reset_after=True: bias (2, 3u)), per direction."""
    from foundation.layouts import TORCH_GRU_BLOCKS

    model = keras_bilstm(dtype, L.GRU)
    numpy = lambda p: p.detach().numpy()  # noqa: E731
    order = lambda a: np.concatenate([np.split(a, 3, axis=-1)[k] for k in TORCH_GRU_BLOCKS], axis=-1)  # noqa: E731
    g = net.gru
    directions = [
        [order(numpy(getattr(g, f"weight_ih{s}")).T), order(numpy(getattr(g, f"weight_hh{s}")).T),
         np.stack([order(numpy(getattr(g, f"bias_ih{s}"))), order(numpy(getattr(g, f"bias_hh{s}")))])]
        for s in ("_l0", "_l0_reverse")
    ]  # fmt: skip
    if bug == "bidirectional-order":
        directions.reverse()
    fc = [numpy(net.fc.weight).T, numpy(net.fc.bias)]
    model.set_weights([numpy(net.embedding.weight)] + directions[0] + directions[1] + fc)
    return model


def bidirectional_pair(pair, dtype, bug=None):
    """(original, port, optimizers): Keras's LSTM against Flax, or torch's GRU against Keras."""
    if pair == "keras-flax":
        model, optax = keras_bilstm(dtype), pytest.importorskip("optax")
        return model, flax_port(model, dtype, bug), (keras.optimizers.SGD(0.125), optax.sgd(0.125))
    import torch

    net = torch_bigru(dtype)
    return (
        net,
        keras_gru_port(net, dtype, bug),
        (lambda p: torch.optim.SGD(p, lr=0.125), keras.optimizers.SGD(0.125)),
    )


PAIRS = ["keras-flax", "torch-keras"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("pair", PAIRS)
def test_bidirectional_port_is_ok(pair, dtype):
    a, b, optimizers = bidirectional_pair(pair, dtype)
    x, y = tokens(dtype)
    report = rosetta.check(a, b, x, y, loss="mse", optimizer=optimizers, steps=3)
    assert report.ok and report.hints == [], str(report)


@pytest.mark.parametrize("pair", PAIRS)
def test_bidirectional_directions_swapped_are_named(pair):
    a, b, _ = bidirectional_pair(pair, "float64", "bidirectional-order")
    report = rosetta.check(a, b, tokens("float64")[0])
    assert (report.first.stage, report.first.block) == ("weights", 1), str(report)
    assert [h.kind for h in report.hints] == ["bidirectional-order"], str(report)


def test_torch_stacked_gru_against_two_keras_layers_is_ok():
    """nn.GRU(num_layers=2): one anchor per layer, the first layer's sequence from a one-layer copy."""
    torch = pytest.importorskip("torch")
    from foundation.layouts import TORCH_GRU_BLOCKS

    torch.manual_seed(0)
    net = torch.nn.GRU(EMBED, UNITS, num_layers=2, batch_first=True).double()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru, self.fc = net, torch.nn.Linear(UNITS, 2).double()

        def forward(self, x):
            return self.fc(self.gru(x)[0].mean(1))

    model = Net().eval()
    inputs = keras.Input((T, EMBED), dtype="float64")
    x = L.GRU(UNITS, return_sequences=True, dtype="float64")(inputs)
    x = L.GRU(UNITS, return_sequences=True, dtype="float64")(x)
    port = keras.Model(inputs, L.Dense(2, dtype="float64")(L.GlobalAveragePooling1D(dtype="float64")(x)))
    numpy = lambda p: p.detach().numpy()  # noqa: E731
    order = lambda a: np.concatenate([np.split(a, 3, axis=-1)[k] for k in TORCH_GRU_BLOCKS], axis=-1)  # noqa: E731
    weights = []
    for stage in (0, 1):
        get = lambda kind: numpy(getattr(net, f"{kind}_l{stage}"))  # noqa: B023, E731
        weights += [order(get("weight_ih").T), order(get("weight_hh").T)]
        weights.append(np.stack([order(get("bias_ih")), order(get("bias_hh"))]))
    port.set_weights(weights + [numpy(model.fc.weight).T, numpy(model.fc.bias)])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, T, EMBED)), rng.normal(size=(8, 2))
    optimizers = (lambda p: torch.optim.SGD(p, lr=0.125), keras.optimizers.SGD(0.125))
    report = rosetta.check(model, port, x, y, loss="mse", optimizer=optimizers, steps=3)
    assert report.ok and report.hints == [] and len(report.blocks) == 3, str(report)
