"""Flax NNX: an nnx.Sequential, or a module holding its layers in order in `.layers`; plain functions
such as nnx.relu between them count as layers.

Every computation runs on nnx.clone(model) put in eval mode; gradients by jax.value_and_grad over the
nnx.Param state, steps by the user's optax transformation on that state. Kernels are (in, out) already.
"""

import functools

import jax
import numpy as np
import optax
from flax import nnx

from rosetta.portcheck import graph
from rosetta.portcheck.layers import PARAMETRIZED, Layer, NotSupported

# No jax_enable_x64 here: a user holding float64 weights has turned it on (JAX makes float32 arrays
# without it), and a check changes no setting of the user's process (rosetta.portcheck.isolation).

FUNCTIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "softmax")
ALPHA = {"leaky_relu": ("negative_slope", 0.01), "elu": ("alpha", 1.0)}  # jax.nn's keyword, default


def chain(model):
    layers = model.layers if isinstance(model, nnx.Sequential) else getattr(model, "layers", None)
    if layers is None:
        raise NotSupported(f"not supported yet: {type(model).__name__} without .layers (use nnx.Sequential)")
    return list(layers)


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
    if isinstance(layer, nnx.Dropout):
        return Layer("dropout", f"Dropout({layer.rate:g})", rate=layer.rate)
    if isinstance(layer, (nnx.Conv, nnx.RNN, nnx.LSTMCell, nnx.GRUCell)) or getattr(
        layer, "__name__", None
    ) in ("max_pool", "avg_pool"):
        name = type(layer).__name__ if isinstance(layer, nnx.Module) else layer.__name__
        raise NotSupported(
            f"not supported yet: Flax {name} in rosetta.check (Conv2D, pooling, LSTM and GRU are "
            "compared for torch, Keras and canonical models)"
        )
    return describe_function(layer)


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


def canonical(layer, trainable=False):
    """A parametrized layer's weights in canonical layout (or, on a model merged from a gradient
    state, its gradients: trainable=True leaves out BatchNorm's statistics)."""
    if isinstance(layer, nnx.Linear):
        weights = {"W": numpy(layer.kernel), "b": numpy(layer.bias)}
    else:
        weights = {"gamma": numpy(layer.scale), "beta": numpy(layer.bias)}
        if isinstance(layer, nnx.BatchNorm) and not trainable:
            weights |= {"moving_mean": numpy(layer.mean), "moving_variance": numpy(layer.var)}
    return {key: value for key, value in weights.items() if value is not None}


def parametrized(model):
    return [layer for layer in chain(model) if isinstance(layer, (nnx.Linear, nnx.BatchNorm, nnx.LayerNorm))]


def dropout_active(model):
    return any(
        isinstance(layer, nnx.Dropout) and layer.rate and not layer.deterministic for layer in chain(model)
    )


def inference_copy(model):
    clone = nnx.clone(model)
    clone.eval()  # Dropout off, BatchNorm on its running statistics
    return clone


class FlaxModel:
    framework = "flax"

    def __init__(self, model):
        self.model = model
        self.layers = [describe(layer) for layer in chain(model)]
        self.dtype = str(parametrized(model)[0].kernel[...].dtype) if parametrized(model) else "float32"
        self.compute_dtype = self.dtype
        self.notes = ["Flax Dropout left active (deterministic=False)"] if dropout_active(model) else []

        self.first = next((layer for layer in self.layers if layer.kind in PARAMETRIZED), None)

    def bind(self, x):
        self.graph = self.capture(x)
        return self.graph

    def capture(self, x, model=None):
        return graph.chain(self.layers, self.outputs(x, model), self.tensor(x))

    def weights(self):
        return [canonical(layer) for layer in parametrized(self.model)]

    def tensor(self, a):
        a = np.asarray(a)
        return a if a.dtype.kind in "iu" else a.astype(self.dtype)

    def outputs(self, x, model=None):
        a, captured = self.tensor(x), []
        for layer in chain(model or inference_copy(self.model)):
            a = layer(a)
            captured.append(np.asarray(a))
        return captured

    def outputs_as_left(self, x):
        return self.capture(x, nnx.clone(self.model)) if dropout_active(self.model) else None

    def training_pass(self, x):
        """One training-mode forward on a clone: every layer's output, and the weights after it."""
        model = nnx.clone(self.model)
        model.train()  # BatchNorm on the batch statistics, updating its running ones
        return self.capture(x, model), [canonical(layer) for layer in parametrized(model)]

    def loss_and_grads(self, x, y, loss_fn):
        graphdef, params, rest = nnx.split(inference_copy(self.model), nnx.Param, ...)
        loss, grads = self.gradient(graphdef, rest, x, y, loss_fn)(params)
        return float(loss), canonical_grads(graphdef, grads, rest)

    def gradient(self, graphdef, rest, x, y, loss_fn):
        """jax.value_and_grad of the loss as a function of the nnx.Param state, compiled once."""
        x, y = self.tensor(x), self.tensor(y)

        def loss_of(params):
            return loss_fn(nnx.merge(graphdef, params, rest)(x), y)

        return jax.jit(jax.value_and_grad(loss_of))

    def train(self, x, y, loss_fn, tx, steps):
        """`steps` optax updates of the nnx.Param state of an inference copy; no lr to read (optax)."""
        graphdef, params, rest = nnx.split(inference_copy(self.model), nnx.Param, ...)
        gradient, state, record = self.gradient(graphdef, rest, x, y, loss_fn), tx.init(params), []
        for _ in range(steps):
            _, grads = gradient(params)
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            weights = [canonical(layer) for layer in parametrized(nnx.merge(graphdef, params, rest))]
            record.append({"params": weights, "grads": canonical_grads(graphdef, grads, rest), "lr": None})
        return record, None


def canonical_grads(graphdef, grads, rest):
    """A gradient state merged into the model's shape: its Linear layers hold the gradients."""
    return [canonical(layer, trainable=True) for layer in parametrized(nnx.merge(graphdef, grads, rest))]


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


def make_optimizer(name, lr):
    return (optax.adam if name == "adam" else optax.sgd)(lr)
