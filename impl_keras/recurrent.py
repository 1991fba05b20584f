"""LSTM, GRU and Bidirectional in Keras 3: the stock keras.layers, from zero initial state. An LSTM or
GRU node is many-to-one (return_sequences=False: the layer's output is the last hidden state h_T,
(N, u)); a Bidirectional node wraps one in keras.layers.Bidirectional, merge_mode="concat".

Canonical layouts are Keras's (foundation.layouts): kernel W (in, G·u), recurrent_kernel U (u, G·u), gate
blocks i, f, g, o (LSTM) and z, r, h (GRU); LSTM bias (4u,), GRU bias (2, 3u) with reset_after=True
(row 0 input, row 1 recurrent). They load as they are. Bidirectional's forward_layer holds W, U, b and
its backward_layer (go_backwards=True) W_r, U_r, b_r.
The function is Keras's default one: recurrent_activation="sigmoid" (Keras 2.x's "hard_sigmoid" is
gone) and activation="tanh". On a CPU no backend takes a cuDNN path (TensorFlow and jax raise
NotImplementedError and run the layer's cell in a while_loop / lax.scan; torch runs its own loop over
the same cell formula); unroll=False. Bidirectional's fused two-direction cuDNN call raises
NotImplementedError on a CPU on every backend too, and it calls its two layers.
"""

import keras

from foundation.tasks import LSTM

ZEROS = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}  # the task's weights replace them


def lstm(spec, name=None, return_sequences=False):
    """keras.layers.LSTM(u): i, f, o = σ(·), g = tanh(·), c_t = f·c + i·g, h_t = o·tanh(c_t)."""
    return keras.layers.LSTM(spec.units, activation="tanh", recurrent_activation="sigmoid",
                             return_sequences=return_sequences, name=name, **ZEROS)  # fmt: skip


def gru(spec, name=None, return_sequences=False):
    """keras.layers.GRU(u), reset_after=True: ĥ = tanh(x W_h + b0_h + r ⊙ (h U_h + b1_h))."""
    return keras.layers.GRU(spec.units, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                            return_sequences=return_sequences, name=name, **ZEROS)  # fmt: skip


def recurrent_params(layer):
    """{"W": kernel, "U": recurrent_kernel, "b": bias} of an LSTM or GRU: the canonical keys of its
    cell's variables."""
    return {"W": layer.cell.kernel, "U": layer.cell.recurrent_kernel, "b": layer.cell.bias}


def bidirectional(spec, name):
    """keras.layers.Bidirectional(LSTM or GRU): a copy of the layer reads the sequence forward, a second
    one backward; out [forward, backward], the last states (N, 2u), or with return_sequences every
    step's (N, T, 2u), the backward states flipped back into time order."""
    one = (lstm if isinstance(spec.layer, LSTM) else gru)(spec.layer, return_sequences=spec.return_sequences)
    return keras.layers.Bidirectional(one, merge_mode="concat", name=name)


def bidirectional_params(layer):
    """The forward layer's W, U, b and the backward layer's as W_r, U_r, b_r."""
    back = recurrent_params(layer.backward_layer)
    return {**recurrent_params(layer.forward_layer), **{f"{key}_r": v for key, v in back.items()}}
