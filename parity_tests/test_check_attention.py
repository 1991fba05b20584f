"""rosetta.check on attention: torch's nn.MultiheadAttention against Keras's MultiHeadAttention and
Flax's nnx.MultiHeadAttention, and nanoGPT's attention by hand (one packed projection, a scale, a
causal mask, a softmax) against a Keras subclassed port and a Flax module in keras.ops / jax.numpy.
The correct ports are ok with no hint; each planted bug is named at its block with its hint."""

import math

import numpy as np
import pytest

import rosetta

torch = pytest.importorskip("torch")
nn = torch.nn
E, HEADS, T = 8, 2, 5
D = E // HEADS


def numpy_of(p):
    return p.detach().numpy().copy()


def causal(t, diagonal=0):
    """Boolean (t, t): True where query i may not see key j (torch's attn_mask), j > i + diagonal."""
    return torch.triu(torch.ones(t, t, dtype=torch.bool), 1 + diagonal)


class LayerNet(nn.Module):
    """Causal self-attention by nn.MultiheadAttention, a residual, mean over time, a classifier."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, HEADS, batch_first=True)
        self.head = nn.Linear(E, 3)

    def forward(self, x):
        h, _ = self.attn(x, x, x, attn_mask=causal(x.shape[1]), need_weights=False)
        return self.head((h + x).mean(1))


class HandNet(nn.Module):
    """nanoGPT's CausalSelfAttention (model.py, the manual branch), then mean over time and a classifier."""

    def __init__(self):
        super().__init__()
        self.c_attn, self.c_proj, self.head = nn.Linear(E, 3 * E), nn.Linear(E, E), nn.Linear(E, 3)
        self.register_buffer("bias", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        n, t, c = x.shape
        q, k, v = self.c_attn(x).split(E, dim=2)
        q, k, v = (a.view(n, t, HEADS, c // HEADS).transpose(1, 2) for a in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(n, t, c)
        return self.head(self.c_proj(y).mean(1))


def original(net, dtype):
    torch.manual_seed(0)
    return net().to(getattr(torch, dtype)).eval()


def in_proj(net, bug):
    """nn.MultiheadAttention's packed projections as (kernel (E, E), bias (E,)) for q, k, v; the
    "qkv-order" bug reads the packed rows as k, q, v."""
    w, b = np.split(numpy_of(net.attn.in_proj_weight), 3), np.split(numpy_of(net.attn.in_proj_bias), 3)
    order = (1, 0, 2) if bug == "qkv-order" else (0, 1, 2)
    return [(w[i].T, b[i]) for i in order]


# ---- the ports: Keras ----


def keras_layer_port(net, dtype, bug):
    import keras

    L = keras.layers  # noqa: N806
    inputs = keras.Input((T, E), dtype=dtype)
    mha = L.MultiHeadAttention(HEADS, D, dtype=dtype)
    h = mha(inputs, inputs, use_causal_mask=bug != "causal-mask")
    head = L.Dense(3, dtype=dtype)
    port = keras.Model(inputs, head(L.GlobalAveragePooling1D(dtype=dtype)(L.Add(dtype=dtype)([h, inputs]))))
    projections = [
        a.reshape(E, HEADS, D) if a.ndim == 2 else a.reshape(HEADS, D) for p in in_proj(net, bug) for a in p
    ]
    out = (numpy_of(net.attn.out_proj.weight).T.reshape(HEADS, D, E), numpy_of(net.attn.out_proj.bias))
    mha.set_weights(projections + list(out))
    head.set_weights([numpy_of(net.head.weight).T, numpy_of(net.head.bias)])
    return port


def keras_hand_port(net, dtype, bug):
    import keras
    from keras import ops

    class Attention(keras.Model):
        def __init__(self):
            super().__init__(dtype=dtype)
            self.c_attn, self.c_proj = (
                keras.layers.Dense(3 * E, dtype=dtype),
                keras.layers.Dense(E, dtype=dtype),
            )
            self.head = keras.layers.Dense(3, dtype=dtype)

        def call(self, x):
            n, t = ops.shape(x)[0], ops.shape(x)[1]
            parts = ops.split(self.c_attn(x), 3, axis=-1)
            q, k, v = (parts[1], parts[0], parts[2]) if bug == "qkv-order" else parts
            h = 4 if bug == "attention-heads" else HEADS
            q, k, v = (ops.transpose(ops.reshape(a, (n, t, h, E // h)), (0, 2, 1, 3)) for a in (q, k, v))
            scale = 1.0 / (E // h) if bug == "attention-scale" else 1.0 / math.sqrt(E // h)
            att = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * scale
            allowed = np.tril(np.ones((T, T), bool), 1 if bug == "causal-mask" else 0)
            att = ops.where(allowed, att, -np.inf)
            att = ops.softmax(att, axis=-2 if bug == "softmax-axis" else -1)
            y = ops.reshape(ops.transpose(ops.matmul(att, v), (0, 2, 1, 3)), (n, t, E))
            return self.head(ops.mean(self.c_proj(y), axis=1))

    port = Attention()
    port(np.zeros((1, T, E), dtype))
    for dense, linear in ((port.c_attn, net.c_attn), (port.c_proj, net.c_proj), (port.head, net.head)):
        dense.set_weights([numpy_of(linear.weight).T, numpy_of(linear.bias)])
    return port


# ---- the ports: Flax NNX ----


def flax_layer_port(net, dtype, bug):
    import jax.numpy as jnp
    from flax import nnx

    class Port(nnx.Module):
        def __init__(self, rngs):
            kw = dict(dtype=jnp.dtype(dtype), param_dtype=jnp.dtype(dtype), rngs=rngs)
            self.attn = nnx.MultiHeadAttention(HEADS, E, decode=False, **kw)
            self.head = nnx.Linear(E, 3, **kw)

        def __call__(self, x):
            mask = None if bug == "causal-mask" else nnx.make_causal_mask(jnp.ones(x.shape[:2]))
            return self.head(jnp.mean(self.attn(x, mask=mask) + x, axis=1))

    port = Port(nnx.Rngs(0))
    for dense, (w, b) in zip((port.attn.query, port.attn.key, port.attn.value), in_proj(net, bug)):
        dense.kernel.value, dense.bias.value = (
            jnp.asarray(w.reshape(E, HEADS, D)),
            jnp.asarray(b.reshape(HEADS, D)),
        )
    port.attn.out.kernel.value = jnp.asarray(numpy_of(net.attn.out_proj.weight).T.reshape(HEADS, D, E))
    port.attn.out.bias.value = jnp.asarray(numpy_of(net.attn.out_proj.bias))
    port.head.kernel.value, port.head.bias.value = (
        jnp.asarray(numpy_of(net.head.weight).T),
        jnp.asarray(numpy_of(net.head.bias)),
    )
    return port


def flax_hand_port(net, dtype, bug):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    class Port(nnx.Module):
        def __init__(self, rngs):
            kw = dict(dtype=jnp.dtype(dtype), param_dtype=jnp.dtype(dtype), rngs=rngs)
            self.c_attn, self.c_proj, self.head = (
                nnx.Linear(E, 3 * E, **kw),
                nnx.Linear(E, E, **kw),
                nnx.Linear(E, 3, **kw),
            )

        def __call__(self, x):
            n, t, _ = x.shape
            q, k, v = jnp.split(self.c_attn(x), 3, axis=-1)
            q, k = (k, q) if bug == "qkv-order" else (q, k)
            h = 4 if bug == "attention-heads" else HEADS
            q, k, v = (a.reshape(n, t, h, E // h).transpose(0, 2, 1, 3) for a in (q, k, v))
            scale = 1.0 / (E // h) if bug == "attention-scale" else 1.0 / math.sqrt(E // h)
            att = q @ k.transpose(0, 1, 3, 2) * scale
            mask = jnp.tril(jnp.ones((t, t), bool), 1 if bug == "causal-mask" else 0)
            att = jax.nn.softmax(jnp.where(mask, att, -jnp.inf), axis=-2 if bug == "softmax-axis" else -1)
            y = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, E)
            return self.head(jnp.mean(self.c_proj(y), axis=1))

    port = Port(nnx.Rngs(0))
    for dense, linear in ((port.c_attn, net.c_attn), (port.c_proj, net.c_proj), (port.head, net.head)):
        dense.kernel.value, dense.bias.value = (
            jnp.asarray(numpy_of(linear.weight).T),
            jnp.asarray(numpy_of(linear.bias)),
        )
    return port


def flax_x64():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 Flax weights need it


PORTS = {
    "keras-layer": (LayerNet, keras_layer_port),
    "keras-by-hand": (HandNet, keras_hand_port),
    "flax-layer": (LayerNet, flax_layer_port),
    "flax-by-hand": (HandNet, flax_hand_port),
}


def build(pair, dtype, bug=None):
    if pair.startswith("flax"):
        pytest.importorskip("flax")
        flax_x64()
    else:
        keras = pytest.importorskip("keras")
        if keras.backend.backend() == "jax":
            flax_x64()
    net_class, port = PORTS[pair]
    net = original(net_class, dtype)
    return net, port(net, dtype, bug)


def data(dtype):
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, T, E)).astype(dtype), rng.integers(0, 3, 4)


def optimizers(pair):
    if pair.startswith("flax"):
        import optax

        return lambda p: torch.optim.SGD(p, lr=0.125), optax.sgd(0.125)
    import keras

    return lambda p: torch.optim.SGD(p, lr=0.125), keras.optimizers.SGD(0.125)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("pair", list(PORTS))
def test_attention_correct_port_is_ok(pair, dtype):
    a, b = build(pair, dtype)
    x, y = data(dtype)
    report = rosetta.check(a, b, x, y, loss="softmax_ce", optimizer=optimizers(pair), steps=3)
    assert report.ok and report.hints == [], str(report)


BUGS = [
    ("keras-layer", "causal-mask", 0),
    ("keras-layer", "qkv-order", 0),
    ("flax-layer", "causal-mask", 0),
    ("flax-layer", "qkv-order", 0),
    *[
        (pair, bug, 0)
        for pair in ("keras-by-hand", "flax-by-hand")
        for bug in ("attention-scale", "causal-mask", "qkv-order", "softmax-axis", "attention-heads")
    ],
]


@pytest.mark.parametrize("pair, bug, block", BUGS)
def test_attention_planted_bug_is_named_at_its_block(pair, bug, block):
    a, b = build(pair, "float64", bug)
    report = rosetta.check(a, b, data("float64")[0])
    assert not report.ok and report.first.block == block, str(report)
    assert [h.kind for h in report.hints] == [bug] and report.hints[0].block == block, str(report)
