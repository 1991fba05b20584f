"""LSTM and GRU in Keras 3: the stock keras.layers, many-to-one (return_sequences=False: the layer's
output is the last hidden state h_T, (N, u)), from zero initial state.

Canonical layouts are Keras's (rosetta.layouts): kernel W (in, G·u), recurrent_kernel U (u, G·u), gate
blocks i, f, g, o (LSTM) and z, r, h (GRU); LSTM bias (4u,), GRU bias (2, 3u) with reset_after=True
(row 0 input, row 1 recurrent). set_weights takes [W, U, b] as they are.
The function is Keras's default one: recurrent_activation="sigmoid" (Keras 2.x's "hard_sigmoid" is
gone) and activation="tanh". On a CPU no backend takes a cuDNN path (TensorFlow and jax raise
NotImplementedError and run the layer's cell in a while_loop / lax.scan; torch runs its own loop over
the same cell formula); unroll=False.
"""

import keras
import numpy as np
from keras import ops

ZEROS = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}  # set_weights replaces them


def lstm(spec):
    """keras.layers.LSTM(u): i, f, o = σ(·), g = tanh(·), c_t = f·c + i·g, h_t = o·tanh(c_t)."""
    return keras.layers.LSTM(spec.units, activation="tanh", recurrent_activation="sigmoid", **ZEROS)


def gru(spec):
    """keras.layers.GRU(u), reset_after=True: ĥ = tanh(x W_h + b0_h + r ⊙ (h U_h + b1_h))."""
    return keras.layers.GRU(
        spec.units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **ZEROS
    )


def recurrent_params(layer, arrays):
    """The canonical {"W", "U", "b"} of an LSTM or GRU from the next three of `arrays`."""
    W, U, b = (np.array(ops.convert_to_numpy(next(arrays))) for _ in range(3))
    u, n_in = layer.cell.units, layer.cell.kernel.shape[0]
    width = (4 if isinstance(layer, keras.layers.LSTM) else 3) * u  # G·u
    bias = (width,) if isinstance(layer, keras.layers.LSTM) else (2, width)  # GRU: input, recurrent rows
    shapes = (W.shape, U.shape, b.shape)
    assert shapes == ((n_in, width), (u, width), bias), f"{layer.name}: W, U, b are {shapes}"
    return {"W": W, "U": U, "b": b}
