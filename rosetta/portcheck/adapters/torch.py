"""PyTorch: any nn.Module; its modules by forward hooks, the functions its forward calls by a mode.

Layer outputs come from forward hooks, gradients from autograd, steps from the user's torch.optim
factory on a deep copy. Every conversion to canonical (foundation.layouts) happens here and only here:
Linear.weight (out, in) -> (in, out); images NCHW -> NHWC and sequences (N, C, T) -> (N, T, C) (a
model whose first layer is a Conv2d, ZeroPad2d or 2-D pooling, or a Conv1d or 1-D pooling, is given
the canonical x permuted to its layout); Conv2d.weight (out, in, kh, kw) -> (kh, kw, in, out),
Conv1d.weight (out, in, k) -> (k, in, out), ConvTranspose2d.weight (in, out, kh, kw) -> (kh, kw,
out, in); nn.Flatten on channels-first values orders the features (C, H, W), so its output and the
next Linear's kernel rows are reordered to canonical (H, W, C); nn.ZeroPad2d joins the Conv2d after
it; nn.LSTM / nn.GRU (batch_first, either direction, each of num_layers an anchor) give their
sequence of outputs, W = weight_ih.T, U = weight_hh.T, an LSTM's b = bias_ih + bias_hh (bias_hh also
kept as "b_hh" for the double-bias hint), a GRU's blocks r, z, n -> z, r, h and b = [bias_ih,
bias_hh]; the reverse direction's likewise, "W_r", "U_r", "b_r"; nn.MultiheadAttention's packed
in_proj_weight split into Wq, Wk, Wv.
"""

import contextlib
import copy
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from foundation.errors import first_line
from foundation.layouts import (
    chw_rows,
    from_torch_conv,
    gru_blocks,
    hwc_rows,
    to_torch_conv,
    torch_pack,
    torch_packed,
)
from rosetta.portcheck.graph import Node, Recorder
from rosetta.portcheck.layers import Layer, NotSupported, Write, first_layer

ACTIVATIONS = {
    nn.ReLU: "relu",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Identity: "linear",
    nn.SiLU: "silu",
    nn.Softmax: "softmax",
}


def leaves(module):
    """The modules that compute, in order: nested Sequentials and containers flattened."""
    children = list(module.children())
    return [leaf for child in children for leaf in leaves(child)] if children else [module]


NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
PARAMETRIZED = (
    nn.Linear,
    nn.Conv2d,
    nn.Conv1d,
    nn.ConvTranspose2d,
    nn.LSTM,
    nn.GRU,
    *NORMS,
    nn.LayerNorm,
    nn.RMSNorm,
    nn.Embedding,
    nn.MultiheadAttention,
)
IMAGE_FIRST = (nn.Conv2d, nn.ConvTranspose2d, nn.ZeroPad2d, nn.MaxPool2d, nn.AvgPool2d)
SEQUENCE_FIRST = (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)  # a model reading (N, C, T)
POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool1d, nn.AvgPool1d)
KNOWN = PARAMETRIZED + (
    nn.ZeroPad2d,
    *POOL_MODULES,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.Dropout,
    nn.Flatten,
    *ACTIVATIONS,
)
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def unsupported(model):
    """Every module the capture cannot read, named at once: a torch.nn layer with weights it does not
    know, or a module of the user's that holds parameters of its own (used outside a known layer). A
    torch.nn layer without weights (nn.Upsample, nn.SiLU ...) is read through the functions it calls."""
    found = []
    for name, m in model.named_modules():
        if isinstance(m, KNOWN) and not isinstance(m, nn.ZeroPad2d) and not inside_known(model, name):
            found += refusal(m, name)  # a known layer in a form the check does not compare
        if isinstance(m, KNOWN) or isinstance(m, CONTAINERS) or inside_known(model, name):
            continue
        weights = any(True for _ in m.parameters())  # a torch.nn layer without any is read op by op
        if weights and (
            type(m).__module__.startswith("torch.nn") or any(True for _ in m.parameters(recurse=False))
        ):
            found.append(f"{type(m).__name__} ({name or 'the model'})")
    if found:
        raise NotSupported(f"not supported yet: {', '.join(found)}")


def refusal(m, name):
    """[the reason a known module cannot be compared, with its name], or []."""
    try:
        describe(m)
    except NotSupported as exc:
        return [f"{str(exc).removeprefix('not supported yet: ')} ({name or 'the model'})"]
    return []


def inside_known(model, name):
    parts = name.split(".")
    return any(isinstance(model.get_submodule(".".join(parts[:k])), KNOWN) for k in range(1, len(parts)))


def square(value, what, m):
    values = set(value) if isinstance(value, tuple) else {value}
    if len(values) != 1:
        raise NotSupported(f"not supported yet: {type(m).__name__} with a non-square {what} {value}")
    return values.pop()


def describe_conv(m, pad=None):
    k, s = square(m.kernel_size, "kernel", m), square(m.stride, "stride", m)
    cls = type(m).__name__
    if square(m.dilation, "dilation", m) != 1 or m.groups != 1 or m.padding_mode != "zeros":
        raise NotSupported(f"not supported yet: {cls} with dilation, groups or a non-zero padding_mode")
    padding = m.padding if isinstance(m.padding, str) else square(m.padding, "padding", m)
    name = f"{cls}({m.in_channels}→{m.out_channels}, k={k}, s={s}, padding={padding})"
    name = name if pad is None else f"ZeroPad2d{pad} → {name}"
    kind = "conv1d" if isinstance(m, nn.Conv1d) else "conv2d"
    return Layer(kind, name, m.in_channels, m.out_channels, m.bias is not None, config=(k, s))


def describe_conv_transpose(m):
    k, s = square(m.kernel_size, "kernel", m), square(m.stride, "stride", m)
    if square(m.dilation, "dilation", m) != 1 or m.groups != 1:
        raise NotSupported("not supported yet: ConvTranspose2d with dilation or groups")
    p, op = square(m.padding, "padding", m), square(m.output_padding, "output_padding", m)
    name = (
        f"ConvTranspose2d({m.in_channels}→{m.out_channels}, k={k}, s={s}, padding={p}, output_padding={op})"
    )
    return Layer("conv_transpose", name, m.in_channels, m.out_channels, m.bias is not None, config=(k, s))


def describe_pool(m):
    kind = "max" if isinstance(m, (nn.MaxPool2d, nn.MaxPool1d)) else "avg"
    k = square(m.kernel_size, "window", m)
    stride = square(m.stride, "stride", m)
    if stride != k or square(m.padding, "padding", m) or m.ceil_mode or getattr(m, "dilation", 1) != 1:
        raise NotSupported(f"not supported yet: {type(m).__name__} other than window = stride, no padding")
    return Layer("pool", f"{type(m).__name__}({k})", config=(k, kind))


def describe_recurrent(m, stage=0):
    """nn.LSTM / nn.GRU, batch_first, either direction, layer `stage` of its num_layers: each layer's
    output is a sequence, and each layer is an anchor of its own."""
    if not m.batch_first or not m.bias or getattr(m, "proj_size", 0):
        raise NotSupported(f"not supported yet: {type(m).__name__} other than batch_first=True, bias=True")
    kind, dirs = ("lstm" if isinstance(m, nn.LSTM) else "gru"), 2 if m.bidirectional else 1
    n_in = m.input_size if stage == 0 else dirs * m.hidden_size
    both = ", bidirectional" if m.bidirectional else ""
    layer = f", layer {stage}" if m.num_layers > 1 else ""
    name = f"{type(m).__name__}({n_in}→{m.hidden_size}{both}{layer})"
    config = ("bidirectional",) if m.bidirectional else ()
    return Layer(kind, name, n_in, dirs * m.hidden_size, True, config=config)


def describe_attention(m):
    """nn.MultiheadAttention(E, h, batch_first=True): its masks are arguments of the call, not structure."""
    if not m.batch_first or m.bias_k is not None or m.add_zero_attn:
        raise NotSupported(
            "not supported yet: MultiheadAttention other than batch_first=True without add_bias_kv, "
            "add_zero_attn"
        )
    name = f"MultiheadAttention({m.embed_dim}, heads={m.num_heads})"
    bias = m.in_proj_bias is not None
    return Layer("attention", name, m.embed_dim, m.embed_dim, bias, config=(m.num_heads, m.head_dim))


def describe_rmsnorm(m):
    """nn.RMSNorm over the last axis; eps=None is the weight dtype's machine ε (torch.finfo)."""
    if len(m.normalized_shape) != 1:
        raise NotSupported("not supported yet: RMSNorm over more than the last axis")
    dtype = m.weight.dtype if m.weight is not None else torch.get_default_dtype()
    eps = torch.finfo(dtype).eps if m.eps is None else m.eps
    n = m.normalized_shape[0]
    return Layer("rmsnorm", f"RMSNorm(eps={'None' if m.eps is None else format(m.eps, 'g')})", n, n, eps=eps)


def describe(m, pad=None):
    """One torch module as a Layer."""
    if isinstance(m, nn.MultiheadAttention):
        return describe_attention(m)
    if isinstance(m, nn.ConvTranspose2d):
        return describe_conv_transpose(m)
    if isinstance(m, (nn.Conv2d, nn.Conv1d)):
        return describe_conv(m, pad)
    if isinstance(m, POOL_MODULES):
        return describe_pool(m)
    if isinstance(m, (nn.LSTM, nn.GRU)):
        return describe_recurrent(m)
    if isinstance(m, nn.Linear):
        return Layer(
            "dense",
            f"Linear({m.in_features}→{m.out_features})",
            m.in_features,
            m.out_features,
            m.bias is not None,
        )
    if isinstance(m, nn.Embedding):
        name = f"Embedding({m.num_embeddings}, {m.embedding_dim}, padding_idx={m.padding_idx})"
        return Layer("embedding", name, m.num_embeddings, m.embedding_dim, config=(), shape=(m.padding_idx,))
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d)):
        if square(m.output_size, "output size", m) != 1:
            raise NotSupported(f"not supported yet: {type(m).__name__} to other than size 1")
        return Layer("pool", f"{type(m).__name__}(1)", config=("global", "avg"))
    if isinstance(m, NORMS):
        n, name = m.num_features, f"{type(m).__name__}(eps={m.eps:g}, momentum={m.momentum})"
        return Layer("batchnorm", name, n, n, True, eps=m.eps, momentum=m.momentum)
    if isinstance(m, nn.LayerNorm):
        n = m.normalized_shape[-1]
        return Layer("layernorm", f"LayerNorm(eps={m.eps:g})", n, n, m.bias is not None, eps=m.eps)
    if isinstance(m, nn.RMSNorm):
        return describe_rmsnorm(m)
    if isinstance(m, nn.LeakyReLU):
        return Layer("act", f"LeakyReLU({m.negative_slope:g})", act="leaky_relu", alpha=m.negative_slope)
    if isinstance(m, nn.ELU):
        return Layer("act", f"ELU({m.alpha:g})", act="elu", alpha=m.alpha)
    if isinstance(m, nn.GELU):
        return Layer("act", f"GELU({m.approximate})", act="gelu_tanh" if m.approximate == "tanh" else "gelu")
    if type(m) in ACTIVATIONS:
        return Layer("act", type(m).__name__, act=ACTIVATIONS[type(m)])
    if isinstance(m, nn.Dropout):
        return Layer("dropout", f"Dropout({m.p:g})", rate=m.p)
    if isinstance(m, nn.Flatten):
        return Layer("flatten", "Flatten")
    raise NotSupported(f"not supported yet: {type(m).__name__}")


def recurrent(m, as_np, grads, stage=0):
    """Layer `stage` of an nn.LSTM / nn.GRU as canonical {"W", "U", "b"}, and for a bidirectional one
    the reverse direction's {"W_r", "U_r", "b_r"} (rosetta.portcheck.sequences)."""
    layer = direction(m, as_np, grads, f"_l{stage}", stage)
    if m.bidirectional:
        reverse = direction(m, as_np, grads, f"_l{stage}_reverse", stage)
        layer |= {f"{key}_r": value for key, value in reverse.items()}
    return layer


def direction(m, as_np, grads, suffix, stage):
    """One direction's {"W": (in, G·u), "U": (u, G·u), "b"}."""
    W = as_np(getattr(m, f"weight_ih{suffix}")).T  # (G·u, in) -> (in, G·u)
    U = as_np(getattr(m, f"weight_hh{suffix}")).T  # (G·u, u) -> (u, G·u)
    b_ih, b_hh = as_np(getattr(m, f"bias_ih{suffix}")), as_np(getattr(m, f"bias_hh{suffix}"))
    gates = 4 if isinstance(m, nn.LSTM) else 3
    n_in = m.input_size if stage == 0 else (2 if m.bidirectional else 1) * m.hidden_size
    assert W.shape == (n_in, gates * m.hidden_size), f"W is {W.shape}"
    assert U.shape == (m.hidden_size, gates * m.hidden_size), f"U is {U.shape}"
    if isinstance(m, nn.LSTM):  # blocks i, f, g, o as canonical; torch adds its two biases
        if grads:  # both biases get d/db; a frozen one has none
            return {"W": W, "U": U, "b": b_ih if b_ih is not None else b_hh}
        return {"W": W, "U": U, "b": b_ih + b_hh, "b_hh": b_hh}
    b_hh = np.zeros_like(b_ih) if b_hh is None else b_hh  # a frozen bias_hh has no gradient
    return {"W": gru_blocks(W), "U": gru_blocks(U), "b": np.stack([gru_blocks(b_ih), gru_blocks(b_hh)])}


def attention(m, as_np):
    """nn.MultiheadAttention's canonical Wq, bq, Wk, bk, Wv, bv, Wo, bo (foundation.layouts)."""
    if m._qkv_same_embed_dim:  # in_proj_weight (3E, E): the rows of Wqᵀ, Wkᵀ, Wvᵀ
        layer = torch_packed(as_np(m.in_proj_weight), as_np(m.in_proj_bias))
    else:
        layer = {f"W{p}": as_np(getattr(m, f"{p}_proj_weight")).T for p in "qkv"}
        bias = as_np(m.in_proj_bias)
        layer |= {} if bias is None else dict(zip(("bq", "bk", "bv"), np.split(bias, 3)))
    layer["Wo"] = as_np(m.out_proj.weight).T  # (E, h·d) -> (h·d, E)
    return layer | ({"bo": as_np(m.out_proj.bias)} if m.out_proj.bias is not None else {})


def canonical(m, read=None, chw=None, stage=0):
    """A parametrized module's weights (or, with `read`, their gradients) in canonical layout; `chw`:
    the (C, H, W) that the nn.Flatten before a Linear flattened."""
    get = read or (lambda p: p)
    as_np = lambda p: None if p is None or get(p) is None else get(p).detach().cpu().numpy().copy()  # noqa: E731
    if isinstance(m, nn.Linear):
        layer = {"W": as_np(m.weight).T}  # torch (out, in) -> canonical (in, out)
        assert layer["W"].shape == (m.in_features, m.out_features), f"W is {layer['W'].shape}"
        layer["W"] = layer["W"] if chw is None else hwc_rows(layer["W"], chw)
        return layer | ({"b": as_np(m.bias)} if m.bias is not None else {})
    if isinstance(m, nn.Conv1d):
        layer = {"W": from_torch_conv(as_np(m.weight))}  # (out, in, k) -> (k, in, out)
        return layer | ({"b": as_np(m.bias)} if m.bias is not None else {})
    if isinstance(m, nn.Conv2d):
        layer = {"W": from_torch_conv(as_np(m.weight))}  # (out, in, kh, kw) -> (kh, kw, in, out)
        assert layer["W"].shape == (*m.kernel_size, m.in_channels, m.out_channels), f"W is {layer['W'].shape}"
        return layer | ({"b": as_np(m.bias)} if m.bias is not None else {})
    if isinstance(m, nn.ConvTranspose2d):
        layer = {"W": from_torch_conv(as_np(m.weight))}  # (in, out, kh, kw) -> (kh, kw, out, in)
        assert layer["W"].shape == (*m.kernel_size, m.out_channels, m.in_channels), f"W is {layer['W'].shape}"
        return layer | ({"b": as_np(m.bias)} if m.bias is not None else {})
    if isinstance(m, (nn.LSTM, nn.GRU)):
        return recurrent(m, as_np, read is not None, stage)
    if isinstance(m, nn.Embedding):
        return {"W": as_np(m.weight)}  # (num_embeddings, dim): torch, Keras and Flax alike
    if isinstance(m, nn.MultiheadAttention):
        return attention(m, as_np)
    layer = {"gamma": as_np(m.weight), "beta": as_np(getattr(m, "bias", None))}  # RMSNorm: no beta
    if isinstance(m, NORMS):
        layer |= {"moving_mean": as_np(m.running_mean), "moving_variance": as_np(m.running_var)}
    return {k: v for k, v in layer.items() if v is not None}


# ---- the inverse: canonical weights into a module (rosetta.transfer) ----

NORM_NAMES = (
    ("weight", "gamma"),
    ("bias", "beta"),
    ("running_mean", "moving_mean"),
    ("running_var", "moving_variance"),
)


def native(m, layer, chw=None, stage=0):
    """The inverse of `canonical`: [(tensor, its name in m, value, how it reads in the canonical keys)]
    that make the module hold the canonical `layer`."""
    if isinstance(m, nn.Linear):
        W = layer["W"] if chw is None else chw_rows(layer["W"], chw)
        rule = "Wᵀ" if chw is None else "Wᵀ, its rows (H, W, C) -> nn.Flatten's (C, H, W)"
        return [(m.weight, "weight", W.T, rule)] + bias_of(m, layer)
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
        axes = "(2, 1, 0)" if isinstance(m, nn.Conv1d) else "(3, 2, 0, 1)"
        return [(m.weight, "weight", to_torch_conv(layer["W"]), f"W.permute{axes}")] + bias_of(m, layer)
    if isinstance(m, (nn.LSTM, nn.GRU)):
        return recurrent_native(m, layer, stage)
    if isinstance(m, nn.Embedding):
        return [(m.weight, "weight", layer["W"], "W")]
    if isinstance(m, nn.MultiheadAttention):
        return attention_native(m, layer)
    return [(getattr(m, name), name, layer[key], key) for name, key in NORM_NAMES if key in layer]


def bias_of(m, layer):
    return [(m.bias, "bias", layer["b"], "b")] if "b" in layer else []


def recurrent_native(m, layer, stage):
    """Layer `stage` of an nn.LSTM / nn.GRU from canonical W, U, b (and W_r, U_r, b_r): the inverse of
    `direction`. An LSTM's one bias goes to bias_ih and bias_hh is 0 (torch adds the two)."""
    found = []
    for suffix, back in (("", ""), ("_reverse", "_r"))[: 1 + m.bidirectional]:
        W, U, b = (layer[key + back] for key in "WUb")
        if isinstance(m, nn.GRU):  # blocks z, r, h -> torch's r, z, n; b = [bias_ih, bias_hh]
            arrays = (gru_blocks(W).T, gru_blocks(U).T, gru_blocks(b[0]), gru_blocks(b[1]))
            rules = (f"blocks(W{back})ᵀ", f"blocks(U{back})ᵀ", f"blocks(b{back}[0])", f"blocks(b{back}[1])")
        else:
            arrays = (W.T, U.T, b, np.zeros_like(b))
            rules = (f"W{back}ᵀ", f"U{back}ᵀ", f"b{back}", f"0 (b{back} = bias_ih + bias_hh)")
        names = [f"{kind}_l{stage}{suffix}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        found += [(getattr(m, name), name, a, rule) for name, a, rule in zip(names, arrays, rules)]
    return found


def attention_native(m, layer):
    """nn.MultiheadAttention from canonical Wq, bq, Wk, bk, Wv, bv, Wo, bo: the inverse of `attention`."""
    rows, bias = torch_pack(layer)
    if m._qkv_same_embed_dim:
        found = [(m.in_proj_weight, "in_proj_weight", np.concatenate(rows), "[Wq Wk Wv]ᵀ")]
    else:
        found = [
            (getattr(m, f"{p}_proj_weight"), f"{p}_proj_weight", w, f"W{p}ᵀ") for p, w in zip("qkv", rows)
        ]
    found += [] if bias is None else [(m.in_proj_bias, "in_proj_bias", bias, "[bq bk bv]")]
    found.append((m.out_proj.weight, "out_proj.weight", layer["Wo"].T, "Woᵀ"))
    return found + ([(m.out_proj.bias, "out_proj.bias", layer["bo"], "bo")] if "bo" in layer else [])


# ---- the capture: modules by hooks, everything a forward calls between them by a TorchFunctionMode ----

ADD = ("add", "__add__", "__radd__", "__iadd__", "add_")
MUL = ("mul", "__mul__", "__rmul__", "__imul__", "mul_")
RESHAPE = (
    "view",
    "reshape",
    "permute",
    "transpose",
    "contiguous",
    "__getitem__",
    "squeeze",
    "unsqueeze",
    "chunk",
    "split",
    "unbind",
    "t",
    "to",
    "float",
    "double",
    "type_as",
    "clone",
    "detach",
    "expand",
)
FLATTEN = ("flatten", "view", "reshape")
FUNCTION_ACTS = {
    "relu": "relu",
    "relu_": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "silu": "silu",
}
POOLS = {"max_pool2d": "max", "avg_pool2d": "avg", "max_pool1d": "max", "avg_pool1d": "avg"}


def argument(args, kwargs, index, key, default):
    return kwargs.get(key, args[index] if len(args) > index else default)


def describe_function(name, args, kwargs, layout=""):
    """A function or tensor method a forward called, as a Layer."""
    if name in FUNCTION_ACTS:
        return Layer("act", name.removesuffix("_"), act=FUNCTION_ACTS[name])
    if name in ("leaky_relu", "leaky_relu_"):
        slope = argument(args, kwargs, 1, "negative_slope", 0.01)
        return Layer("act", f"leaky_relu({slope:g})", act="leaky_relu", alpha=slope)
    if name in ("elu", "elu_"):
        alpha = argument(args, kwargs, 1, "alpha", 1.0)
        return Layer("act", f"elu({alpha:g})", act="elu", alpha=alpha)
    if name == "gelu":
        tanh = argument(args, kwargs, 1, "approximate", "none") == "tanh"
        return Layer("act", "gelu(tanh)" if tanh else "gelu", act="gelu_tanh" if tanh else "gelu")
    if name in POOLS:
        return describe_function_pool(name, args, kwargs)
    if name in ("adaptive_avg_pool2d", "adaptive_avg_pool1d", "mean") and global_mean(
        name, args, kwargs, layout
    ):
        return Layer(
            "pool",
            f"{name}({'H, W' if args[0].dim() == 4 else 'T'})",
            config=("global", "avg"),
        )
    if name in ADD:
        return Layer("add", "add")
    if name in MUL:
        return Layer("mul", "mul")
    if name in ("cat", "concat", "concatenate"):
        return Layer("concat", "cat")
    if name == "dropout":
        return Layer("dropout", "dropout", rate=argument(args, kwargs, 1, "p", 0.5))
    if name in RESHAPE + FLATTEN:
        return Layer("reshape", name)
    return Layer("op", name)


def describe_function_pool(name, args, kwargs):
    """F.max_pool2d(x, k) / F.avg_pool2d(x, k): window = stride, no padding, as the modules."""
    k = argument(args, kwargs, 1, "kernel_size", None)
    stride = argument(args, kwargs, 2, "stride", None) or k
    k, stride = (v if isinstance(v, int) else tuple(v) for v in (k, stride))
    if k != stride or argument(args, kwargs, 3, "padding", 0) or isinstance(k, tuple):
        raise NotSupported(f"not supported yet: {name} other than a square window = stride, no padding")
    return Layer("pool", f"{name}({k})", config=(k, POOLS[name]))


def global_mean(name, args, kwargs, layout=""):
    """x.mean((2, 3)) or F.adaptive_avg_pool2d(x, 1) on NCHW images, x.mean(1) on (N, T, C) sequences,
    x.mean(2) or F.adaptive_avg_pool1d(x, 1) on (N, C, T) ones: global average pooling."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or x.dim() not in (3, 4):
        return False
    if name.startswith("adaptive_avg_pool"):
        size = argument(args, kwargs, 1, "output_size", None)
        return x.dim() == (4 if name.endswith("2d") else 3) and size in (1, (1,), (1, 1))
    dims = argument(args, kwargs, 1, "dim", None)
    dims = (dims,) if isinstance(dims, int) else dims
    dims = tuple(sorted(d % x.dim() for d in dims)) if isinstance(dims, (list, tuple)) else None
    return dims == ((2, 3) if x.dim() == 4 else (2,) if layout == "nct" else (1,))


def tensors(tree):
    """The tensors in a function's arguments or outputs, in order."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (list, tuple)):
        return [t for item in tree for t in tensors(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in tensors(item)]
    return []


class Capture(TorchFunctionMode):
    """Records every known module call (by hooks) and every torch function or tensor method called
    outside them (by this mode) as a graph node with its inputs and its canonical output."""

    def __init__(self, model, layout):
        super().__init__()
        self.recorder, self.layout, self.depth, self.owners = Recorder(), layout, 0, {}
        self.hooks = [
            handle
            for m in model.modules()
            if isinstance(m, KNOWN)
            for handle in (
                m.register_forward_pre_hook(self.enter),
                m.register_forward_hook(self.leave, with_kwargs=True),
            )
        ]

    def canonical(self, out):
        return to_canonical(out.detach(), self.layout).cpu().numpy().copy()

    def enter(self, m, inp):
        self.depth += 1

    def leave(self, m, inp, kwargs, out):
        if self.depth == 1:  # still counted: the torch calls that read the values are not recorded
            self.record(m, inp + tuple(kwargs[k] for k in ("query", "key", "value") if k in kwargs), out)
        self.depth -= 1

    def record(self, m, inp, out):
        if isinstance(m, (nn.LSTM, nn.GRU)) and m.num_layers > 1:
            return self.stacked(m, inp[0], out[0])
        main = out[0] if isinstance(m, (nn.LSTM, nn.GRU, nn.MultiheadAttention)) else out
        layer = Layer("op", "zeropad2d") if isinstance(m, nn.ZeroPad2d) else describe(m)
        value = self.canonical(main)
        if isinstance(m, nn.Flatten) and channels_first(inp[0], self.layout):
            layer, value = flattened(layer, inp[0], self.canonical(inp[0]))
        owner = m if isinstance(m, PARAMETRIZED + (nn.ZeroPad2d,)) else None
        read = inp[:3] if isinstance(m, nn.MultiheadAttention) else inp[:1]  # query, key, value
        source = [(t, self.canonical(t)) for t in read]
        self.recorder.add(type(m).__name__.lower(), layer, source, main, value, owner)

    def stacked(self, m, x, out):
        """An nn.LSTM / nn.GRU with num_layers > 1 as one anchor per layer: each layer's sequence from
        a one-layer copy holding that layer's weights (torch keeps the ones in between to itself)."""
        for stage in range(m.num_layers):
            if stage < m.num_layers - 1:
                single = one_layer(m, stage)
                y = single(x)[0]
            else:
                y = out
            owner = self.owners.setdefault((id(m), stage), (m, stage))
            source = [(x, self.canonical(x))]
            self.recorder.add(
                type(m).__name__.lower(), describe_recurrent(m, stage), source, y, self.canonical(y), owner
            )
            x = y

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        outs = (
            tensors(out) if isinstance(out, (tuple, list)) else [out] if isinstance(out, torch.Tensor) else []
        )
        if self.depth or not outs or name in ("__get__", "__set__"):
            return out
        inputs = [(t, self.canonical(t)) for t in tensors((args, kwargs)) if not isinstance(t, nn.Parameter)]
        if all(self.recorder.constant_of(t) for t, _ in inputs):  # torch.ones, triu of it: constants
            for t in outs:
                self.recorder.constant(name, t, self.canonical(t))
            return out
        layer = describe_function(name, args, kwargs, self.layout)
        for t in outs:  # a split or chunk gives several tensors: one node each
            value = self.canonical(t)
            if name in FLATTEN and channels_first(inputs[0][0], self.layout) and t.dim() == 2:
                layer, value = flattened(Layer("flatten", name), inputs[0][0], inputs[0][1])
            self.recorder.add(layer.name.split("(")[0], layer, inputs, t, value)
        return out

    def close(self):
        for hook in self.hooks:
            hook.remove()


def channels_first(t, layout):
    """An NCHW image batch, or an (N, C, T) sequence batch in a model that starts with a Conv1d."""
    return (layout == "nchw" and t.dim() == 4) or (layout == "nct" and t.dim() == 3)


def to_canonical(t, layout):
    """NCHW -> NHWC, (N, C, T) -> (N, T, C) where the model reads channels first."""
    if channels_first(t, layout):
        return t.permute(0, 2, 3, 1) if t.dim() == 4 else t.permute(0, 2, 1)
    return t


def flattened(layer, t, canonical):
    """A Flatten of channels-first `t` as the check reads it: its canonical input flattened (H, W, C),
    and the shape (H, W, C) it flattened (a sequence: (1, T, C)) for the rows of the next Linear."""
    c, h, w = t.shape[1:] if t.dim() == 4 else (t.shape[1], 1, t.shape[2])
    return replace(layer, shape=(h, w, c)), canonical.reshape(len(t), -1)


def one_layer(m, stage):
    """A one-layer nn.LSTM / nn.GRU with layer `stage`'s weights of `m`."""
    single = type(m)(
        m.hidden_size * (2 if m.bidirectional else 1) if stage else m.input_size,
        m.hidden_size,
        batch_first=True,
        bidirectional=m.bidirectional,
    ).to(next(m.parameters()).dtype)
    for suffix in ("", "_reverse") if m.bidirectional else ("",):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(single, f"{kind}_l0{suffix}").copy_(getattr(m, f"{kind}_l{stage}{suffix}"))
    return single


def fuse_pads(graph):
    """A ZeroPad2d right before a Conv2d is part of that conv: one node, reading the pad's input."""
    pads = {node.name: node for node in graph.nodes if node.layer.name == "zeropad2d"}
    nodes, fused = [], set()
    for node in graph.nodes:
        if node.layer.kind == "conv2d" and node.inputs[0] in pads:
            pad = pads[node.inputs[0]]
            node = Node(node.name, describe(node.owner, tuple(pad.owner.padding)), pad.inputs, node.owner)
            fused.add(pad.name)
        nodes.append(node)
    if set(pads) - fused:
        raise NotSupported("not supported yet: ZeroPad2d not followed by a Conv2d")
    graph.nodes = [node for node in nodes if node.name not in fused]
    return graph


@contextlib.contextmanager
def eval_mode(model):
    """model.eval() for the duration, then every module's own training flag back."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.train(flag)


PERMUTED = {
    "nchw": "from NHWC to NCHW (x.permute(0, 3, 1, 2))",
    "nct": "from (N, T, C) to (N, C, T) (x.permute(0, 2, 1))",
}


def layout_of(first):
    """The layout a model reads: "nchw" where it starts with a conv or pooling on images, "nct" where
    it starts with a Conv1d or a 1-D pooling, else ""."""
    return "nchw" if isinstance(first, IMAGE_FIRST) else "nct" if isinstance(first, SEQUENCE_FIRST) else ""


class TorchModel:
    framework = "torch"

    def __init__(self, model):
        unsupported(model)
        self.model = model
        self.first = first_layer(describe(m) for m in model.modules() if isinstance(m, PARAMETRIZED))
        first = leaves(model)[0]  # a model reading NCHW or (N, C, T): the check permutes x to it
        self.layout = layout_of(first)
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.compute_dtype = self.dtype
        self.notes = ["torch model left in training mode (model.train())"] if model.training else []
        if self.layout:
            self.notes.append(f"input permuted {PERMUTED[self.layout]} for torch")

    def tensor(self, a, dtype=None):
        a = np.asarray(a)
        dtype = getattr(torch, dtype or self.dtype)
        return torch.from_numpy(a) if a.dtype.kind in "iu" else torch.tensor(a, dtype=dtype)

    def input(self, x, dtype=None):
        """The model's own input or target: NHWC images -> NCHW for a model that starts with a Conv2d,
        (N, T, C) -> (N, C, T) for one that starts with a Conv1d (a per-pixel or per-step target
        likewise; any other is as given)."""
        x = self.tensor(x, dtype)
        if self.layout == "nchw" and x.dim() == 4:
            return x.permute(0, 3, 1, 2)
        return x.permute(0, 2, 1) if self.layout == "nct" and x.dim() == 3 else x

    def capture(self, x, model=None, inference=True):
        """The graph of one forward, in inference mode (or as the model was left)."""
        model = model or self.model
        capture, inp = Capture(model, self.layout), self.input(x)
        capture.recorder.input(inp, np.asarray(self.tensor(x)))
        for name, buffer in model.named_buffers():  # masks and running statistics: constants
            capture.recorder.constant(name, buffer, capture.canonical(buffer))
        try:
            with torch.no_grad(), eval_mode(model) if inference else contextlib.nullcontext(), capture:
                out = model(inp)
        except (RuntimeError, IndexError) as exc:  # a model that does not run on x: one line, no traceback
            given = f"x permuted {PERMUTED[self.layout]}" if self.layout else "x"
            raise ValueError(f"the torch model does not run on {given}: {first_line(exc)}") from exc
        finally:
            capture.close()
        out = tensors(out)[0]
        return fuse_pads(capture.recorder.output(out, capture.canonical(out)))

    def bind(self, x):
        """Capture the graph: the anchors in execution order, the (C, H, W) each nn.Flatten of NCHW
        activations hands to the Linear after it."""
        self.graph = self.capture(x)
        layers = {node.name: node.layer for node in self.graph.nodes}
        self.anchors = []
        for node in self.graph.anchors:
            before = layers.get(node.inputs[0])
            flat = before is not None and before.kind == "flatten" and len(before.shape) == 3
            chw = (before.shape[2], before.shape[0], before.shape[1]) if flat and self.layout else None
            module, stage = node.owner if isinstance(node.owner, tuple) else (node.owner, 0)
            self.anchors.append((module, chw if isinstance(module, nn.Linear) else None, stage))
        return self.graph

    def canonical(self, model=None, read=None):
        same = dict(zip(self.model.modules(), (model or self.model).modules()))
        return [canonical(same[m], read, chw, stage) for m, chw, stage in self.anchors]

    def weights(self):
        return self.canonical()

    def names(self):
        """Each anchor's module path; a stacked nn.LSTM / nn.GRU's layer with its number."""
        paths = self.paths()
        return [
            paths[m] + (f" (layer {stage})" if getattr(m, "num_layers", 1) > 1 else "")
            for m, _, stage in self.anchors
        ]

    def paths(self):
        return {m: name or type(m).__name__ for name, m in self.model.named_modules()}

    def writes(self, k, layer):
        """The canonical `layer` as writes into the k-th anchor's module (rosetta.transfer)."""
        m, chw, stage = self.anchors[k]
        path = self.paths()[m]
        return [
            Write(
                t,
                np.asarray(value, str(t.dtype).removeprefix("torch.")),
                f"{path}.{name}",
                f"{name} = {rule}",
            )
            for t, name, value, rule in native(m, layer, chw, stage)
        ]

    @staticmethod
    def assign(target, value):
        with torch.no_grad():
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    @staticmethod
    def current(target):
        return target.detach().cpu().numpy().copy()

    def outputs_as_left(self, x):
        return self.capture(x, inference=False) if self.model.training else None

    def training_pass(self, x):
        """One training-mode forward on a deep copy: its graph, and the weights after it."""
        model = copy.deepcopy(self.model).train()
        return self.capture(x, model, inference=False), self.canonical(model)

    def loss_and_grads(self, x, y, loss_fn):
        with eval_mode(self.model):
            loss = loss_fn(self.model(self.input(x)), self.input(y))  # torch losses: (input, target)
            params = [p for p in self.model.parameters() if p.requires_grad]  # a frozen bias_hh: none
            grads = dict(zip(params, torch.autograd.grad(loss, params)))
        return float(loss.detach()), self.canonical(read=grads.get)

    def float64_grads(self, x, y, loss_fn):
        """The gradients of a float64 deep copy, on x and y in float64: measures this model's own
        float32 rounding (rosetta.portcheck.measured.gradient_noise)."""
        model = copy.deepcopy(self.model).double()
        with eval_mode(model):
            loss = loss_fn(model(self.input(x, "float64")), self.input(y, "float64"))
            params = [p for p in model.parameters() if p.requires_grad]
            grads = dict(zip(params, torch.autograd.grad(loss, params)))
        return self.canonical(model, read=grads.get)

    def train(self, x, y, loss_fn, factory, steps):
        """`steps` optimizer steps on a deep copy; the weights, gradients and lr of every step."""
        model = copy.deepcopy(self.model)
        made = factory(model.parameters())
        optimizer, scheduler = made if isinstance(made, tuple) else (made, None)
        record = []
        for _ in range(steps):
            lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad()
            with eval_mode(model):
                loss_fn(model(self.input(x)), self.input(y)).backward()
            grads = self.canonical(model, lambda p: p.grad)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            record.append({"params": self.canonical(model), "grads": grads, "lr": lr})
        return record, form(optimizer)


def form(optimizer):
    """The update rule and hyperparameters of a torch optimizer, for replaying it in NumPy."""
    group = optimizer.param_groups[0]
    decay = group.get("weight_decay", 0.0)
    if type(optimizer) is torch.optim.SGD:
        return {
            "name": "sgd",
            "form": "torch",
            "momentum": group["momentum"],
            "nesterov": group["nesterov"],
            "weight_decay": decay,
            "decoupled": False,
        }
    if type(optimizer) in (torch.optim.Adam, torch.optim.AdamW) and not group["amsgrad"]:
        b1, b2 = group["betas"]
        return {
            "name": "adam",
            "form": "torch",
            "beta1": b1,
            "beta2": b2,
            "eps": group["eps"],
            "weight_decay": decay,
            "decoupled": type(optimizer) is torch.optim.AdamW,
        }
    return None


def loss_function(loss):
    """A name from rosetta.tasks.LOSSES as impl_torch computes it, or the user's own (input, target) loss."""
    if isinstance(loss, str):
        from impl_torch.mlp import named_loss

        return lambda out, y: named_loss(loss, out, y)
    return loss


# ---- the command line: a state_dict into a model built from a description ----

MODULES = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}


def from_spec(spec, dtype):
    """nn.Sequential(Linear, activation, ...) from the JSON description (rosetta.portcheck.files)."""
    sizes, layers = spec["sizes"], []
    for i, act in enumerate(spec["activations"]):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=spec["bias"][i], dtype=getattr(torch, dtype)))
        if act == "leaky_relu":
            layers.append(nn.LeakyReLU(spec.get("alpha") or 0.01))
        elif act == "elu":
            layers.append(nn.ELU(spec.get("alpha") or 1.0))
        elif act == "softmax":
            layers.append(nn.Softmax(dim=1))
        elif act != "linear":
            layers.append(MODULES[act]())
    return nn.Sequential(*layers)


def load(path, make_model):
    """A state_dict saved with torch.save, read with weights_only=True: tensors only, no code runs."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("not a state_dict of tensors (save model.state_dict(), not the model)")
    dtype = str(next(iter(state.values())).dtype).removeprefix("torch.") if state else "float32"
    model = make_model(dtype)
    model.load_state_dict(state)  # strict: a missing, extra or mis-shaped tensor names itself
    return model.eval()


def save(model, path):
    """The model's state_dict, as `load` reads it back."""
    torch.save(model.state_dict(), path)


def make_optimizer(name, lr):
    return lambda params: (torch.optim.Adam if name == "adam" else torch.optim.SGD)(params, lr=lr)
