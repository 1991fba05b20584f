"""The transformer's nodes in PyTorch: nn.Embedding, learned positions, nn.LayerNorm, causal
nn.MultiheadAttention and the output projection tied to the token table (nanoGPT's lm_head).

Canonical (foundation.layouts): token table "E" (vocab, E), positions "P" (T, E), LayerNorm "gamma",
"beta" (E,), attention Wq, bq, Wk, bk, Wv, bv, Wo, bo with x @ W + b. torch holds the table and the
positions as they are; nn.MultiheadAttention packs in_proj_weight (3E, E) = [Wqᵀ; Wkᵀ; Wvᵀ] and
in_proj_bias (3E,), and out_proj.weight (E, E) = Woᵀ: attention and attention_params convert, with
foundation.layouts's torch_pack / torch_packed, and nowhere else.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.layouts import torch_pack, torch_packed


def embedding(spec, layer):
    """nn.Embedding holding a copy of the table "E" (vocab, dim): token ids (N, T) -> (N, T, dim)."""
    E = torch.tensor(layer["E"])
    assert E.shape == (spec.vocab, spec.dim), f"E is {tuple(E.shape)}, expected {(spec.vocab, spec.dim)}"
    module = nn.Embedding(spec.vocab, spec.dim, dtype=E.dtype)
    with torch.no_grad():
        module.weight.copy_(E)  # the same (vocab, dim) layout
    return module


class Positions(nn.Module):
    """Learned positions added to the sequence: x + P, P (T, E) (GPT-2's wpe, one row per position)."""

    def __init__(self, P):
        super().__init__()
        self.P = nn.Parameter(P)

    def forward(self, x):
        return x + self.P  # (N, T, E) + (T, E)


def position_embedding(layer, in_shape):
    """Positions holding a copy of "P" (T, E)."""
    P = torch.tensor(layer["P"])
    assert P.shape == in_shape, f"P is {tuple(P.shape)}, expected {in_shape}"
    return Positions(P)


def layernorm(spec, layer, in_shape):
    """nn.LayerNorm over the last axis with the task's ε (torch's default 1e-5 is only a default)."""
    gamma, beta = torch.tensor(layer["gamma"]), torch.tensor(layer["beta"])
    assert gamma.shape == beta.shape == in_shape[-1:], f"gamma {tuple(gamma.shape)}, beta {tuple(beta.shape)}"
    module = nn.LayerNorm(in_shape[-1], eps=spec.eps, dtype=gamma.dtype)
    with torch.no_grad():
        module.weight.copy_(gamma)
        module.bias.copy_(beta)
    return module


class SelfAttention(nn.Module):
    """nn.MultiheadAttention on (N, T, E) as its own query, key and value, with a causal mask."""

    def __init__(self, mha, causal, length):
        super().__init__()
        self.mha = mha
        # True = may not attend: key s > query t, the strict upper triangle
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1) if causal else None
        self.register_buffer("mask", mask, persistent=False)  # not a weight: kept out of state_dict

    def forward(self, x):
        # the mask itself, no is_causal=True: with need_weights=False torch then drops attn_mask and lets
        # scaled_dot_product_attention apply its own causal rule (F.multi_head_attention_forward)
        return self.mha(x, x, x, attn_mask=self.mask, need_weights=False)[0]  # (N, T, E)


def attention(spec, layer, in_shape):
    """SelfAttention holding a copy of Wq … bo: in_proj_weight (3E, E) = [Wqᵀ; Wkᵀ; Wvᵀ], in_proj_bias
    [bq; bk; bv], out_proj Woᵀ and bo (no "bq": bias=False, torch's all-or-none)."""
    length, e = in_shape
    rows, bias = torch_pack(layer)  # [Wqᵀ, Wkᵀ, Wvᵀ] (E, E) each, [bq, bk, bv] (3E,) or None
    weight = torch.cat([torch.as_tensor(w) for w in rows])  # (3E, E)
    assert weight.shape == (3 * e, e), f"in_proj_weight is {tuple(weight.shape)}, expected {(3 * e, e)}"
    # scale 1/√(E/heads), heads split off in_proj's output as (N, T, heads, E/heads), as canonical
    mha = nn.MultiheadAttention(e, spec.heads, bias=bias is not None, batch_first=True, dtype=weight.dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(weight)
        mha.out_proj.weight.copy_(torch.as_tensor(layer["Wo"]).T)  # canonical (in, out) -> (out, in)
        if bias is not None:
            mha.in_proj_bias.copy_(torch.as_tensor(bias))
            mha.out_proj.bias.copy_(torch.as_tensor(layer["bo"]))
    return SelfAttention(mha, spec.causal, length)


class TiedLinear(nn.Module):
    """logits = h @ Eᵀ with the Embedding's own weight: one Parameter in two modules (nanoGPT's
    `wte.weight = lm_head.weight`); model.parameters() yields it once, autograd sums both uses."""

    def __init__(self):
        super().__init__()
        self.register_parameter("weight", None)  # set by tie, once the Embedding is built

    def forward(self, h):
        return F.linear(h, self.weight)  # (N, T, E) @ (vocab, E)ᵀ -> (N, T, vocab)


def tied_output():
    return TiedLinear()


def tie(task, nodes):
    """Point every TiedLinear at the weight of the Embedding node its TiedOutput names."""
    named = dict(zip(task.names, nodes))
    for spec, node in zip(task.layers, nodes):
        if isinstance(node[0], TiedLinear):
            node[0].weight = named[spec.embedding][0].weight  # the same nn.Parameter


def embedding_params(module, grads=False):
    """{"E": (vocab, dim)} of an nn.Embedding (grads=True: its gradient, both uses summed)."""
    return {"E": numpy(module.weight.grad if grads else module.weight)}


def position_params(module, grads=False):
    return {"P": numpy(module.P.grad if grads else module.P)}


def layernorm_params(module, grads=False):
    weight, bias = (module.weight.grad, module.bias.grad) if grads else (module.weight, module.bias)
    return {"gamma": numpy(weight), "beta": numpy(bias)}


def attention_params(module, grads=False):
    """The canonical Wq … bo of a SelfAttention (grads=True: their gradients)."""
    mha = module.mha
    tensors = mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias
    weight, bias, out_weight, out_bias = (
        None if t is None else numpy(t.grad if grads else t) for t in tensors
    )
    e = mha.embed_dim
    assert weight.shape == (3 * e, e) and out_weight.shape == (e, e), f"in_proj_weight {weight.shape}"
    layer = {**torch_packed(weight, bias), "Wo": out_weight.T}  # out_proj (out, in) -> (in, out)
    layer = {key: np.ascontiguousarray(value) for key, value in layer.items()}  # .T: views, made rows
    return layer if out_bias is None else {**layer, "bo": out_bias}


def numpy(tensor):
    return tensor.detach().numpy().copy()
