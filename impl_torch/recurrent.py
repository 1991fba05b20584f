"""LSTM and GRU in PyTorch: nn.LSTM / nn.GRU (batch_first), many-to-one, canonical weights in and out.

Canonical (rosetta.layouts): x (N, T, in); W (in, G·u), U (u, G·u); LSTM gate blocks i, f, g, o and
one bias b (4u,); GRU blocks z, r, h and two biases b (2, 3u), Keras's reset_after=True form.
torch keeps weight_ih (G·u, in) and weight_hh (G·u, u) with the same blocks as rows: W = weight_ih.T,
U = weight_hh.T. lstm / gru build the module and lstm_params / gru_params read it back: the only
places that convert.

LSTM  torch's blocks are i, f, g, o as canonical, but it adds two biases, bias_ih + bias_hh. The
      canonical b goes into bias_ih and bias_hh is frozen at zero: both get the same gradient, so a
      trainable second copy would move the sum twice as far each step.
GRU   torch's blocks are r, z, n (n = ĥ), reordered with rosetta.layouts.TORCH_GRU_BLOCKS; torch's
      n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) is reset_after=True, and h' = (1 − z) ⊙ n + z ⊙ h
      is canonical's update: bias_ih = b[0], bias_hh = b[1], both reordered.
"""

import torch
from torch import nn

from rosetta.layouts import TORCH_GRU_BLOCKS


class LastStep(nn.Module):
    """Many-to-one: an nn.LSTM / nn.GRU (batch_first) and its last hidden state h_T (N, u)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, _ = self.rnn(x)  # (N, T, u): every step's h_t; zero initial states
        return out[:, -1]


def weights(layer, n_in, units, blocks):
    """Tensors W (in, G·u), U (u, G·u), b of a canonical recurrent layer, G = blocks, with shape asserts."""
    W, U, b = (torch.tensor(layer[key]) for key in ("W", "U", "b"))
    width = blocks * units
    assert W.shape == (n_in, width), f"W is {tuple(W.shape)}, expected {(n_in, width)}"
    assert U.shape == (units, width), f"U is {tuple(U.shape)}, expected {(units, width)}"
    return W, U, b


def numpy(tensor):
    return tensor.detach().contiguous().numpy().copy()


# ---- LSTM ----


def lstm(spec, layer, n_in):
    """LastStep(nn.LSTM) holding a copy of {"W": (in, 4u), "U": (u, 4u), "b": (4u,)}."""
    W, U, b = weights(layer, n_in, spec.units, 4)
    assert b.shape == (4 * spec.units,), f"b is {tuple(b.shape)}, expected {(4 * spec.units,)}"
    rnn = nn.LSTM(n_in, spec.units, batch_first=True, dtype=W.dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W.T)  # (in, 4u) -> (4u, in), blocks i, f, g, o in both
        rnn.weight_hh_l0.copy_(U.T)  # (u, 4u) -> (4u, u)
        rnn.bias_ih_l0.copy_(b)
        rnn.bias_hh_l0.zero_()
    rnn.bias_hh_l0.requires_grad_(False)  # one bias: b = bias_ih + bias_hh, only bias_ih trains
    return LastStep(rnn)


def lstm_params(rnn, grads=False):
    """The canonical {"W", "U", "b"} of an nn.LSTM (grads=True: their gradients; d/db = d/dbias_ih)."""
    if grads:
        W, U, b = rnn.weight_ih_l0.grad, rnn.weight_hh_l0.grad, rnn.bias_ih_l0.grad
    else:
        W, U, b = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0 + rnn.bias_hh_l0
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
    W, U, b = weights(layer, n_in, spec.units, 3)
    assert b.shape == (2, 3 * spec.units), f"b is {tuple(b.shape)}, expected {(2, 3 * spec.units)}"
    rnn = nn.GRU(n_in, spec.units, batch_first=True, dtype=W.dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(reorder(W, 1).T)  # (in, 3u) z, r, h -> (3u, in) r, z, n
        rnn.weight_hh_l0.copy_(reorder(U, 1).T)  # (u, 3u) -> (3u, u)
        rnn.bias_ih_l0.copy_(reorder(b[0], 0))  # the input bias b[0]
        rnn.bias_hh_l0.copy_(reorder(b[1], 0))  # the recurrent bias b[1], inside r ⊙ (...) for n
    return LastStep(rnn)


def gru_params(rnn, grads=False):
    """The canonical {"W", "U", "b"} of an nn.GRU (grads=True: their gradients)."""
    tensors = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
    W, U, b_ih, b_hh = (t.grad for t in tensors) if grads else tensors
    u = rnn.hidden_size
    W, U = reorder(W.T, 1), reorder(U.T, 1)  # (3u, in) r, z, n -> (in, 3u) z, r, h
    assert W.shape == (rnn.input_size, 3 * u) and U.shape == (u, 3 * u), (W.shape, U.shape)
    b = torch.stack([reorder(b_ih, 0), reorder(b_hh, 0)])  # (2, 3u)
    return {"W": numpy(W), "U": numpy(U), "b": numpy(b)}
