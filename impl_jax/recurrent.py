"""LSTM and GRU in JAX: one lax.scan over time, the backward pass (through time) by jax.grad.

Layouts are canonical (foundation.layouts): x (N, T, in), hidden states (N, T, u), zero initial state.
Every array follows the dtype of W (float64 or float32).

LSTM  {"W": (in, 4u), "U": (u, 4u), "b": (4u,)}, gate blocks i, f, g, o
      a = x_t W + h_{t−1} U + b;  i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g)
      c_t = f ⊙ c_{t−1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
GRU   {"W": (in, 3u), "U": (u, 3u), "b": (2, 3u)}, gate blocks z, r, h, Keras's reset_after=True form
      p = x_t W + b[0], q = h_{t−1} U + b[1]
      z = σ(p_z + q_z), r = σ(p_r + q_r), ĥ = tanh(p_h + r ⊙ q_h),  h_t = z ⊙ h_{t−1} + (1 − z) ⊙ ĥ
Bidirectional  the cell on x with {"W", "U", "b"} and on x reversed in time with {"W_r", "U_r",
      "b_r"}; out [forward, backward]: the last states (N, 2u), or every step's (N, T, 2u) with the
      backward states flipped back into time order (Keras)
"""

import jax
import jax.numpy as jnp
from jax import lax

BACK = "_r"  # the suffix of the backward-reading layer's weights


def scan_time(cell, xw, carry):
    """Run cell(carry, xw_t) -> (carry, h_t) over t; xw (N, T, G·u) -> hidden states (N, T, u)."""
    _, hs = lax.scan(cell, carry, jnp.swapaxes(xw, 0, 1))  # scan walks axis 0: time first
    return jnp.swapaxes(hs, 0, 1)


def zeros(x, params):
    """The zero initial state (N, u)."""
    return jnp.zeros((x.shape[0], params["U"].shape[0]), params["U"].dtype)


def lstm(x, params):
    """All hidden states (N, T, u)."""
    U = params["U"]

    def cell(carry, xw_t):
        h, c = carry
        a_i, a_f, a_g, a_o = jnp.split(xw_t + h @ U, 4, axis=1)  # each (N, u)
        i, f, g, o = jax.nn.sigmoid(a_i), jax.nn.sigmoid(a_f), jnp.tanh(a_g), jax.nn.sigmoid(a_o)
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (h, c), h

    xw = x @ params["W"] + params["b"]  # (N, T, 4u): every step's input projection at once
    return scan_time(cell, xw, (zeros(x, params), zeros(x, params)))


def gru(x, params):
    """All hidden states (N, T, u)."""
    U, b1 = params["U"], params["b"][1]

    def cell(h, xw_t):
        p_z, p_r, p_h = jnp.split(xw_t, 3, axis=1)  # each (N, u)
        q_z, q_r, q_h = jnp.split(h @ U + b1, 3, axis=1)
        z, r = jax.nn.sigmoid(p_z + q_z), jax.nn.sigmoid(p_r + q_r)
        cand = jnp.tanh(p_h + r * q_h)  # ĥ: the reset gate scales U_h·h + b1_h, bias included
        h = z * h + (1 - z) * cand
        return h, h

    xw = x @ params["W"] + params["b"][0]  # (N, T, 3u): every step's input projection p at once
    return scan_time(cell, xw, zeros(x, params))


def bidirectional(x, params, cell, return_sequences=False):
    """(N, 2u), or (N, T, 2u) with return_sequences; cell: lstm or gru."""
    hs_f = cell(x, {key: params[key] for key in ("W", "U", "b")})  # (N, T, u)
    back = {key[: -len(BACK)]: value for key, value in params.items() if key.endswith(BACK)}
    hs_b = cell(x[:, ::-1], back)  # hs_b[:, t] has read x_T … x_(T−t)
    if return_sequences:
        return jnp.concatenate([hs_f, hs_b[:, ::-1]], axis=-1)
    return jnp.concatenate([hs_f[:, -1], hs_b[:, -1]], axis=-1)
