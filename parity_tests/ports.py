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


def save_files(d, head="softmax"):
    """In folder d, what `rosetta check` reads: x.npy, y.npy, the MLP as model.keras, and a torch
    state_dict whose square kernel is not transposed, transposed.pt."""
    import torch

    x, y = data()
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    build("keras", head=head).save(d / "model.keras")
    torch.save(build("torch", head=head, bug="transpose").state_dict(), d / "transposed.pt")


# ---- a small CNN, an LSTM and a GRU: the same canonical weights in torch, Keras and canonical ----
# Bugs: "flatten-order" (torch's nn.Flatten on NCHW into a Linear holding Keras's kernel as is),
# "conv-kernel" (block 1's kernel permuted (3, 2, 1, 0): kh and kw swapped), "gate-order" (GRU: the
# blocks copied without TORCH_GRU_BLOCKS; LSTM: read as i, f, o, g), "double-bias" (LSTM: bias_hh
# left as nn.LSTM drew it beside bias_ih = b; "double-bias-copied": b in both), "trainable-bias-hh"
# (LSTM: bias_hh zeroed but trained, so a step moves b twice as far).


def layer_task(kind):
    from dataclasses import replace

    if kind == "cnn":
        layers = (
            tasks.Conv2D(4, 3, 1, "same", "relu"),
            tasks.Conv2D(6, 3, 2, "same", "relu"),  # stride-2 "same": TF pads (0, 1), bottom/right
            tasks.Pool2D(2, "max"),
            tasks.Flatten(),
            tasks.Layer(3),
        )
        return replace(tasks.get("cnn"), n_in=(8, 8, 2), layers=layers)
    rnn = tasks.LSTM(4) if kind == "lstm" else tasks.GRU(4)
    return replace(tasks.get(kind), n_in=(5, 3), layers=(rnn, tasks.Layer(2)), loss="mse")


def layer_weights(kind, dtype="float64"):
    task = layer_task(kind)
    params = task.init_params()
    for i, layer in enumerate(params):  # nonzero biases, so a misplaced one shows
        if "b" in layer:
            layer["b"] = 0.1 * (i + 1) * np.linspace(-1, 1, layer["b"].size).reshape(layer["b"].shape)
    return task, [{k: v.astype(dtype) for k, v in layer.items()} for layer in params]


def layer_data(kind, n=12):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, *layer_task(kind).input_shape))
    return x, rng.normal(size=(n, 3 if kind == "cnn" else 2))


def torch_layers(kind, params, bug=None):
    import torch
    from torch import nn

    dtype = getattr(torch, str(params[0]["W"].dtype))
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    if kind == "cnn":
        conv0 = nn.Conv2d(2, 4, 3, padding=1, dtype=dtype)  # stride 1: "same" is 1 all round
        conv1 = nn.Conv2d(4, 6, 3, stride=2, dtype=dtype)
        head = nn.Linear(24, 3, dtype=dtype)
        model = nn.Sequential(
            conv0,
            nn.ReLU(),
            nn.ZeroPad2d((0, 1, 0, 1)),
            conv1,
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            head,
        )
        W = params[4]["W"]  # rows (H, W, C) = (2, 2, 6); nn.Flatten on NCHW gives (C, H, W)
        chw = W if bug == "flatten-order" else W.reshape(2, 2, 6, 3).transpose(2, 0, 1, 3).reshape(24, 3)
        with torch.no_grad():
            for conv, layer, axes in ((conv0, params[0], (3, 2, 0, 1)), (conv1, params[1], (3, 2, 0, 1))):
                axes = (3, 2, 1, 0) if bug == "conv-kernel" and conv is conv1 else axes
                conv.weight.copy_(t(layer["W"].transpose(axes)))  # (kh, kw, in, out) -> (out, in, kh, kw)
                conv.bias.copy_(t(layer["b"]))
            head.weight.copy_(t(chw.T))
            head.bias.copy_(t(params[4]["b"]))
        return model.eval()
    layer = params[0]
    torch.manual_seed(0)
    rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(3, 4, batch_first=True, dtype=dtype)
    W, U, b = layer["W"], layer["U"], layer["b"]
    if kind == "gru" and bug != "gate-order":  # z, r, h -> torch's r, z, n
        W, U, b = (np.concatenate([np.split(a, 3, -1)[k] for k in (1, 0, 2)], -1) for a in (W, U, b))
    if kind == "lstm" and bug == "gate-order":  # i, f, g, o read as i, f, o, g
        W, U, b = (np.concatenate([np.split(a, 4, -1)[k] for k in (0, 1, 3, 2)], -1) for a in (W, U, b))
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(t(W.T))
        rnn.weight_hh_l0.copy_(t(U.T))
        rnn.bias_ih_l0.copy_(t(b if kind == "lstm" else b[0]))
        if kind == "gru":
            rnn.bias_hh_l0.copy_(t(b[1]))
        elif bug == "double-bias-copied":
            rnn.bias_hh_l0.copy_(t(b))  # Keras's one bias copied into both: torch adds it twice
        elif bug != "double-bias":
            rnn.bias_hh_l0.zero_()  # one bias: torch adds bias_ih + bias_hh
    if kind == "lstm" and bug not in ("double-bias", "double-bias-copied", "trainable-bias-hh"):
        rnn.bias_hh_l0.requires_grad_(False)  # else both copies get d/db: b moves twice as far
    head = nn.Linear(4, 2, dtype=dtype)
    with torch.no_grad():
        head.weight.copy_(t(params[1]["W"].T))
        head.bias.copy_(t(params[1]["b"]))
    return ManyToOne(rnn, head).eval()


def many_to_one():
    from torch import nn

    class ManyToOne(nn.Module):
        """out, _ = rnn(x); head(out[:, -1]): the last step into the Dense head."""

        def __init__(self, rnn, head):
            super().__init__()
            self.rnn, self.head = rnn, head

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    return ManyToOne


def ManyToOne(rnn, head):  # noqa: N802
    return many_to_one()(rnn, head)


def keras_layers(kind, params, bug=None):
    import keras

    if keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    dtype = str(params[0]["W"].dtype)
    L = keras.layers  # noqa: N806
    shape = layer_task(kind).input_shape
    if kind == "cnn":
        layers = [
            L.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype),
            L.Conv2D(6, 3, strides=2, padding="same", activation="relu", dtype=dtype),
            L.MaxPooling2D(2, dtype=dtype),
            L.Flatten(dtype=dtype),
            L.Dense(3, dtype=dtype),
        ]
    else:
        layers = [(L.LSTM if kind == "lstm" else L.GRU)(4, dtype=dtype), L.Dense(2, dtype=dtype)]
    model = keras.Sequential([keras.Input(shape, dtype=dtype), *layers])
    params = [dict(layer) for layer in params]
    if bug == "flatten-order":  # the Dense holds a torch Linear's rows, (C, H, W) = (6, 2, 2), as they are
        params[4]["W"] = params[4]["W"].reshape(2, 2, 6, 3).transpose(2, 0, 1, 3).reshape(24, 3)
    if bug == "gate-order" and kind == "gru":  # torch's r, z, n copied as Keras's z, r, h
        params[0] = {
            k: np.concatenate([np.split(a, 3, -1)[j] for j in (1, 0, 2)], -1) for k, a in params[0].items()
        }
    model.set_weights([layer[k] for layer in params for k in ("W", "U", "b") if k in layer])
    return model


def canonical_layers(kind, params, bug=None):
    return layer_task(kind), [dict(layer) for layer in params]


LAYER_BUILD = {"torch": torch_layers, "keras": keras_layers, "canonical": canonical_layers}


def torch_cnn(dtype):
    """`rosetta check --spec-b parity_tests.ports:torch_cnn`: the torch CNN a state_dict loads into."""
    return torch_layers("cnn", layer_weights("cnn", dtype)[1])


def build_layers(framework, kind, dtype="float64", bug=None):
    """The CNN, LSTM or GRU (`kind`) in `framework` from the shared weights, with `bug` planted."""
    return LAYER_BUILD[framework](kind, layer_weights(kind, dtype)[1], bug)
