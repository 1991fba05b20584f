"""Flax NNX: any nnx.Module. Every call of a known submodule is captured (its class's `__call__`
wrapped for the duration); an nnx.Sequential is read element by element, so plain functions such as
nnx.relu in it are ops of the graph; what a module's own `__call__` computes between two submodule
calls is compared where it reaches the next one.

Every computation runs on nnx.clone(model) put in eval mode, the capture under jax.jit (op by op where
jax cannot trace the model); gradients by jax.value_and_grad over the nnx.Param state, steps by the
user's optax transformation on that state. Kernels are (in, out) already.
"""

import functools

import jax
import numpy as np
import optax
from flax import nnx

from foundation.errors import first_line
from foundation.layouts import LSTM_GATES, flax_conv_transpose, gru_blocks, heads_in, heads_out, heads_shaped
from rosetta.portcheck.graph import Deferred, Recorder, Reused
from rosetta.portcheck.layers import Layer, NotSupported, Write, first_layer

# No jax_enable_x64 here: a user holding float64 weights has turned it on (JAX makes float32 arrays
# without it), and a check changes no setting of the user's process (rosetta.portcheck.isolation).

FUNCTIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "silu")
ALPHA = {"leaky_relu": ("negative_slope", 0.01), "elu": ("alpha", 1.0)}  # jax.nn's keyword, default


PARAMETRIZED_MODULES = (
    nnx.Linear,
    nnx.Conv,
    nnx.ConvTranspose,
    nnx.BatchNorm,
    nnx.LayerNorm,
    nnx.RMSNorm,
    nnx.Embed,
    nnx.MultiHeadAttention,
    nnx.RNN,
    nnx.Bidirectional,
)
KNOWN = PARAMETRIZED_MODULES + (nnx.Dropout,)
CONTAINERS = (nnx.Sequential, nnx.List, nnx.Dict)


def modules(model):
    """{id(module): path} of every submodule, the model included (path ())."""
    return {id(module): path for path, module in nnx.iter_modules(model)}


def at(model, path):
    """The submodule at `path` (from nnx.iter_modules) of `model` or of a clone of it."""
    for part in path:
        model = model[part] if isinstance(part, int) else getattr(model, part)
    return model


def unsupported(model):
    """Every module the capture cannot read, named at once: a Flax layer it does not know, or a module
    of the user's that holds parameters of its own."""
    refused = {}
    for path, module in nnx.iter_modules(model):
        within = any(isinstance(at(model, path[:k]), KNOWN) for k in range(len(path)))
        if isinstance(module, KNOWN) and not within:
            try:  # a known module in a form the check does not compare
                describe(module)
            except NotSupported as exc:
                refused[path] = f"{str(exc).removeprefix('not supported yet: ')} ({'.'.join(map(str, path))})"
        if isinstance(module, KNOWN + CONTAINERS) or within:
            continue
        native = type(module).__module__.startswith("flax")
        own = any(isinstance(value, nnx.Param) for value in vars(module).values())
        if native or own:
            refused[path] = f"Flax {type(module).__name__} ({'.'.join(map(str, path)) or 'the model'})"
    inside = lambda path: any(path[: len(p)] == p and path != p for p in refused)  # noqa: E731
    found = [name for path, name in refused.items() if not inside(path)]
    for element in sequential_elements(model):
        try:
            describe(element)
        except NotSupported as exc:
            found.append(str(exc).removeprefix("not supported yet: "))
    if found:
        raise NotSupported(f"not supported yet: {', '.join(dict.fromkeys(found))}")


def sequential_elements(model):
    return [
        element
        for _, module in nnx.iter_modules(model)
        if isinstance(module, nnx.Sequential)
        for element in module.layers
        if not isinstance(element, nnx.Module)
    ]


def describe(layer):
    if isinstance(layer, nnx.Linear):
        n_in, n_out = layer.in_features, layer.out_features
        return Layer("dense", f"Linear({n_in}→{n_out})", n_in, n_out, layer.bias is not None)
    if isinstance(layer, nnx.BatchNorm):
        n, name = layer.num_features, f"BatchNorm(ε={layer.epsilon:g}, momentum={layer.momentum:g})"
        momentum = 1 - layer.momentum  # Flax keeps momentum·old: the batch's weight is 1 − momentum
        return Layer("batchnorm", name, n, n, layer.bias is not None, eps=layer.epsilon, momentum=momentum)
    if isinstance(layer, nnx.LayerNorm):
        n = layer.num_features
        return Layer(
            "layernorm", f"LayerNorm(ε={layer.epsilon:g})", n, n, layer.bias is not None, eps=layer.epsilon
        )
    if isinstance(layer, (nnx.Conv, nnx.ConvTranspose)):
        return describe_conv(layer)
    if isinstance(layer, nnx.RMSNorm):
        if layer.feature_axes not in (-1, (-1,)):
            raise NotSupported("not supported yet: Flax RMSNorm over other than the last axis")
        n = layer.num_features
        return Layer("rmsnorm", f"RMSNorm(ε={layer.epsilon:g})", n, n, eps=layer.epsilon)
    if isinstance(layer, nnx.Embed):
        n, d = layer.num_embeddings, layer.features
        return Layer("embedding", f"Embed({n}, {d})", n, d, shape=(None,))
    if isinstance(layer, nnx.Dropout):
        return Layer("dropout", f"Dropout({layer.rate:g})", rate=layer.rate)
    if isinstance(layer, nnx.MultiHeadAttention):
        return describe_attention(layer)
    if isinstance(layer, nnx.RNN):
        return describe_rnn(layer)
    if isinstance(layer, nnx.Bidirectional):
        return describe_bidirectional(layer)
    if isinstance(layer, nnx.Module):
        raise NotSupported(f"not supported yet: Flax {type(layer).__name__}")
    return describe_function(layer)


def describe_conv(layer):
    """nnx.Conv in 2-D, square kernel and strides, "SAME" (TensorFlow's: the odd pixel bottom/right) or
    "VALID", no dilation or groups: its kernel is already (kh, kw, in, out)."""
    kernel, strides = tuple(layer.kernel_size), layer.strides
    strides = (strides,) * 2 if isinstance(strides, int) else tuple(strides or (1, 1))
    plain = getattr(layer, "feature_group_count", 1) == 1 and layer.kernel_dilation in (1, (1, 1), None)
    strides = strides[: len(kernel)] if len(strides) > len(kernel) else strides
    if len(kernel) not in (1, 2) or len(set(kernel)) != 1 or len(set(strides)) != 1 or not plain:
        raise NotSupported(
            "not supported yet: Flax Conv other than 1-D or 2-D, square, no dilation or groups"
        )
    cls = type(layer).__name__
    if layer.padding not in ("SAME", "VALID"):
        raise NotSupported(f"not supported yet: Flax {cls}(padding={layer.padding!r})")
    k, s, c, f = kernel[0], strides[0], layer.in_features, layer.out_features
    name = f"{cls}({c}→{f}, k={k}, s={s}, padding={layer.padding!r})"
    kind = (
        "conv_transpose"
        if isinstance(layer, nnx.ConvTranspose)
        else "conv1d"
        if len(kernel) == 1
        else "conv2d"
    )
    return Layer(kind, name, c, f, layer.bias is not None, config=(k, s))


def describe_attention(layer):
    """nnx.MultiHeadAttention with the default dot_product_attention, no normalize_qk, not decoding: its
    mask is an argument of the call, not structure."""
    if layer.normalize_qk or layer.decode or layer.attention_fn is not nnx.dot_product_attention:
        raise NotSupported(
            "not supported yet: Flax MultiHeadAttention with normalize_qk, decode or its own attention_fn"
        )
    h, d, n = layer.num_heads, layer.head_dim, layer.in_features
    name = f"MultiHeadAttention({n}, heads={h})"
    return Layer("attention", name, n, layer.out_features, layer.use_bias, config=(h, d))


def describe_rnn(layer):
    """nnx.RNN over an nnx.LSTMCell or nnx.GRUCell (sigmoid gates, tanh), batch-major, returning its
    outputs: the sequence (N, T, u)."""
    cell = layer.cell
    plain = (
        getattr(cell, "gate_fn", None) is jax.nn.sigmoid
        and getattr(cell, "activation_fn", None) is jax.nn.tanh
    )
    if (
        not isinstance(cell, (nnx.LSTMCell, nnx.GRUCell))
        or not plain
        or layer.time_major
        or layer.return_carry
    ):
        raise NotSupported(
            "not supported yet: Flax RNN other than a batch-major nnx.LSTMCell or nnx.GRUCell "
            "(sigmoid, tanh) returning its outputs"
        )
    kind = "lstm" if isinstance(cell, nnx.LSTMCell) else "gru"
    name = f"RNN({type(cell).__name__}({cell.in_features}→{cell.hidden_features}))"
    return Layer(kind, name, cell.in_features, cell.hidden_features, True)


def describe_bidirectional(layer):
    """nnx.Bidirectional of two such RNNs, outputs concatenated (its default merge_fn)."""
    forward, backward = describe_rnn(layer.forward_rnn), describe_rnn(layer.backward_rnn)
    if (
        forward.kind != backward.kind
        or forward.n_out != backward.n_out
        or layer.time_major
        or layer.return_carry
    ):
        raise NotSupported("not supported yet: Flax Bidirectional other than two like RNNs returning outputs")
    if getattr(layer.merge_fn, "__name__", "") != "_concatenate":
        raise NotSupported("not supported yet: Flax Bidirectional with its own merge_fn")
    name = f"Bidirectional({forward.name})"
    return Layer(forward.kind, name, forward.n_in, 2 * forward.n_out, True, config=("bidirectional",))


def describe_function(fn):
    """nnx.relu, jax.nn.gelu, functools.partial(nnx.leaky_relu, negative_slope=0.2), ..."""
    kwargs = fn.keywords if isinstance(fn, functools.partial) else {}
    name = getattr(fn.func if isinstance(fn, functools.partial) else fn, "__name__", type(fn).__name__)
    if name not in FUNCTIONS:
        raise NotSupported(f"not supported yet: {name}")
    if name == "gelu":  # jax.nn.gelu's default is the tanh approximation; torch's and Keras's is exact
        return Layer(
            "act",
            f"gelu{'' if kwargs.get('approximate', True) else '(exact)'}",
            act="gelu_tanh" if kwargs.get("approximate", True) else "gelu",
        )
    key, default = ALPHA.get(name, (None, None))
    alpha = kwargs.get(key, default) if key else None
    return Layer("act", name if alpha is None else f"{name}({alpha:g})", act=name, alpha=alpha)


def numpy(variable):
    return None if variable is None else np.array(variable[...])


def canonical(layer, trainable=False, use=""):
    """A parametrized layer's weights in canonical layout (or, on a model merged from a gradient
    state, its gradients: trainable=True leaves out BatchNorm's statistics); use="attend": an Embed's
    table as the output kernel (E, V) of Embed.attend."""
    if use == "attend":
        return {"W": numpy(layer.embedding).T}
    if isinstance(layer, nnx.Embed):
        return {"W": numpy(layer.embedding)}  # (num_embeddings, features)
    if isinstance(layer, nnx.RNN):
        return cell(layer.cell)
    if isinstance(layer, nnx.Bidirectional):
        reverse = {f"{key}_r": value for key, value in cell(layer.backward_rnn.cell).items()}
        return cell(layer.forward_rnn.cell) | reverse
    if isinstance(layer, nnx.MultiHeadAttention):  # LinearGeneral kernels (E, h, d), out (h, dv, E)
        weights = {
            f"{w}{p}": numpy(getattr(getattr(layer, name), attr))
            for p, name in zip("qkvo", ("query", "key", "value", "out"))
            for w, attr in (("W", "kernel"), ("b", "bias"))
        }
        return {
            k: heads_out(v) if k == "Wo" else v if k == "bo" else heads_in(v)
            for k, v in weights.items()
            if v is not None
        }
    if isinstance(layer, nnx.ConvTranspose):  # (kh, kw, in, out), unflipped unless transpose_kernel
        weights = {
            "W": flax_conv_transpose(numpy(layer.kernel), layer.transpose_kernel),
            "b": numpy(layer.bias),
        }
    elif isinstance(layer, (nnx.Linear, nnx.Conv)):
        weights = {"W": numpy(layer.kernel), "b": numpy(layer.bias)}  # (in, out), (kh, kw, in, out)
    else:
        weights = {"gamma": numpy(layer.scale), "beta": numpy(getattr(layer, "bias", None))}  # RMSNorm: no β
        if isinstance(layer, nnx.BatchNorm) and not trainable:
            weights |= {"moving_mean": numpy(layer.mean), "moving_variance": numpy(layer.var)}
    return {key: value for key, value in weights.items() if value is not None}


def cell(layer):
    """An nnx.LSTMCell's per-gate Linears as canonical {"W": (in, 4u), "U": (u, 4u), "b"} (blocks i, f,
    g, o; the bias on the h side), or an nnx.GRUCell's dense_i / dense_h (blocks r, z, n -> z, r, h;
    no recurrent bias: b[1] is zero, and has no gradient)."""
    if isinstance(layer, nnx.LSTMCell):
        gates = ("i", "f", "g", "o")
        W = np.concatenate(
            [numpy(getattr(layer, f"i{g}" if g != "f" else "if_").kernel) for g in gates], axis=1
        )
        U = np.concatenate([numpy(getattr(layer, f"h{g}").kernel) for g in gates], axis=1)
        return {"W": W, "U": U, "b": np.concatenate([numpy(getattr(layer, f"h{g}").bias) for g in gates])}
    b = gru_blocks(numpy(layer.dense_i.bias))
    return {
        "W": gru_blocks(numpy(layer.dense_i.kernel)),
        "U": gru_blocks(numpy(layer.dense_h.kernel)),
        "b": np.stack([b, np.zeros_like(b)]),
    }


# ---- the inverse: canonical weights into a module (rosetta.transfer) ----

NORM_NAMES = (("scale", "gamma"), ("bias", "beta"), ("mean", "moving_mean"), ("var", "moving_variance"))


def native(layer, weights, use=""):
    """The inverse of `canonical`: [(variable, its name in the layer, value, how it reads in the
    canonical keys)] that make the layer hold the canonical `weights`."""
    if use == "attend":
        return [(layer.embedding, "embedding", weights["W"].T, "Wᵀ")]
    if isinstance(layer, nnx.Embed):
        return [(layer.embedding, "embedding", weights["W"], "W")]
    if isinstance(layer, nnx.RNN):
        return cell_native(layer.cell, weights, "cell.")
    if isinstance(layer, nnx.Bidirectional):
        reverse = {key: weights[f"{key}_r"] for key in "WUb"}
        forward = cell_native(layer.forward_rnn.cell, weights, "forward_rnn.cell.")
        return forward + cell_native(layer.backward_rnn.cell, reverse, "backward_rnn.cell.", "_r")
    if isinstance(layer, nnx.MultiHeadAttention):
        return attention_native(layer, weights)
    if isinstance(layer, (nnx.Linear, nnx.Conv, nnx.ConvTranspose)):
        flipped = isinstance(layer, nnx.ConvTranspose) and not layer.transpose_kernel  # its own inverse
        kernel = flax_conv_transpose(weights["W"], False) if flipped else weights["W"]
        rule = "W[::-1, ::-1], in and out swapped" if flipped else "W"
        bias = [(layer.bias, "bias", weights["b"], "b")] if "b" in weights else []
        return [(layer.kernel, "kernel", kernel, rule)] + bias
    return [(getattr(layer, name), name, weights[key], key) for name, key in NORM_NAMES if key in weights]


def cell_native(cell, weights, path, back=""):
    """An nnx.LSTMCell's per-gate Linears, or an nnx.GRUCell's dense_i and dense_h, from canonical W, U,
    b: the inverse of `cell`. A GRUCell has no recurrent bias: b[1] must be 0 (the candidate's sits
    inside r ⊙ (…), and a b[1] folded into b[0] would read as other weights to rosetta.check)."""
    if isinstance(cell, nnx.LSTMCell):
        found = []
        for gate, w, u, b in zip(LSTM_GATES, *(np.split(weights[key], 4, axis=-1) for key in "WUb")):
            x_side, h_side = "if_" if gate == "f" else f"i{gate}", f"h{gate}"
            found += [
                (getattr(cell, x_side).kernel, f"{path}{x_side}.kernel", w, f"W{back}[{gate}]"),
                (getattr(cell, h_side).kernel, f"{path}{h_side}.kernel", u, f"U{back}[{gate}]"),
                (getattr(cell, h_side).bias, f"{path}{h_side}.bias", b, f"b{back}[{gate}]"),
            ]
        return found
    b0, b1 = weights["b"]
    if np.any(b1):
        raise NotSupported(
            f"Flax's nnx.GRUCell has no recurrent bias: b{back}[1] must be 0 (it is up to "
            f"{np.max(np.abs(b1)):.3g})"
        )
    return [
        (cell.dense_i.kernel, f"{path}dense_i.kernel", gru_blocks(weights["W"]), f"blocks(W{back})"),
        (cell.dense_h.kernel, f"{path}dense_h.kernel", gru_blocks(weights["U"]), f"blocks(U{back})"),
        (cell.dense_i.bias, f"{path}dense_i.bias", gru_blocks(b0), f"blocks(b{back}[0])"),
    ]


def attention_native(layer, weights):
    """nnx.MultiHeadAttention's query, key, value and out kernels (E, h, d), (h, d, E) and biases from
    canonical Wq, bq, …, Wo, bo."""
    found = []
    for p, name in zip("qkvo", ("query", "key", "value", "out")):
        for key, attr in ((f"W{p}", "kernel"), (f"b{p}", "bias")):
            variable = getattr(getattr(layer, name), attr)
            if variable is not None:
                shaped = heads_shaped(weights[key], variable.shape)
                found.append((variable, f"{name}.{attr}", shaped, f"{key} as {tuple(variable.shape)}"))
    return found


def dropout_active(model):
    return any(
        isinstance(m, nnx.Dropout) and m.rate and not m.deterministic for _, m in nnx.iter_modules(model)
    )


def inference_copy(model):
    clone = nnx.clone(model)
    clone.eval()  # Dropout off, BatchNorm on its running statistics
    return clone


def attention_inputs(inputs_q, inputs_k=None, inputs_v=None, **_):
    """nnx.MultiHeadAttention's (inputs_q, inputs_k=None, inputs_v=None): k defaults to q, v to k."""
    inputs_k = inputs_q if inputs_k is None else inputs_k
    return [inputs_q, inputs_k, inputs_k if inputs_v is None else inputs_v]


class Capture:
    """Records every call of a known module of `model` (and every element of its nnx.Sequentials) with
    its input and output while the model runs."""

    def __init__(self, model, recorder=None):
        self.mine, self.recorder, self.depth, self.saved = set(modules(model)), recorder or Recorder(), 0, {}
        self.reused = {}

    def __enter__(self):
        for cls in KNOWN + (nnx.Sequential,):
            self.saved[cls, "__call__"] = cls.__dict__.get("__call__")
            cls.__call__ = self.wrap(cls, cls.__call__)
        self.saved[nnx.Embed, "attend"] = nnx.Embed.__dict__["attend"]
        nnx.Embed.attend = self.wrap_attend(nnx.Embed.attend)
        return self

    def __exit__(self, *exc):
        for (cls, method), call in self.saved.items():
            if call is None:
                delattr(cls, method)
            else:
                setattr(cls, method, call)

    def wrap_attend(self, attend):
        """nnx.Embed.attend(query) = query @ tableᵀ: the table used again as an output layer, an anchor
        of its own that ties to the Embed (graph.Reused)."""

        def recorded(module, query):
            out = attend(module, query)
            if not self.depth and id(module) in self.mine:
                n, d = module.num_embeddings, module.features
                layer = Layer("dense", f"Embed.attend({d}→{n})", d, n, False)
                owner = self.reused.setdefault(id(module), Reused(module))
                value = self.recorder.value
                self.recorder.add("attend", layer, [(query, value(query))], out, value(out), owner)
            return out

        return recorded

    def wrap(self, cls, call):
        def recorded(module, *args, **kwargs):
            if self.depth or id(module) not in self.mine:
                return call(module, *args, **kwargs)
            if isinstance(module, nnx.Sequential):
                return self.sequential(module, args[0])
            self.depth += 1
            try:
                out = call(module, *args, **kwargs)
            finally:
                self.depth -= 1
            owner = module if isinstance(module, PARAMETRIZED_MODULES) else None
            name = type(module).__name__.lower()
            inputs = (
                attention_inputs(*args, **kwargs) if isinstance(module, nnx.MultiHeadAttention) else args[:1]
            )
            value = self.recorder.value
            self.recorder.add(name, describe(module), [(t, value(t)) for t in inputs], out, value(out), owner)
            return out

        return recorded

    def sequential(self, module, x):
        """nnx.Sequential's loop, element by element: a plain function is an op of the graph."""
        for element in module.layers:
            if isinstance(element, nnx.Module):
                x = element(x)
                continue
            out = element(x)
            layer = describe_function(element)
            value = self.recorder.value
            self.recorder.add(layer.name.split("(")[0], layer, [(x, value(x))], out, value(out))
            x = out
        return x


COMPILED = {}  # (graphdef, the state's and x's shapes) -> (compiled capture, its trace's calls, paths)


def traced_capture(model, x):
    """Capture on nnx.merge of the model's state inside jax.jit, compiled once per structure and
    shapes (as nnx.jit caches on the graphdef); the anchors' owners mapped back to `model`'s modules
    by path, and its state (BatchNorm's statistics, RNG counts) updated as a call updates it."""
    graphdef, state = nnx.split(model)
    leaves, tree = jax.tree.flatten(state)
    key = (graphdef, tree, tuple((a.shape, a.dtype) for a in leaves), x.shape, x.dtype)
    if key not in COMPILED:
        if len(COMPILED) == 64:  # the oldest goes: a long session checks many models
            COMPILED.pop(next(iter(COMPILED)))
        COMPILED[key] = compiled_capture(graphdef, state, x)
    compiled, recorder, paths = COMPILED[key]
    values, state = compiled(state, x)
    mapped = lambda module: at(model, paths[id(module)])  # noqa: E731
    graph = recorder.replay(
        [np.asarray(v) for v in values],
        lambda o: Reused(mapped(o.weight), o.use) if isinstance(o, Reused) else mapped(o),
    )
    nnx.update(model, state)
    return graph


def compiled_capture(graphdef, state, x):
    """jax.jit of one captured call, traced once: the Deferred calls of that trace and the path of
    each module of the traced copy."""
    found = []

    def run(state, x):
        inner = nnx.merge(graphdef, state)
        with Capture(inner, Deferred()) as capture:
            capture.recorder.input(x, x)
            out = inner(x)
            capture.recorder.output(out, out)
        found.append((capture.recorder, modules(inner)))
        return capture.recorder.values, nnx.state(inner)

    compiled = jax.jit(run).lower(state, x).compile()
    return (compiled, *found[0])


class FlaxModel:
    framework = "flax"

    def __init__(self, model):
        unsupported(model)
        self.model = model
        params = [m for _, m in nnx.iter_modules(model) if isinstance(m, PARAMETRIZED_MODULES)]
        self.first = first_layer(map(describe, params))
        kernels = [m.kernel[...] for m in params if isinstance(m, (nnx.Linear, nnx.Conv))]
        self.dtype = str(kernels[0].dtype) if kernels else "float32"
        self.compute_dtype = self.dtype
        self.notes = ["Flax Dropout left active (deterministic=False)"] if dropout_active(model) else []
        self.compiled = {}  # (x, y, loss) -> the compiled loss-and-gradient

    def capture(self, x, model=None):
        """The graph of one call of `model` (an inference copy by default), compiled: under jax.jit the
        model is one XLA program, where op by op each op compiles once per shape. A model jax cannot
        trace (Python reading its values) runs op by op, and so does one that fails: its own error."""
        model, x = model or inference_copy(self.model), self.tensor(x)
        try:
            return traced_capture(model, x)
        except Exception:  # noqa: BLE001 (the eager run below raises what is really wrong)
            return self.eager_capture(model, x)

    def eager_capture(self, model, x):
        with Capture(model) as capture:
            capture.recorder.input(x, np.asarray(x))
            try:
                out = model(x)
            except NotSupported:
                raise
            except (ValueError, TypeError) as exc:  # one line, no traceback
                raise ValueError(f"the Flax model does not run on x: {first_line(exc)}") from exc
        return capture.recorder.output(out, np.asarray(out))

    def bind(self, x):
        """Capture the graph on an inference copy; each anchor's path finds it in any clone."""
        model = inference_copy(self.model)
        self.graph, paths = self.capture(x, model), modules(model)
        self.paths = [
            (paths[id(node.owner.weight)], "attend")
            if isinstance(node.owner, Reused)
            else (paths[id(node.owner)], "")
            for node in self.graph.anchors
        ]
        return self.graph

    def weights(self, model=None):
        return [canonical(at(model or self.model, path), use=use) for path, use in self.paths]

    def names(self):
        return [
            ".".join(map(str, (*path, use) if use else path)) or type(self.model).__name__
            for path, use in self.paths
        ]

    def writes(self, k, layer):
        """The canonical `layer` as writes into the k-th anchor's variables (rosetta.transfer). NNX makes
        BatchNorm's statistics float32 whatever param_dtype is: they take the model's dtype."""
        path, use = self.paths[k]
        prefix = "".join(f"{part}." for part in path)
        return [
            Write(
                v,
                np.asarray(value, self.dtype if isinstance(v, nnx.BatchStat) else v.dtype),
                prefix + name,
                f"{name} = {rule}",
            )
            for v, name, value, rule in native(at(self.model, path), layer, use)
        ]

    @staticmethod
    def assign(target, value):
        target.set_value(jax.numpy.asarray(value))

    @staticmethod
    def current(target):
        return np.array(target[...])

    def tensor(self, a):
        a = np.asarray(a)
        return a if a.dtype.kind in "iu" else a.astype(self.dtype)

    def outputs_as_left(self, x):
        return self.capture(x, nnx.clone(self.model)) if dropout_active(self.model) else None

    def training_pass(self, x):
        """One training-mode forward on a clone: its graph, and the weights after it."""
        model = nnx.clone(self.model)
        model.train()  # BatchNorm on the batch statistics, updating its running ones
        return self.capture(x, model), self.weights(model)

    def loss_and_grads(self, x, y, loss_fn):
        graphdef, params, rest = nnx.split(inference_copy(self.model), nnx.Param, ...)
        loss, grads = self.gradient(graphdef, rest, x, y, loss_fn)(params)
        return float(loss), self.grads(graphdef, grads, rest)

    def gradient(self, graphdef, rest, x, y, loss_fn):
        """The loss and its gradient over the nnx.Param state, by nnx.value_and_grad under nnx.jit,
        compiled once per check (the loss and gradients, then the steps, reuse it): NNX's own
        transforms, which carry a module that updates its own state as it runs (an nnx.RNN's RNG
        counts)."""
        key = (id(x), id(y), id(loss_fn))
        if key not in self.compiled:
            inputs, targets = self.tensor(x), self.tensor(y)

            @nnx.jit
            def value_and_grad(model):
                return nnx.value_and_grad(lambda m: loss_fn(m(inputs), targets))(model)

            self.compiled[key] = (x, y, loss_fn, value_and_grad)  # the keys' objects kept alive
        compiled = self.compiled[key][-1]
        return lambda params: compiled(nnx.merge(graphdef, params, rest))

    def grads(self, graphdef, grads, rest):
        """A gradient state merged into the model's shape: its layers hold the gradients."""
        merged = nnx.merge(graphdef, grads, rest)
        return [canonical(at(merged, path), trainable=True, use=use) for path, use in self.paths]

    def train(self, x, y, loss_fn, tx, steps):
        """`steps` optax updates of the nnx.Param state of an inference copy; no lr to read (optax)."""
        graphdef, params, rest = nnx.split(inference_copy(self.model), nnx.Param, ...)
        gradient, record = self.gradient(graphdef, rest, x, y, loss_fn), []
        # compiled, as a Flax training step is: eagerly, each op of the update compiles per leaf shape
        init, step = jax.jit(tx.init), jax.jit(functools.partial(optax_step, tx))
        state = init(params)
        for _ in range(steps):
            _, grads = gradient(params)
            params, state = step(grads, state, params)
            weights = self.weights(nnx.merge(graphdef, params, rest))
            record.append({"params": weights, "grads": self.grads(graphdef, grads, rest), "lr": None})
        return record, None


def optax_step(tx, grads, state, params):
    """The parameters after one update of the optax transformation, and its state."""
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state


def loss_function(loss):
    """A name from rosetta.tasks.LOSSES as impl_jax computes it, or the user's own (out, y) callable."""
    if isinstance(loss, str):
        from impl_jax.mlp import named_loss

        return lambda out, y: named_loss(loss, out, y)
    return loss


# ---- the command line: a state file into a model built from a description ----


def from_spec(spec, dtype):
    """nnx.Sequential(Linear, activation function, ...) from the JSON description."""
    sizes, layers, dtype = spec["sizes"], [], jax.numpy.dtype(dtype)
    for i, act in enumerate(spec["activations"]):
        layers.append(
            nnx.Linear(
                sizes[i],
                sizes[i + 1],
                use_bias=spec["bias"][i],
                dtype=dtype,
                param_dtype=dtype,
                rngs=nnx.Rngs(0),
            )
        )
        if act in ALPHA:
            key, default = ALPHA[act]
            layers.append(functools.partial(getattr(nnx, act), **{key: spec.get("alpha") or default}))
        elif act == "gelu":
            layers.append(functools.partial(nnx.gelu, approximate=False))
        elif act != "linear":
            layers.append(getattr(nnx, act))
    return nnx.Sequential(*layers)


def load(path, make_model):
    """nnx.to_pure_dict(nnx.state(model)) saved as .msgpack (flax.serialization) or .safetensors
    (keys joined with '.'): arrays only."""
    if str(path).endswith(".msgpack"):
        from flax import serialization

        with open(path, "rb") as f:
            pure = serialization.msgpack_restore(f.read())
    else:
        from safetensors.numpy import load_file

        pure = unflatten(load_file(path))
    leaves = jax.tree_util.tree_leaves(pure)
    model = make_model(str(leaves[0].dtype) if leaves else "float32")
    state = nnx.state(model)
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(model, state)
    return model


def unflatten(flat):
    """{"layers.0.kernel": a} -> {"layers": {0: {"kernel": a}}}, integer keys as nnx's pure dicts have."""
    nested = {}
    for key, value in flat.items():
        *path, last = [int(p) if p.isdigit() else p for p in key.split(".")]
        node = nested
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def save(model, path):
    """nnx.to_pure_dict(nnx.state(model)) as `load` reads it: .msgpack, or .safetensors (keys joined
    with '.')."""
    pure = nnx.to_pure_dict(nnx.state(model))
    if str(path).endswith(".msgpack"):
        from flax import serialization

        with open(path, "wb") as f:
            f.write(serialization.msgpack_serialize(pure))
        return
    from safetensors.numpy import save_file

    flat = nnx.traversals.flatten_mapping(pure)
    save_file({".".join(map(str, key)): np.asarray(value) for key, value in flat.items()}, path)


def make_optimizer(name, lr):
    return (optax.adam if name == "adam" else optax.sgd)(lr)
