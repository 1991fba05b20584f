"""One MLP written in each framework from the same canonical weights, for the port-checking tests:
5 → 7 → 7 → 3 (a square middle layer), biases, LeakyReLU(0.01), a softmax head or logits.
`bug` plants one classic porting mistake in the copy being built."""

import functools

import numpy as np

from rosetta import tasks

SIZES = (5, 7, 7, 3)


def weights(dtype="float64"):
    params = tasks.make(SIZES, ["leaky_relu", "leaky_relu", "linear"]).init_params(dtype)
    for i, layer in enumerate(params):  # nonzero biases, so a missing one shows
        layer["b"] = (0.1 * (i + 1) * np.linspace(-1, 1, layer["b"].size)).astype(dtype)
    return params


def data(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def torch_model(params, head="softmax", bug=None, slope=0.01, act="leaky_relu"):
    import torch
    from torch import nn

    dtype, layers = getattr(torch, str(params[0]["W"].dtype)), []
    for i, layer in enumerate(params):
        bias = not (bug == "missing-bias" and i == 0)
        linear = nn.Linear(*layer["W"].shape, bias=bias, dtype=dtype)
        with torch.no_grad():
            square = bug == "transpose" and i == 1
            linear.weight.copy_(torch.from_numpy(layer["W"] if square else layer["W"].T))  # (out, in)
            if bias:
                linear.bias.copy_(torch.from_numpy(layer["b"]))
        layers.append(linear)
        if i < len(params) - 1:
            layers.append(nn.LeakyReLU(slope) if act == "leaky_relu" else nn.ReLU())
    layers += [nn.Softmax(dim=1)] if head == "softmax" else []
    return nn.Sequential(*layers).eval()


def keras_model(params, head="softmax", bug=None, slope=0.01, act="leaky_relu"):
    import keras

    if keras.backend.backend() == "jax":  # else Keras's float64 variables silently hold float32
        import jax

        jax.config.update("jax_enable_x64", True)
    dtype = str(params[0]["W"].dtype)
    layers, arrays = [keras.Input((SIZES[0],), dtype=dtype)], []
    for i, layer in enumerate(params):
        last = i == len(params) - 1
        bias = not (bug == "missing-bias" and i == 0)
        fused = "softmax" if last and head == "softmax" else None
        layers.append(keras.layers.Dense(layer["W"].shape[1], activation=fused, use_bias=bias, dtype=dtype))
        arrays += [layer["W"].T if bug == "transpose" and i == 1 else layer["W"]] + (
            [layer["b"]] if bias else []
        )
        if not last:
            layers.append(
                keras.layers.LeakyReLU(slope, dtype=dtype)
                if act == "leaky_relu"
                else keras.layers.ReLU(dtype=dtype)
            )
    model = keras.Sequential(layers)
    model.set_weights(arrays)
    return model


def flax_model(params, head="softmax", bug=None, slope=0.01, act="leaky_relu"):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    jax.config.update("jax_enable_x64", True)  # else float64 silently becomes float32 (check says so)
    dtype, layers = jnp.dtype(str(params[0]["W"].dtype)), []
    for i, layer in enumerate(params):
        bias = not (bug == "missing-bias" and i == 0)
        linear = nnx.Linear(
            *layer["W"].shape, use_bias=bias, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0)
        )
        linear.kernel[...] = jnp.asarray(layer["W"].T if bug == "transpose" and i == 1 else layer["W"])
        if bias:
            linear.bias[...] = jnp.asarray(layer["b"])
        layers.append(linear)
        if i < len(params) - 1:
            layers.append(
                functools.partial(nnx.leaky_relu, negative_slope=slope) if act == "leaky_relu" else nnx.relu
            )
    layers += [nnx.softmax] if head == "softmax" else []
    return nnx.Sequential(*layers)


def canonical_model(params, head="softmax", bug=None, slope=0.01, act="leaky_relu"):
    params = [dict(layer) for layer in params]
    if bug == "missing-bias":
        del params[0]["b"]
    if bug == "transpose":
        params[1]["W"] = params[1]["W"].T
    spec = {"sizes": list(SIZES), "activations": [act, act, "linear"], "alpha": slope, "output": head}
    spec["bias"] = [bug != "missing-bias", True, True]
    return spec, params


BUILD = {"torch": torch_model, "keras": keras_model, "flax": flax_model, "canonical": canonical_model}


def build(framework, dtype="float64", **kw):
    """The MLP in `framework` from the shared weights, with `kw` (head, bug, slope, act)."""
    return BUILD[framework](weights(dtype), **kw)
