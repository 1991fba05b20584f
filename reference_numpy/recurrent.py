"""The reference LSTM and GRU in plain NumPy: unrolled over time, hand-written backprop through time.

Layouts are canonical (foundation.layouts): x (N, T, in), hidden states (N, T, u), zero initial state
unless given. Every array follows the dtype of W (float64 or float32); the input is cast to it.

LSTM  {"W": (in, 4u), "U": (u, 4u), "b": (4u,)}, gate blocks i, f, g, o
      a = x_t W + h_{t−1} U + b;  i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g)
      c_t = f ⊙ c_{t−1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
GRU   {"W": (in, 3u), "U": (u, 3u), "b": (2, 3u)}, gate blocks z, r, h, Keras's reset_after=True form
      p = x_t W + b[0], q = h_{t−1} U + b[1] (the input and recurrent projections)
      z = σ(p_z + q_z), r = σ(p_r + q_r), ĥ = tanh(p_h + r ⊙ q_h),  h_t = z ⊙ h_{t−1} + (1 − z) ⊙ ĥ

Bidirectional: the same cell reading x forward (W, U, b) and a second reading it backward (W_r,
U_r, b_r), outputs concatenated [forward, backward]: the last states (N, 2u), or every step's
(N, T, 2u) with the backward states flipped back into time order (Keras's Bidirectional).

Backward: dh_all (N, T, u) is dL/dh_t from the layers above; walking t = T−1 … 0, dL/dh_t also
collects what h_t fed into step t + 1 (dh_next, and dc_next for the LSTM's cell). Each step yields dp,
dq: dL/d(input projection) and dL/d(recurrent projection), (N, T, G·u); then
      dW = Σ_{n,t} x_tᵀ dp,  dU = Σ_{n,t} h_{t−1}ᵀ dq,  dx = dp Wᵀ,  db = Σ_{n,t} dp (LSTM: dp = dq)
"""

import numpy as np

from foundation.layouts import check_gru, check_lstm


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def start(x, params, check, states):
    """x and the initial states in W's dtype; zeros for the states not given, each (N, u)."""
    x = np.asarray(x, dtype=params["W"].dtype)
    u = check(params, x.shape[2])
    return x, [np.zeros((x.shape[0], u), x.dtype) if s is None else np.asarray(s, x.dtype) for s in states]


def weight_grads(x, h_prev, dp, dq):
    """dW (in, G·u), dU (u, G·u) from x, h_prev (N, T, ·) and dp, dq (N, T, G·u)."""
    return np.einsum("nti,ntg->ig", x, dp), np.einsum("ntu,ntg->ug", h_prev, dq)


# ---- LSTM ----


def lstm(x, params, h0=None, c0=None):
    """All hidden states (N, T, u) and the cache for lstm_backward."""
    x, (h, c) = start(x, params, check_lstm, (h0, c0))
    xw = x @ params["W"] + params["b"]  # (N, T, 4u): every step's input projection at once
    hs, steps = [], []
    for t in range(x.shape[1]):
        a_i, a_f, a_g, a_o = np.split(xw[:, t] + h @ params["U"], 4, axis=1)  # each (N, u)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        h_prev, c_prev = h, c
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        h = o * tanh_c
        steps.append((h_prev, c_prev, i, f, g, o, tanh_c))
        hs.append(h)
    return np.stack(hs, axis=1), (x, params, steps)


def lstm_backward(dh_all, cache):
    """(dx (N, T, in), {"W", "U", "b"}) from dh_all = dL/dh_t (N, T, u)."""
    x, params, steps = cache
    da = np.empty(dh_all.shape[:2] + (params["U"].shape[1],), dh_all.dtype)  # (N, T, 4u)
    dh_next, dc_next = np.zeros_like(dh_all[:, 0]), np.zeros_like(dh_all[:, 0])
    for t in reversed(range(x.shape[1])):
        _, c_prev, i, f, g, o, tanh_c = steps[t]
        dh = dh_all[:, t] + dh_next
        dc = dc_next + dh * o * (1 - tanh_c**2)  # h = o·tanh(c)
        di, df, dg, do = dc * g, dc * c_prev, dc * i, dh * tanh_c  # dL/d(gate), each (N, u)
        # through the activations: σ' = σ(1 − σ), tanh' = 1 − tanh²
        da[:, t] = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], 1)
        dh_next, dc_next = da[:, t] @ params["U"].T, dc * f
    h_prev = np.stack([step[0] for step in steps], axis=1)  # (N, T, u)
    dW, dU = weight_grads(x, h_prev, da, da)
    return da @ params["W"].T, {"W": dW, "U": dU, "b": da.sum(axis=(0, 1))}


# ---- GRU (reset_after=True) ----


def gru(x, params, h0=None):
    """All hidden states (N, T, u) and the cache for gru_backward."""
    x, (h,) = start(x, params, check_gru, (h0,))
    xw = x @ params["W"] + params["b"][0]  # (N, T, 3u): every step's input projection p at once
    hs, steps = [], []
    for t in range(x.shape[1]):
        p_z, p_r, p_h = np.split(xw[:, t], 3, axis=1)  # each (N, u)
        q_z, q_r, q_h = np.split(h @ params["U"] + params["b"][1], 3, axis=1)
        z, r = sigmoid(p_z + q_z), sigmoid(p_r + q_r)
        cand = np.tanh(p_h + r * q_h)  # ĥ: the reset gate scales U_h·h + b1_h, bias included
        steps.append((h, z, r, cand, q_h))
        h = z * h + (1 - z) * cand
        hs.append(h)
    return np.stack(hs, axis=1), (x, params, steps)


def gru_backward(dh_all, cache):
    """(dx (N, T, in), {"W", "U", "b"}) from dh_all = dL/dh_t (N, T, u)."""
    x, params, steps = cache
    dp = np.empty(dh_all.shape[:2] + (params["U"].shape[1],), dh_all.dtype)  # (N, T, 3u)
    dq = np.empty_like(dp)
    dh_next = np.zeros_like(dh_all[:, 0])
    for t in reversed(range(x.shape[1])):
        h_prev, z, r, cand, q_h = steps[t]
        dh = dh_all[:, t] + dh_next
        d_cand = dh * (1 - z) * (1 - cand**2)  # dL/d(p_h + r·q_h)
        d_z = dh * (h_prev - cand) * z * (1 - z)  # dL/d(p_z + q_z)
        d_r = d_cand * q_h * r * (1 - r)  # dL/d(p_r + q_r)
        dp[:, t] = np.concatenate([d_z, d_r, d_cand], axis=1)
        dq[:, t] = np.concatenate([d_z, d_r, d_cand * r], axis=1)
        dh_next = dh * z + dq[:, t] @ params["U"].T
    h_prev = np.stack([step[0] for step in steps], axis=1)  # (N, T, u)
    dW, dU = weight_grads(x, h_prev, dp, dq)
    db = np.stack([dp.sum(axis=(0, 1)), dq.sum(axis=(0, 1))])  # (2, 3u): input, recurrent
    return dp @ params["W"].T, {"W": dW, "U": dU, "b": db}


# ---- both directions ----

CELLS = {"lstm": (lstm, lstm_backward), "gru": (gru, gru_backward)}
BACK = "_r"  # the suffix of the backward-reading layer's weights


def bidirectional(x, params, cell, return_sequences=False):
    """out (N, 2u) or (N, T, 2u), and the cache for bidirectional_backward."""
    forward = CELLS[cell][0]
    hs_f, cache_f = forward(x, {key: params[key] for key in ("W", "U", "b")})  # (N, T, u)
    back = {key[: -len(BACK)]: value for key, value in params.items() if key.endswith(BACK)}
    hs_b, cache_b = forward(x[:, ::-1], back)  # hs_b[:, t] has read x_T … x_(T−t)
    cache = (cell, return_sequences, cache_f, cache_b)
    if return_sequences:
        return np.concatenate([hs_f, hs_b[:, ::-1]], axis=-1), cache
    return np.concatenate([hs_f[:, -1], hs_b[:, -1]], axis=-1), cache


def bidirectional_backward(dout, cache):
    """(dx (N, T, F), grads of both layers) from dout = dL/d[forward, backward]."""
    cell, return_sequences, cache_f, cache_b = cache
    x, units = cache_f[0], dout.shape[-1] // 2
    if return_sequences:
        dh_f, dh_b = dout[..., :units], dout[:, ::-1, units:]  # back into the reading order
    else:
        dh_f, dh_b = (np.zeros(x.shape[:2] + (units,), dout.dtype) for _ in range(2))
        dh_f[:, -1], dh_b[:, -1] = dout[:, :units], dout[:, units:]  # only the last states reach up
    backward = CELLS[cell][1]
    dx_f, grads_f = backward(np.ascontiguousarray(dh_f), cache_f)
    dx_b, grads_b = backward(np.ascontiguousarray(dh_b), cache_b)
    return dx_f + dx_b[:, ::-1], {**grads_f, **{key + BACK: value for key, value in grads_b.items()}}
