"""LSTM and GRU in PyTorch: nn.LSTM / nn.GRU (batch_first), many-to-one or bidirectional, canonical
weights in and out.

Canonical (foundation.layouts): x (N, T, in); W (in, G·u), U (u, G·u); LSTM gate blocks i, f, g, o and
one bias b (4u,); GRU blocks z, r, h and two biases b (2, 3u), Keras's reset_after=True form.
torch keeps weight_ih (G·u, in) and weight_hh (G·u, u) with the same blocks as rows: W = weight_ih.T,
U = weight_hh.T. lstm / gru / bidirectional build the module (load_lstm / load_gru copy each direction
in), read_lstm / read_gru read a direction back (recurrent_params, bidirectional_params): the only
places that convert.

LSTM  torch's blocks are i, f, g, o as canonical, but it adds two biases, bias_ih + bias_hh. The
      canonical b goes into bias_ih and bias_hh is frozen at zero: both get the same gradient, so a
      trainable second copy would move the sum twice as far each step.
GRU   torch's blocks are r, z, n (n = ĥ), reordered with foundation.layouts.TORCH_GRU_BLOCKS; torch's
      n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) is reset_after=True, and h' = (1 − z) ⊙ n + z ⊙ h
      is canonical's update: bias_ih = b[0], bias_hh = b[1], both reordered.
Bidirectional  one nn.LSTM / nn.GRU with bidirectional=True: the backward layer ("W_r", "U_r",
      "b_r") is torch's *_l0_reverse weights. torch's output (N, T, 2u) is [forward, backward]
      with both halves in time order already (the backward state at t has read x_T … x_t): the
      backward direction's final state is at t = 0, output[:, 0, u:], not output[:, -1, u:].
"""

import torch
from torch import nn

from foundation.layouts import TORCH_GRU_BLOCKS
from foundation.tasks import GRU, LSTM


class LastStep(nn.Module):
    """Many-to-one: an nn.LSTM / nn.GRU (batch_first) and its last hidden state h_T (N, u)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, _ = self.rnn(x)  # (N, T, u): every step's h_t; zero initial states
        return out[:, -1]


class BothWays(nn.Module):
    """A bidirectional nn.LSTM / nn.GRU (batch_first): every step's [forward, backward] states (N, T, 2u),
    or the two final states (N, 2u)."""

    def __init__(self, rnn, return_sequences):
        super().__init__()
        self.rnn, self.return_sequences = rnn, return_sequences

    def forward(self, x):
        out, _ = self.rnn(x)  # (N, T, 2u), both directions in time order; zero initial states
        if self.return_sequences:
            return out
        u = self.rnn.hidden_size
        return torch.cat([out[:, -1, :u], out[:, 0, u:]], dim=1)  # forward's h_T, backward's h after x_1


DIRECTIONS = {"": "l0", "_r": "l0_reverse"}  # canonical key suffix -> torch's parameter suffix


def tensors(rnn, direction="l0"):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of one direction of an nn.LSTM / nn.GRU."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return tuple(getattr(rnn, f"{name}_{direction}") for name in names)


def weights(layer, n_in, units, blocks):
    """Tensors W (in, G·u), U (u, G·u), b of a canonical recurrent layer, G = blocks, with shape asserts."""
    W, U, b = (torch.tensor(layer[key]) for key in ("W", "U", "b"))
    width = blocks * units
    assert W.shape == (n_in, width), f"W is {tuple(W.shape)}, expected {(n_in, width)}"
    assert U.shape == (units, width), f"U is {tuple(U.shape)}, expected {(units, width)}"
    return W, U, b


def numpy(tensor):
    return tensor.detach().contiguous().numpy().copy()


def empty_rnn(kind, layer, n_in, units, bidirectional=False):
    """An empty nn.LSTM / nn.GRU (batch_first) in the dtype of the layer's weights."""
    dtype = torch.as_tensor(layer["W"]).dtype  # torch's default is float32: the weights' dtype decides
    return kind(n_in, units, batch_first=True, bidirectional=bidirectional, dtype=dtype)


# ---- LSTM ----


def lstm(spec, layer, n_in):
    """LastStep(nn.LSTM) holding a copy of {"W": (in, 4u), "U": (u, 4u), "b": (4u,)}."""
    rnn = empty_rnn(nn.LSTM, layer, n_in, spec.units)
    load_lstm(rnn, layer)
    return LastStep(rnn)


def load_lstm(rnn, layer, direction="l0"):
    """Copy {"W", "U", "b"} into one direction of `rnn`; its bias_hh stays zero and frozen."""
    W, U, b = weights(layer, rnn.input_size, rnn.hidden_size, 4)
    assert b.shape == (4 * rnn.hidden_size,), f"b is {tuple(b.shape)}, expected {(4 * rnn.hidden_size,)}"
    weight_ih, weight_hh, bias_ih, bias_hh = tensors(rnn, direction)
    with torch.no_grad():
        weight_ih.copy_(W.T)  # (in, 4u) -> (4u, in), blocks i, f, g, o in both
        weight_hh.copy_(U.T)  # (u, 4u) -> (4u, u)
        bias_ih.copy_(b)
        bias_hh.zero_()
    bias_hh.requires_grad_(False)  # one bias: b = bias_ih + bias_hh, only bias_ih trains


def read_lstm(rnn, grads=False, direction="l0"):
    """The canonical {"W", "U", "b"} of one direction of an nn.LSTM (grads=True: their gradients;
    d/db = d/dbias_ih)."""
    weight_ih, weight_hh, bias_ih, bias_hh = tensors(rnn, direction)
    if grads:
        W, U, b = weight_ih.grad, weight_hh.grad, bias_ih.grad
    else:
        W, U, b = weight_ih, weight_hh, bias_ih + bias_hh
    u = rnn.hidden_size
    W, U = W.T, U.T  # (4u, in) -> (in, 4u), (4u, u) -> (u, 4u)
    assert W.shape == (rnn.input_size, 4 * u) and U.shape == (u, 4 * u), (W.shape, U.shape)
    return {"W": numpy(W), "U": numpy(U), "b": numpy(b)}


# ---- GRU (reset_after=True) ----


def reorder(a, dim):
    """Gate blocks along `dim` between canonical z, r, h and torch's r, z, n (the same swap both ways)."""
    blocks = a.chunk(3, dim)
    return torch.cat([blocks[k] for k in TORCH_GRU_BLOCKS], dim)


def gru(spec, layer, n_in):
    """LastStep(nn.GRU) holding a copy of {"W": (in, 3u), "U": (u, 3u), "b": (2, 3u)}."""
    rnn = empty_rnn(nn.GRU, layer, n_in, spec.units)
    load_gru(rnn, layer)
    return LastStep(rnn)


def load_gru(rnn, layer, direction="l0"):
    """Copy {"W", "U", "b"} into one direction of `rnn`, the gate blocks reordered."""
    W, U, b = weights(layer, rnn.input_size, rnn.hidden_size, 3)
    assert b.shape == (2, 3 * rnn.hidden_size), f"b is {tuple(b.shape)}, expected {(2, 3 * rnn.hidden_size)}"
    weight_ih, weight_hh, bias_ih, bias_hh = tensors(rnn, direction)
    with torch.no_grad():
        weight_ih.copy_(reorder(W, 1).T)  # (in, 3u) z, r, h -> (3u, in) r, z, n
        weight_hh.copy_(reorder(U, 1).T)  # (u, 3u) -> (3u, u)
        bias_ih.copy_(reorder(b[0], 0))  # the input bias b[0]
        bias_hh.copy_(reorder(b[1], 0))  # the recurrent bias b[1], inside r ⊙ (...) for n


def read_gru(rnn, grads=False, direction="l0"):
    """The canonical {"W", "U", "b"} of one direction of an nn.GRU (grads=True: their gradients)."""
    W, U, b_ih, b_hh = (t.grad for t in tensors(rnn, direction)) if grads else tensors(rnn, direction)
    u = rnn.hidden_size
    W, U = reorder(W.T, 1), reorder(U.T, 1)  # (3u, in) r, z, n -> (in, 3u) z, r, h
    assert W.shape == (rnn.input_size, 3 * u) and U.shape == (u, 3 * u), (W.shape, U.shape)
    b = torch.stack([reorder(b_ih, 0), reorder(b_hh, 0)])  # (2, 3u)
    return {"W": numpy(W), "U": numpy(U), "b": numpy(b)}


def recurrent_params(module, grads=False, direction="l0"):
    """The canonical {"W", "U", "b"} of a LastStep, or of one direction of a BothWays (grads=True:
    their gradients)."""
    read = read_lstm if isinstance(module.rnn, nn.LSTM) else read_gru
    return read(module.rnn, grads, direction)


# ---- both directions ----

CELLS = {LSTM: (nn.LSTM, load_lstm, read_lstm), GRU: (nn.GRU, load_gru, read_gru)}


def bidirectional(spec, layer, n_in):
    """BothWays(nn.LSTM / nn.GRU, bidirectional=True) holding a copy of the forward layer's {"W", "U",
    "b"} and the backward one's {"W_r", "U_r", "b_r"}."""
    kind, load, _ = CELLS[type(spec.layer)]
    rnn = empty_rnn(kind, layer, n_in, spec.layer.units, bidirectional=True)
    for suffix, direction in DIRECTIONS.items():
        load(rnn, {key: layer[key + suffix] for key in ("W", "U", "b")}, direction)
    return BothWays(rnn, spec.return_sequences)


def bidirectional_params(module, grads=False):
    """The canonical weights of a BothWays (grads=True: their gradients): the forward layer's
    {"W", "U", "b"} and the backward layer's as "W_r", "U_r", "b_r"."""
    return {key + suffix: value for suffix, direction in DIRECTIONS.items()
            for key, value in recurrent_params(module, grads, direction).items()}  # fmt: skip
