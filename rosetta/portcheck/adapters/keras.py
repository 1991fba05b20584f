"""Keras 3: Sequential, functional and subclassed models, on whichever backend Keras runs.

Layers are called one at a time on the input, so every layer's output is seen; a Dense or Conv2D with
a fused activation yields two outputs, its linear part and the activation. Keras's layouts are
canonical (channels_last images, (kh, kw, in, out) kernels, LSTM blocks i, f, g, o with one bias, GRU
reset_after=True blocks z, r, h with a (2, 3u) bias): no array is converted; channels_first,
reset_after=False is refused; Bidirectional's two layers are one anchor. Gradients come from the backend's
own mechanism, steps from a fresh copy of the user's optimizer on a clone of the model.
"""

import contextlib
import inspect

import keras
import numpy as np
from keras import ops

from foundation.errors import first_line
from foundation.layouts import ATTENTION_KEYS, heads_in, heads_out, heads_shaped
from rosetta.portcheck.graph import Recorder, Reused
from rosetta.portcheck.layers import Layer, NotSupported, Write, first_layer

BACKEND = keras.backend.backend()
NAMED = {
    "linear": "linear",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "gelu": "gelu",
    "elu": "elu",
    "leaky_relu": "leaky_relu",
    "log_softmax": "log_softmax",
    "silu": "silu",
    "swish": "silu",
}
FUNCTION_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}  # keras.activations' own defaults


def chain(model):
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def fused(layer):
    """The activation function a Dense applies itself, by name ("linear" when none)."""
    name = getattr(layer.activation, "__name__", "linear")
    if name not in NAMED:
        raise NotSupported(f"not supported yet: Dense(activation={name!r})")
    return name


def describe(layer):
    """One Keras layer as a list of Layers: a Dense or Conv2D with an activation is two."""
    if isinstance(layer, keras.layers.Dense):
        n_in = layer.kernel.shape[0]
        head = Layer("dense", f"Dense({n_in}→{layer.units})", n_in, layer.units, layer.use_bias)
    elif isinstance(layer, keras.layers.Conv2D):
        head = describe_conv(layer)
    elif isinstance(layer, keras.layers.Conv2DTranspose):
        head = describe_conv_transpose(layer)
    elif isinstance(layer, keras.layers.Conv1D):
        head = describe_conv(layer, "conv1d")
    else:
        return [describe_other(layer)]
    act = fused(layer)
    alpha = FUNCTION_ALPHA.get(act)
    return [head] + ([] if act == "linear" else [Layer("act", f"'{act}'", act=NAMED[act], alpha=alpha)])


def square(value, what, layer):
    if len(set(value)) != 1:
        raise NotSupported(f"not supported yet: {type(layer).__name__} with a non-square {what} {value}")
    return value[0]


def channels_last(layer):
    if layer.data_format != "channels_last":
        raise NotSupported(f"not supported yet: {type(layer).__name__}(data_format={layer.data_format!r})")


def describe_conv(layer, kind="conv2d"):
    """Conv2D, or Conv1D (kind "conv1d"; its kernel (k, in, out))."""
    channels_last(layer)
    k, s = square(layer.kernel_size, "kernel", layer), square(layer.strides, "stride", layer)
    cls = type(layer).__name__
    if square(layer.dilation_rate, "dilation", layer) != 1 or layer.groups != 1 or layer.padding == "causal":
        raise NotSupported(f"not supported yet: {cls} with dilation, groups or causal padding")
    c, f = layer.kernel.shape[-2], layer.filters
    name = f"{cls}({c}→{f}, k={k}, s={s}, padding={layer.padding!r})"
    return Layer(kind, name, c, f, layer.use_bias, config=(k, s))


def describe_conv_transpose(layer):
    channels_last(layer)
    k, s = square(layer.kernel_size, "kernel", layer), square(layer.strides, "stride", layer)
    if square(layer.dilation_rate, "dilation", layer) != 1:
        raise NotSupported("not supported yet: Conv2DTranspose with dilation")
    c, f = layer.kernel.shape[3], layer.filters
    name = f"Conv2DTranspose({c}→{f}, k={k}, s={s}, padding={layer.padding!r})"
    return Layer("conv_transpose", name, c, f, layer.use_bias, config=(k, s))


def describe_pool(layer):
    channels_last(layer)
    p = square(layer.pool_size, "window", layer)
    if tuple(layer.strides) != tuple(layer.pool_size) or layer.padding != "valid":
        name = type(layer).__name__
        raise NotSupported(f"not supported yet: {name} other than strides = pool_size, 'valid'")
    kind = "max" if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.MaxPooling1D)) else "avg"
    return Layer("pool", f"{type(layer).__name__}({p})", config=(p, kind))


def describe_recurrent(layer, backwards=False):
    """LSTM / GRU returning its sequence or its last state; go_backwards only inside Bidirectional."""
    name = type(layer).__name__
    acts = [getattr(f, "__name__", "?") for f in (layer.activation, layer.recurrent_activation)]
    if layer.return_state or layer.go_backwards != backwards or layer.stateful:
        raise NotSupported(f"not supported yet: {name} with return_state, go_backwards or stateful")
    if acts != ["tanh", "sigmoid"] or not layer.use_bias:
        raise NotSupported(f"not supported yet: {name} other than tanh/sigmoid with a bias")
    if isinstance(layer, keras.layers.GRU) and not layer.reset_after:
        raise NotSupported("not supported: GRU(reset_after=False) is another function, not a layout")
    n_in = layer.cell.kernel.shape[0]
    return Layer(name.lower(), f"{name}({n_in}→{layer.units})", n_in, layer.units, True)


def describe_bidirectional(layer):
    """Bidirectional(LSTM or GRU), its two outputs concatenated: canonical forward then reverse."""
    inner = [describe_recurrent(layer.forward_layer), describe_recurrent(layer.backward_layer, True)]
    if layer.merge_mode != "concat" or inner[0].n_out != inner[1].n_out or inner[0].kind != inner[1].kind:
        raise NotSupported("not supported yet: Bidirectional other than merge_mode='concat' of one layer")
    head = inner[0]
    name = f"Bidirectional({head.name})"
    return Layer(head.kind, name, head.n_in, 2 * head.n_out, True, config=("bidirectional",))


def flat_shape(layer):
    """(H, W, C) that a Flatten flattens, when Keras knows it."""
    try:
        shape = tuple(layer.input.shape[1:])
    except (AttributeError, ValueError):
        return ()
    return shape if len(shape) == 3 else ()


def describe_other(layer):
    L = keras.layers  # noqa: N806
    if isinstance(layer, L.BatchNormalization):
        n, name = (
            layer.gamma.shape[0],
            f"BatchNormalization(ε={layer.epsilon:g}, momentum={layer.momentum:g})",
        )
        momentum = 1 - layer.momentum  # Keras keeps momentum·old: the batch's weight is 1 − momentum
        return Layer("batchnorm", name, n, n, layer.center, eps=layer.epsilon, momentum=momentum)
    if isinstance(layer, L.LayerNormalization):
        n = layer.gamma.shape[0]
        return Layer(
            "layernorm", f"LayerNormalization(ε={layer.epsilon:g})", n, n, layer.center, eps=layer.epsilon
        )
    if isinstance(layer, L.RMSNormalization):
        if list(np.atleast_1d(layer.axis)) != [-1]:
            raise NotSupported("not supported yet: RMSNormalization over other than the last axis")
        n = layer.scale.shape[-1]
        return Layer("rmsnorm", f"RMSNormalization(ε={layer.epsilon:g})", n, n, eps=layer.epsilon)
    if isinstance(layer, L.LeakyReLU):
        return Layer(
            "act", f"LeakyReLU({layer.negative_slope:g})", act="leaky_relu", alpha=layer.negative_slope
        )
    if isinstance(layer, L.ELU):
        return Layer("act", f"ELU({layer.alpha:g})", act="elu", alpha=layer.alpha)
    if isinstance(layer, L.Softmax):
        return Layer("act", "Softmax", act="softmax")
    if isinstance(layer, L.ReLU) and not (
        layer.negative_slope or layer.max_value is not None or layer.threshold
    ):
        return Layer("act", "ReLU", act="relu")
    if isinstance(layer, L.Activation):
        act = getattr(layer.activation, "__name__", "?")
        if act not in NAMED:
            raise NotSupported(f"not supported yet: Activation({act!r})")
        return Layer("act", f"Activation('{act}')", act=NAMED[act], alpha=FUNCTION_ALPHA.get(act))
    if isinstance(layer, L.Dropout):
        return Layer("dropout", f"Dropout({layer.rate:g})", rate=layer.rate)
    if isinstance(layer, L.Flatten):
        return Layer("flatten", "Flatten", shape=flat_shape(layer))
    if isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D, L.MaxPooling1D, L.AveragePooling1D)):
        return describe_pool(layer)
    if isinstance(layer, (L.LSTM, L.GRU)):
        return describe_recurrent(layer)
    if isinstance(layer, L.Bidirectional):
        return describe_bidirectional(layer)
    if isinstance(layer, L.MultiHeadAttention):
        return describe_attention(layer)
    if isinstance(layer, L.ReversibleEmbedding) and not (layer.tie_weights and layer.logit_soft_cap is None):
        raise NotSupported(
            "not supported yet: ReversibleEmbedding other than tie_weights=True without a soft cap"
        )
    if isinstance(layer, L.Embedding):
        n, d = layer.embeddings.shape
        return Layer("embedding", f"Embedding({n}, {d})", n, d, shape=(None,))
    if isinstance(layer, (L.GlobalAveragePooling2D, L.GlobalAveragePooling1D)):
        channels_last(layer)
        if layer.keepdims:
            raise NotSupported(f"not supported yet: {type(layer).__name__}(keepdims=True)")
        return Layer("pool", type(layer).__name__, config=("global", "avg"))
    if isinstance(layer, (L.Add, L.Multiply, L.Concatenate)):
        kind = {L.Add: "add", L.Multiply: "mul", L.Concatenate: "concat"}[type(layer)]
        return Layer(kind, type(layer).__name__)
    if isinstance(layer, (L.Reshape, L.Permute, L.Identity)):
        return Layer("reshape", type(layer).__name__)
    raise NotSupported(f"not supported yet: {type(layer).__name__}")


def describe_attention(layer):
    """MultiHeadAttention over the sequence axis (attention_axes None), no dropout on the scores in
    inference: its masks are arguments of the call, not structure."""
    if layer._attention_axes not in (None, (1,)) or layer._output_shape is not None:
        raise NotSupported("not supported yet: MultiHeadAttention with attention_axes or output_shape")
    h, d, n = layer._num_heads, layer._key_dim, layer._query_dense.kernel.shape[0]
    name = f"MultiHeadAttention({n}, heads={h}, key_dim={d})"
    return Layer("attention", name, n, layer._output_dense.kernel.shape[-1], layer._use_bias, config=(h, d))


OPERATIONS = {"Add": "add", "Multiply": "mul", "Concatenate": "concat", "Reshape": "reshape"}
OPERATION_ACTS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax"}


def describe_operation(op):
    """A keras.ops call in a functional graph (keras.ops.add, keras.ops.relu ...)."""
    name = type(op).__name__
    if name == "Gelu":  # keras.ops.gelu: approximate=True by default, unlike activations.gelu
        return Layer("act", "ops.gelu", act="gelu_tanh" if op.approximate else "gelu")
    if name in OPERATION_ACTS:
        return Layer("act", name.lower(), act=OPERATION_ACTS[name])
    return Layer(OPERATIONS.get(name, "op"), name.lower())


def numpy(value):
    if hasattr(value, "indices") and hasattr(value, "dense_shape"):  # TensorFlow's IndexedSlices gradient
        import tensorflow as tf

        value = tf.convert_to_tensor(value)
    return np.array(ops.convert_to_numpy(value))


def keys(layer, trainable=False):
    """Canonical names of a layer's variables, in Keras's order (layer.weights)."""
    if isinstance(
        layer, (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv1D, keras.layers.Conv2DTranspose)
    ):
        return ["W"] + (
            ["b"] if layer.use_bias else []
        )  # already (in, out), (kh, kw, in, out), (kh, kw, out, in)
    if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        return ["W", "U", "b"]  # kernel, recurrent_kernel, bias: canonical blocks and biases
    if isinstance(layer, keras.layers.Bidirectional):  # the forward layer's, then the backward one's
        return ["W", "U", "b", "W_r", "U_r", "b_r"]
    if isinstance(layer, keras.layers.Embedding):
        return ["W"]  # (input_dim, output_dim), as torch's and Flax's tables
    if isinstance(layer, keras.layers.RMSNormalization):
        return ["gamma"]  # scale
    if isinstance(layer, keras.layers.MultiHeadAttention):  # query, key, value, attention_output
        return [key for key in ATTENTION_KEYS if layer._use_bias or key[0] == "W"]
    names = (["gamma"] if layer.scale else []) + (["beta"] if layer.center else [])
    stats = isinstance(layer, keras.layers.BatchNormalization) and not trainable
    return names + (["moving_mean", "moving_variance"] if stats else [])


def canonical(layer, arrays, trainable=False):
    """A parametrized layer's weights (or its gradients, trainable=True) in canonical layout."""
    found = dict(zip(keys(layer, trainable), map(numpy, arrays), strict=True))
    if isinstance(layer, keras.layers.MultiHeadAttention):  # kernels (E, h, d), (h, dv, E), biases (h, d)
        return {
            key: heads_out(a) if key == "Wo" else a if key == "bo" else heads_in(a)
            for key, a in found.items()
        }
    return found


def native(layer, canonical_layer):
    """The inverse of `canonical`: [(variable, its name, value, how it reads in the canonical keys)] that
    make the layer hold `canonical_layer`; only MultiHeadAttention's projections change shape (heads)."""
    found = []
    for key, variable in zip(keys(layer), layer.weights, strict=True):
        heads = isinstance(layer, keras.layers.MultiHeadAttention) and key != "bo"
        value = heads_shaped(canonical_layer[key], variable.shape) if heads else canonical_layer[key]
        found.append((variable, variable.name, value, key + (f" as {variable.shape}" if heads else "")))
    return found


PARAMETRIZED = (
    keras.layers.Dense,
    keras.layers.Conv2D,
    keras.layers.Conv1D,
    keras.layers.Conv2DTranspose,
    keras.layers.LSTM,
    keras.layers.GRU,
    keras.layers.Bidirectional,
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.RMSNormalization,
    keras.layers.Embedding,
    keras.layers.MultiHeadAttention,
)


def walk(layer):
    """The sublayers in the order they were set, depth first (Keras's own _flatten_layers reverses
    each nested layer's list)."""
    for sub in layer._layers:
        yield sub
        yield from walk(sub)


def inner(model):
    """Every layer and graph operation of the model, nested models and layers included."""
    found = [layer for layer in walk(model) if not isinstance(layer, keras.layers.InputLayer)]
    for op in getattr(model, "operations", []):
        if not isinstance(op, keras.layers.Layer):
            found.append(op)
    return found


def known(layer):
    """The Layers `layer` is read as, or None for a container (a nested model, a layer of layers that
    this module does not know: its sublayers are read instead). An unknown layer without weights is an
    op of the graph; one with weights is refused."""
    if not isinstance(layer, keras.layers.Layer):
        return [describe_operation(layer)]
    if isinstance(layer, keras.Model):
        return None
    try:
        return describe(layer)
    except NotSupported as exc:
        if str(exc) != f"not supported yet: {type(layer).__name__}":
            raise  # a known layer in a form the check does not compare
        if layer._layers:
            return None
        if (
            not layer.weights
        ):  # a layer without weights (Rescaling, UpSampling2D ...): an op, compared after it
            return [Layer("op", type(layer).__name__)]
        raise


def readable(model):
    """{layer: its Layers} for every layer the capture records; every unsupported one named at once."""
    table, refused, seen = {}, [], []
    for layer in inner(model):
        if any(layer is outer or contains(outer, layer) for outer in seen):
            continue
        try:
            found = known(layer)
        except NotSupported as exc:
            refused.append(str(exc).removeprefix("not supported yet: "))
            seen.append(layer)
            continue
        if found is not None:
            table[layer] = found
            seen.append(layer)
    if refused:
        raise NotSupported(f"not supported yet: {', '.join(dict.fromkeys(refused))}")
    return table


def contains(outer, layer):
    return isinstance(outer, keras.layers.Layer) and any(
        layer is inside for inside in outer._flatten_layers(include_self=False)
    )


class Capture:
    """Records every known layer's call (its `call` wrapped on the instance for the duration) with its
    inputs and output: functional, Sequential and subclassed models alike; what a subclassed `call`
    computes between two layers is seen only where it reaches the next one."""

    def __init__(self, table):
        self.table, self.recorder, self.depth = table, Recorder(), 0

    def __enter__(self):
        for layer in self.table:
            object.__setattr__(layer, "call", self.wrap(layer, layer.call))
        return self

    def __exit__(self, *exc):
        for layer in self.table:
            object.__delattr__(layer, "call")

    def wrap(self, layer, call):
        def recorded(*args, **kwargs):
            if self.depth:
                return call(*args, **kwargs)
            self.depth += 1
            try:
                out = call(*args, **kwargs)
            finally:
                self.depth -= 1
            if kwargs.get("reverse"):  # ReversibleEmbedding(tie_weights=True) as the output layer
                self.record_reverse(layer, args[0], out)
            else:
                self.record(layer, attention_inputs(*args, **kwargs) if attention(layer) else args, out)
            return out

        return recorded

    def record_reverse(self, layer, h, out):
        """h @ Eᵀ: the table used again as an output kernel (E, vocab), an anchor tied to the Embedding
        (graph.Reused), as Flax's nnx.Embed.attend."""
        n, d = layer.embeddings.shape
        head = Layer("dense", f"ReversibleEmbedding.reverse({d}→{n})", d, n, False)
        self.recorder.add(f"{layer.name}.reverse", head, [(h, numpy(h))], out, numpy(out), Reused(layer))

    def record(self, layer, args, out):
        found, base = self.table[layer], layer.name
        inputs = [(t, numpy(t)) for t in ops_tensors(args)]
        owner = layer if isinstance(layer, PARAMETRIZED) else None
        if len(found) == 2:  # a Dense or Conv2D with its activation: x @ kernel + bias, then f of it
            pre = linear_part(layer, args[0])
            self.recorder.add(base, found[0], inputs, pre, numpy(pre), owner)
            self.recorder.add(found[1].name.strip("'"), found[1], [(pre, numpy(pre))], out, numpy(out))
        else:
            main = ops_tensors(out)[0]  # MultiHeadAttention(return_attention_scores=True): (out, scores)
            self.recorder.add(base, found[0], inputs, main, numpy(main), owner)


def attention(layer):
    return isinstance(layer, keras.layers.MultiHeadAttention)


def attention_inputs(query, value, key=None, **_):
    """MultiHeadAttention's call(query, value, key=None, ...) as (query, key, value)."""
    return [query, value if key is None else key, value]


def ops_tensors(args):
    if isinstance(args, (list, tuple)):
        return [t for item in args for t in ops_tensors(item)]
    return [args] if hasattr(args, "shape") and hasattr(args, "dtype") else []


def linear_part(layer, a):
    """A Dense's a @ kernel + bias or a Conv2D's convolution + bias, before its fused activation."""
    if isinstance(layer, keras.layers.Dense):
        z = ops.matmul(a, layer.kernel)
    elif isinstance(layer, keras.layers.Conv2DTranspose):
        z = ops.conv_transpose(a, layer.kernel, list(layer.strides), layer.padding, layer.output_padding)
    else:
        z = layer.convolution_op(a, layer.kernel)  # channels_last: the bias broadcasts on the last axis
    return z if layer.bias is None else ops.add(z, layer.bias)


def run_errors():
    """What a backend raises for a model that does not run on x (TensorFlow: an OpError)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return (ValueError, TypeError, tf.errors.OpError)
    return (ValueError, TypeError, RuntimeError)


class KerasModel:
    def __init__(self, model):
        self.model = model
        self.table = readable(model)
        self.first = first_layer(found[0] for found in self.table.values())
        self.framework = f"keras-{BACKEND}"
        self.dtype = str(numpy(model.weights[0]).dtype)  # the array's: without x64, jax holds float32
        self.compute_dtype = self.dtype  # where Keras computes float64 in float32: measured per block
        self.notes = []

    def capture(self, x, training=False):
        with Capture(self.table) as capture:
            x = self.tensor(x)
            capture.recorder.input(x, np.asarray(x))
            try:
                out = self.model(x, training=training)
            except NotSupported:
                raise
            except run_errors() as exc:  # one line, no traceback
                raise ValueError(f"the Keras model does not run on x: {first_line(exc)}") from exc
        out = ops_tensors(out)[0]
        return capture.recorder.output(out, numpy(out))

    def bind(self, x):
        self.graph = self.capture(x)
        self.anchors = [node.owner for node in self.graph.anchors]
        return self.graph

    def weights(self):
        return [reused(owner, lambda layer: canonical(layer, layer.weights)) for owner in self.anchors]

    def names(self):
        return [f"{o.weight.name}.reverse" if isinstance(o, Reused) else o.name for o in self.anchors]

    def writes(self, k, layer):
        """The canonical `layer` as writes into the k-th anchor's variables (rosetta.transfer)."""
        owner = self.anchors[k]
        if isinstance(owner, Reused):  # the output kernel (E, vocab) back into the table (vocab, E)
            found = [
                (v, name, value, f"({rule})ᵀ")
                for v, name, value, rule in native(owner.weight, {"W": layer["W"].T})
            ]
        else:
            found = native(owner, layer)
        return [
            Write(v, np.asarray(value, v.dtype), v.path, f"{name} = {rule}") for v, name, value, rule in found
        ]

    @staticmethod
    def assign(target, value):
        target.assign(value)

    @staticmethod
    def current(target):
        return numpy(target)

    def input_shape(self):
        """(one sample's shape, dtype) as the model's keras.Input states them; None for a subclassed model."""
        inputs = getattr(self.model, "inputs", None)
        return (tuple(inputs[0].shape[1:]), inputs[0].dtype) if inputs else None

    def outputs_as_left(self, x):
        return None  # Keras layers run in inference mode unless fit() or training=True calls them

    def tensor(self, a):
        a = np.asarray(a)
        return a if a.dtype.kind in "iu" else a.astype(self.dtype)

    def loss_and_grads(self, x, y, loss_fn):
        loss, grads = GRADIENT[BACKEND](self.model, loss_fn, self.tensor(x), self.tensor(y))
        return float(numpy(loss)), self.canonical_grads(grads)

    def canonical_grads(self, grads):
        """The gradients, in model.trainable_variables order, as canonical per-anchor dicts."""
        of = {id(v): g for v, g in zip(self.model.trainable_variables, grads)}
        return [
            reused(owner, lambda layer: canonical(layer, [of[id(v)] for v in layer.trainable_weights], True))
            for owner in self.anchors
        ]

    @contextlib.contextmanager
    def restored(self):
        """The model's variables put back as they were: steps and training passes run in place."""
        saved = [numpy(v) for v in self.model.variables]
        try:
            yield self.model
        finally:
            for v, value in zip(self.model.variables, saved):
                v.assign(value)

    def training_pass(self, x):
        """One training-mode forward: its graph, and the weights after it (then put back)."""
        with self.restored():
            return self.capture(x, training=True), self.weights()

    def train(self, x, y, loss_fn, optimizer, steps):
        """`steps` steps of a fresh copy of `optimizer`; weights, gradients and lr of each (then put back)."""
        optimizer = type(optimizer).from_config(optimizer.get_config())
        record, apply = [], APPLY.get(BACKEND, eager_apply)(optimizer)
        with self.restored() as model:
            for _ in range(steps):
                lr = float(numpy(optimizer.learning_rate))
                loss, grads = GRADIENT[BACKEND](model, loss_fn, self.tensor(x), self.tensor(y))
                canon = self.canonical_grads(grads)
                apply(grads, model.trainable_variables)
                record.append({"params": self.weights(), "grads": canon, "lr": lr})
        return record, form(optimizer)


def reused(owner, read):
    """read(layer) of an anchor's layer; of a ReversibleEmbedding's reverse use, its table transposed, the
    output kernel (E, vocab) (its gradient: the table's, both uses summed)."""
    return {"W": read(owner.weight)["W"].T} if isinstance(owner, Reused) else read(owner)


JAX_GRADIENTS = {}  # (id(model), id(loss_fn)) -> (model, loss_fn, jitted value_and_grad): one per check
# Compiled, whatever the model's size: eagerly, Keras-on-jax compiles each op on first use and a recurrent
# layer's scan at every call (a nanoGPT-sized check 23 s -> 8 s; the zoo's bidirectional LSTM 15 s -> 5 s)


def jax_gradient(model, loss_fn, x, y):
    import jax

    key = (id(model), id(loss_fn))
    if key not in JAX_GRADIENTS or JAX_GRADIENTS[key][:2] != (model, loss_fn):
        mode = {"training": False} if "training" in inspect.signature(model.call).parameters else {}

        def loss_of(trainable, fixed, x, y):  # a pure function of the weights: stateless_call, not model(x)
            out, _, losses = model.stateless_call(trainable, fixed, x, return_losses=True, **mode)
            return loss_fn(y, out) + sum(losses)

        JAX_GRADIENTS[key] = (model, loss_fn, jax.jit(jax.value_and_grad(loss_of)))
    fixed = [v.value for v in model.non_trainable_variables]
    return JAX_GRADIENTS[key][2]([v.value for v in model.trainable_variables], fixed, x, y)


def tensorflow_gradient(model, loss_fn, x, y):
    from impl_keras.mlp import tensorflow_gradient

    return tensorflow_gradient(model, loss_fn, x, y)  # tf.GradientTape over model(x), with model.losses


def torch_gradient(model, loss_fn, x, y):
    import torch

    from impl_keras.mlp import total_loss

    loss = total_loss(model, loss_fn, x, y)  # autograd.grad, not backward(): no .grad left on the model
    return loss, torch.autograd.grad(loss, [v.value for v in model.trainable_variables])


GRADIENT = {"tensorflow": tensorflow_gradient, "jax": jax_gradient, "torch": torch_gradient}


def eager_apply(optimizer):
    return lambda grads, variables: optimizer.apply_gradients(zip(grads, variables))


def jax_apply(optimizer):
    """The update compiled, as fit's train step applies it on jax (stateless_apply under jax.jit):
    eagerly, each op of it compiles once per variable shape."""
    import jax

    step = jax.jit(optimizer.stateless_apply)

    def apply(grads, variables):
        if not optimizer.built:
            optimizer.build(variables)
        state = [v.value for v in optimizer.variables]
        values, state = step(state, list(grads), [v.value for v in variables])
        for v, value in zip([*variables, *optimizer.variables], [*values, *state]):
            v.assign(value)

    return apply


APPLY = {"jax": jax_apply}  # TensorFlow and torch: apply_gradients, eagerly


def form(optimizer):
    """The update rule and hyperparameters of a Keras optimizer, for replaying it in NumPy."""
    decay = float(optimizer.weight_decay or 0.0)
    if isinstance(optimizer, keras.optimizers.SGD):  # on torch, a backend subclass of it
        return {
            "name": "sgd",
            "form": "keras",
            "momentum": float(optimizer.momentum),
            "nesterov": optimizer.nesterov,
            "weight_decay": decay,
            "decoupled": True,
        }
    if isinstance(optimizer, keras.optimizers.Adam) and not optimizer.amsgrad:  # AdamW included
        return {
            "name": "adam",
            "form": "keras",
            "beta1": float(optimizer.beta_1),
            "beta2": float(optimizer.beta_2),
            "eps": float(optimizer.epsilon),
            "weight_decay": decay,
            "decoupled": True,
        }
    return None


def loss_function(loss):
    """A name from rosetta.tasks.LOSSES as impl_keras computes it, or the user's own Keras loss."""
    if isinstance(loss, str):
        from impl_keras.mlp import LOGITS, named_loss, on_the_output

        def by_name(y, out):
            keras_loss, weight = named_loss(loss, out.shape[-1])
            dtype = keras.backend.standardize_dtype(out.dtype)  # a Loss computes in floatx unless told
            keras_loss = type(keras_loss).from_config(keras_loss.get_config() | {"dtype": dtype})
            return weight * (on_the_output(keras_loss) if loss in LOGITS else keras_loss)(y, out)

        return by_name
    return loss


# ---- the command line ----


def load(path, make_model=None):
    """A .keras archive with safe_mode=True: a Lambda layer or custom code is refused, not run."""
    return keras.saving.load_model(path, safe_mode=True, compile=False)


def save(model, path):
    """A .keras archive, as `load` reads it back."""
    model.save(path)


def make_optimizer(name, lr):
    return (keras.optimizers.Adam if name == "adam" else keras.optimizers.SGD)(lr)
