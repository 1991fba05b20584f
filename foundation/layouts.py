"""The canonical layouts of the layers beyond Dense, stated once (Keras's and Flax's; torch converts).

Images: NHWC, (N, H, W, C), as Keras (channels_last) and Flax. torch is NCHW.

Conv2D: kernel "W" (kh, kw, in, out) as Keras and Flax, bias "b" (out,);
    out[n, y, x, f] = b[f] + Σ_{i, j, c} x_pad[n, s·y + i, s·x + j, c] · W[i, j, c, f]
    torch's Conv2d.weight is (out, in, kh, kw): W = weight.permute(2, 3, 1, 0) (from_torch_conv; back:
    to_torch_conv).

Padding, per spatial axis of size H, kernel k, stride s:
    "valid": no padding; output ⌊(H − k)/s⌋ + 1.
    "same":  TensorFlow's rule (Keras on every backend, Flax "SAME"): output ⌈H/s⌉,
             pad_total = max((⌈H/s⌉ − 1)·s + k − H, 0), before = pad_total // 2, the odd pixel after
             (bottom/right). So "same" with stride 2 may pad only the bottom (H = 6, k = 3: (0, 1)).
             torch's padding="same" also puts the odd pixel after, but refuses stride > 1: a port pads
             with F.pad((left, right, top, bottom)) and convolves with padding=0.

Conv2DTranspose: kernel "W" (kh, kw, out, in) as Keras (the kernel of the conv it is the transpose of:
    its output is that conv's input-gradient), bias "b" (out,). torch's ConvTranspose2d.weight is
    (in, out, kh, kw): W = weight.permute(2, 3, 1, 0). Flax's nnx.ConvTranspose holds (kh, kw, in, out)
    and, with transpose_kernel=False (its default), applies it unflipped: W = kernel[::-1, ::-1] with
    in and out swapped (flax_conv_transpose); with transpose_kernel=True its kernel is W.

Pooling (max and average): window p, stride p, "valid": output ⌊H/p⌋, the last H mod p rows dropped
    (Keras MaxPooling2D/AveragePooling2D defaults, torch MaxPool2d(p)/AvgPool2d(p)).

Flatten: row-major over (H, W, C) of NHWC, i.e. x.reshape(N, H·W·C), as Keras's Flatten on
    channels_last. torch's nn.Flatten on NCHW flattens (C, H, W): a port must permute to NHWC first
    (x.permute(0, 2, 3, 1).flatten(1)), or the next Dense kernel's rows come out in another order
    (hwc_rows reorders them; back: chw_rows).

LSTM, u units: {"W": (in, 4u), "U": (u, 4u), "b": (4u,)}, gate blocks in the order i, f, g, o
    (input, forget, cell candidate, output): Keras's kernel / recurrent_kernel / bias, and torch's
    weight_ih / weight_hh rows (W = weight_ih.T, U = weight_hh.T). One bias: torch's b_ih + b_hh.
    a = x_t W + h_{t−1} U + b, split into a_i, a_f, a_g, a_o
    i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
    c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)

GRU, u units: {"W": (in, 3u), "U": (u, 3u), "b": (2, 3u)}, Keras's reset_after=True form (the Keras 3
    default), gate blocks in the order z, r, h (update, reset, candidate); b[0] the input bias, b[1] the
    recurrent bias (kept apart: b1_h sits inside r ⊙ (...)).
    z = σ(x_t W_z + b0_z + h_{t−1} U_z + b1_z),   r = σ(x_t W_r + b0_r + h_{t−1} U_r + b1_r)
    ĥ = tanh(x_t W_h + b0_h + r ⊙ (h_{t−1} U_h + b1_h))
    h_t = z ⊙ h_{t−1} + (1 − z) ⊙ ĥ
    torch's nn.GRU computes the same function (h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}) with its blocks in the
    order r, z, n: W = weight_ih.T, U = weight_hh.T, b = [bias_ih, bias_hh], each with the blocks
    reordered [r, z, n] -> [z, r, h] (TORCH_GRU_BLOCKS, gru_blocks). Keras's reset_after=False (the v1
    paper form, r applied before the matmul, one bias (3u,)) is a different function, not a layout.

All recurrent layers start from zero state unless given one; x is (N, T, in), the outputs (N, T, u).

Multi-head attention, h heads of width d (values dv): {"Wq": (E_q, h·d), "bq": (h·d,), "Wk": (E_k, h·d),
    "bk", "Wv": (E_v, h·dv), "bv", "Wo": (h·dv, E_out), "bo": (E_out,)}, head j in columns j·d … (j+1)·d.
    Q = x_q Wq + bq, K = x_k Wk + bk, V = x_v Wv + bv, each split into h heads;
    head_j = softmax(Q_j K_jᵀ / √d + mask) V_j over the keys; out = [head_1 … head_h] Wo + bo.
    A causal mask lets query t see keys s ≤ t. Keras MultiHeadAttention and Flax
    nnx.MultiHeadAttention hold kernels (E, h, d) and (h, dv, E_out), biases (h, d): reshaped
    (heads_in, heads_out). torch's nn.MultiheadAttention packs in_proj_weight (3E, E) as the rows of
    Wqᵀ, Wkᵀ, Wvᵀ, in_proj_bias (3E,) likewise, out_proj.weight (E, E) = Woᵀ (torch_packed; back:
    torch_pack). heads_shaped gives the native kernels back.

The transformer's other nodes (foundation.tasks): token ids (N, T) int64; sequences (N, T, E).
    Embedding: table "E" (vocab, E), out[n, t] = E[x[n, t]]; torch nn.Embedding.weight, Keras
        Embedding.embeddings and Flax nnx.Embed.embedding hold it as it is.
    PositionEmbedding: "P" (T, E), out = x + P (GPT-2's wpe, nanoGPT's nn.Embedding(T, E) of arange(T)).
    LayerNorm: "gamma", "beta" (E,), y = γ·(x − μ)/√(σ² + ε) + β over the last axis, σ² biased; torch
        weight/bias, Keras gamma/beta, Flax scale/bias.
    Dense on a sequence: the same "W" (in, out) at every position, x @ W + b over the last axis.
    TiedOutput: no weights; logits = h @ Eᵀ with the Embedding's table (torch F.linear(h, E)).
"""

import math

import numpy as np

from foundation.errors import ArgumentError, ParamsError, unknown

IMAGE = ("N", "H", "W", "C")
CONV_KERNEL = ("kh", "kw", "in", "out")
PADDINGS = ("valid", "same")
LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("z", "r", "h")
TORCH_GRU_BLOCKS = (1, 0, 2)  # canonical block k is torch's block TORCH_GRU_BLOCKS[k], and vice versa


# ---- torch's and Flax's own layouts, both ways (rosetta.check reads them, rosetta.transfer writes them) ----


def from_torch_conv(weight):
    """torch's Conv2d.weight (out, in, kh, kw) -> (kh, kw, in, out), ConvTranspose2d.weight (in, out, kh, kw)
    -> (kh, kw, out, in), Conv1d.weight (out, in, k) -> (k, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0) if np.ndim(weight) == 4 else (2, 1, 0))


def to_torch_conv(W):
    """The inverse of from_torch_conv: (kh, kw, a, b) -> (b, a, kh, kw), (k, in, out) -> (out, in, k)."""
    return np.transpose(W, (3, 2, 0, 1) if np.ndim(W) == 4 else (2, 1, 0))


def gru_blocks(a, axis=-1):
    """GRU gate blocks along `axis`: torch's and Flax's r, z, n <-> canonical z, r, h (one swap both ways)."""
    blocks = np.split(np.asarray(a), 3, axis=axis)
    return np.concatenate([blocks[k] for k in TORCH_GRU_BLOCKS], axis=axis)


def hwc_rows(W, chw):
    """Kernel rows (C·H·W, out) in torch nn.Flatten's (C, H, W) order -> canonical (H, W, C) order."""
    c, h, w = chw
    return W.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)


def chw_rows(W, chw):
    """The inverse of hwc_rows: canonical (H, W, C) rows -> nn.Flatten's (C, H, W) order."""
    c, h, w = chw
    return W.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)


# ---- padding and output sizes, one spatial axis ----


def same_padding(size, kernel, stride):
    """(before, after) of TensorFlow's "same": the odd pixel goes after (bottom/right)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def output_size(size, kernel, stride, padding):
    if padding not in PADDINGS:
        raise unknown("padding", padding, PADDINGS)
    out = math.ceil(size / stride) if padding == "same" else (size - kernel) // stride + 1
    if out < 1:
        raise ArgumentError(f"a {kernel}-wide window with {padding!r} padding does not fit in size {size}")
    return out


# ---- shape checks: each returns the sizes it read ----


def check_image(x):
    """(N, H, W, C) of an NHWC batch."""
    if np.ndim(x) != 4:
        raise ArgumentError(f"images are NHWC (N, H, W, C); got shape {np.shape(x)}")
    return np.shape(x)


def check_conv(W, b, channels):
    """(kh, kw, out) of a conv kernel (kh, kw, in, out) reading `channels` input channels."""
    if np.ndim(W) != 4 or W.shape[2] != channels:
        raise ParamsError(f"conv kernel is (kh, kw, in={channels}, out); got {np.shape(W)}")
    if np.shape(b) != (W.shape[3],):
        raise ParamsError(f"conv bias is (out,) = ({W.shape[3]},); got {np.shape(b)}")
    return W.shape[0], W.shape[1], W.shape[3]


def check_recurrent(params, n_in, gates, bias_rows):
    """Units u of {"W": (in, g·u), "U": (u, g·u), "b": (g·u,) or (rows, g·u)}; g = len(gates)."""
    if set(params) != {"W", "U", "b"}:
        raise ParamsError(f"recurrent weights are W, U, b; got keys {sorted(params)}")
    u = np.shape(params["U"])[0]
    width = len(gates) * u
    bias = (width,) if bias_rows is None else (bias_rows, width)
    want = {"W": (n_in, width), "U": (u, width), "b": bias}
    for key, shape in want.items():
        if np.shape(params[key]) != shape:
            blocks = ", ".join(gates)
            raise ParamsError(f"{key} is {shape} (gate blocks {blocks}); got {np.shape(params[key])}")
    return u


def check_lstm(params, n_in):
    return check_recurrent(params, n_in, LSTM_GATES, None)


def check_gru(params, n_in):
    return check_recurrent(params, n_in, GRU_GATES, 2)


# ---- multi-head attention ----

ATTENTION_KEYS = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")


def heads_in(kernel):
    """A projection kernel (E, h, d) or bias (h, d) -> canonical (E, h·d) or (h·d,)."""
    kernel = np.asarray(kernel)
    return kernel.reshape(-1) if kernel.ndim == 2 else kernel.reshape(kernel.shape[0], -1)


def heads_out(kernel):
    """The output kernel (h, dv, E_out) -> canonical (h·dv, E_out)."""
    kernel = np.asarray(kernel)
    return kernel.reshape(-1, kernel.shape[-1])


def torch_packed(weight, bias):
    """torch's in_proj_weight (3E, E) and in_proj_bias (3E,) -> canonical Wq, Wk, Wv (E, E), bq, bk, bv."""
    out = {f"W{p}": w.T for p, w in zip("qkv", np.split(np.asarray(weight), 3, axis=0))}
    if bias is not None:
        out |= {f"b{p}": b for p, b in zip("qkv", np.split(np.asarray(bias), 3))}
    return out


def heads_shaped(a, shape):
    """A canonical projection back in its native shape, the inverse of heads_in and heads_out: (E, h·d)
    -> (E, h, d), (h·d,) -> (h, d), (h·dv, E_out) -> (h, dv, E_out)."""
    return np.reshape(a, shape)


def torch_pack(layer):
    """The inverse of torch_packed: canonical Wq, Wk, Wv -> [Wqᵀ, Wkᵀ, Wvᵀ] (in_proj_weight (3E, E) once
    concatenated, or q_proj_weight, k_proj_weight, v_proj_weight); bq, bk, bv -> in_proj_bias, or None."""
    rows = [np.asarray(layer[f"W{p}"]).T for p in "qkv"]
    return rows, np.concatenate([layer[f"b{p}"] for p in "qkv"]) if "bq" in layer else None


def flax_conv_transpose(kernel, transpose_kernel):
    """nnx.ConvTranspose's kernel -> canonical (kh, kw, out, in); the same map both ways."""
    kernel = np.asarray(kernel)
    return kernel if transpose_kernel else kernel[::-1, ::-1].swapaxes(2, 3)
