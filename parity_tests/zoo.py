"""Models as public example code writes them, shrunk through their own arguments, each with a port to
another framework and one realistic bug to plant in it. Written here after the sources named on each;
no code is copied. Every entry: build(dtype, bug=None) -> (original, port), data(dtype) -> (x, y), the
loss by name, each side's optimizer, and where the planted bug must be found: (stage, block, hint)."""

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Entry:
    name: str
    source: str  # repository, path, commit
    build: object
    data: object
    loss: object  # a name from rosetta.tasks.LOSSES, or dtype -> (loss of the original, of the port)
    optimizers: object  # dtype -> (optimizer of the original, optimizer of the port)
    bug: str
    found: tuple  # (stage, block, hint) of the planted bug
    trains_apart: tuple = ()  # (block, hint) where even the correct port cannot train alike: at step 1


@dataclass(frozen=True)
class Port:
    """A zoo model's port to one more framework: checked like the entry's first port, on its data."""

    model: str  # the entry's name
    original: str  # the original's framework: torch, keras or flax
    framework: str  # the port's
    build: object  # dtype -> (original, port)
    optimizers: object  # dtype -> (optimizer of the original, optimizer of the port)
    loss: object = None  # None: the entry's loss name; else dtype -> (loss of the original, of the port)
    trains_apart: tuple = ()


def ported(original, port):
    """An entry's build(dtype, bug=None) -> (original, its port): original(dtype), then
    port(original, dtype, bug)."""

    def build(dtype, bug=None):
        model = original(dtype)
        return model, port(model, dtype, bug)

    return build


def nnx_kwargs(dtype):
    """A Flax layer's dtype, param_dtype and rngs; float64 weights need jax_enable_x64 (else JAX makes
    float32 ones)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    jax.config.update("jax_enable_x64", True)
    return {"dtype": jnp.dtype(dtype), "param_dtype": jnp.dtype(dtype), "rngs": nnx.Rngs(0)}


def numpy_of(p):
    return p.detach().numpy()


# ---- pytorch/examples mnist: convs, F.relu, F.max_pool2d, dropout, torch.flatten, F.log_softmax ----


def mnist_torch(dtype):
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, 1), nn.Conv2d(4, 8, 3, 1)
            self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
            self.fc1, self.fc2 = nn.Linear(72, 16), nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = torch.flatten(self.dropout1(x), 1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return F.log_softmax(self.fc2(x), dim=1)

    torch.manual_seed(0)
    return Net().to(getattr(torch, dtype)).eval()


def mnist_keras_port(net, dtype, bug):
    """The Keras port: kernels permuted (out, in, kh, kw) -> (kh, kw, in, out); fc1's rows reordered from
    torch's (C, H, W) flatten to Keras's (H, W, C); `bug="flatten-order"` copies them as they are."""
    import keras

    L = keras.layers  # noqa: N806
    port = keras.Sequential(
        [
            keras.Input((10, 10, 1), dtype=dtype),
            L.Conv2D(4, 3, activation="relu", dtype=dtype),
            L.Conv2D(8, 3, activation="relu", dtype=dtype),
            L.MaxPooling2D(2, dtype=dtype),
            L.Dropout(0.25, dtype=dtype),
            L.Flatten(dtype=dtype),
            L.Dense(16, activation="relu", dtype=dtype),
            L.Dropout(0.5, dtype=dtype),
            L.Dense(10, activation="log_softmax", dtype=dtype),
        ]
    )
    fc1 = numpy_of(net.fc1.weight).T  # (72, 16), rows (C, H, W) = (8, 3, 3)
    rows = fc1 if bug == "flatten-order" else fc1.reshape(8, 3, 3, 16).transpose(1, 2, 0, 3).reshape(72, 16)
    port.set_weights(
        [
            numpy_of(net.conv1.weight).transpose(2, 3, 1, 0),
            numpy_of(net.conv1.bias),
            numpy_of(net.conv2.weight).transpose(2, 3, 1, 0),
            numpy_of(net.conv2.bias),
            rows,
            numpy_of(net.fc1.bias),
            numpy_of(net.fc2.weight).T,
            numpy_of(net.fc2.bias),
        ]
    )
    return port


mnist = ported(mnist_torch, mnist_keras_port)


def images(dtype, n=8, size=10, classes=10):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, size, size, 1)).astype(dtype), rng.integers(0, classes, n)


def nll_optimizers(dtype):
    import keras
    import torch

    return (lambda p: torch.optim.SGD(p, lr=0.125), keras.optimizers.SGD(0.125))


# ---- torchvision resnet BasicBlock: conv3x3 without bias, BatchNorm2d, relu, out += identity ----


def resnet_torch(dtype):
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, planes):
            super().__init__()
            self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1, self.avgpool, self.fc = BasicBlock(3), nn.AdaptiveAvgPool2d((1, 1)), nn.Linear(3, 4)

        def forward(self, x):
            x = self.avgpool(self.layer1(x))
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    net = Net().to(getattr(torch, dtype))
    with torch.no_grad():  # running statistics as a trained net has them
        for bn in (net.layer1.bn1, net.layer1.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return net.eval()


def resnet_keras_port(net, dtype, bug):
    """The Keras functional port (ε 1e-5 as torch's); `bug="missing-residual"` forgets the shortcut."""
    import keras

    L = keras.layers  # noqa: N806
    inputs = keras.Input((6, 6, 3), dtype=dtype)
    convs = [L.Conv2D(3, 3, padding="same", use_bias=False, dtype=dtype) for _ in range(2)]
    bns = [L.BatchNormalization(epsilon=1e-5, momentum=0.9, dtype=dtype) for _ in range(2)]
    h = L.ReLU(dtype=dtype)(bns[0](convs[0](inputs)))
    h = bns[1](convs[1](h))
    h = h if bug == "missing-residual" else L.Add(dtype=dtype)([h, inputs])
    h = L.GlobalAveragePooling2D(dtype=dtype)(L.ReLU(dtype=dtype)(h))
    fc = L.Dense(4, dtype=dtype)
    port = keras.Model(inputs, fc(h))
    block = net.layer1
    for conv, bn, tconv, tbn in zip(convs, bns, (block.conv1, block.conv2), (block.bn1, block.bn2)):
        conv.set_weights([numpy_of(tconv.weight).transpose(2, 3, 1, 0)])
        bn.set_weights([numpy_of(p) for p in (tbn.weight, tbn.bias, tbn.running_mean, tbn.running_var)])
    fc.set_weights([numpy_of(net.fc.weight).T, numpy_of(net.fc.bias)])
    return port


def resnet(dtype, bug=None):
    net = resnet_torch(dtype)
    return resnet_keras_port(net, dtype, bug), net  # the Keras model is the one being ported here


# ---- keras-io text classification: Embedding, GlobalAveragePooling1D, Dense ----


def text_keras(dtype):
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers  # noqa: N806
    return keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            L.Embedding(12, 4, dtype=dtype),
            L.GlobalAveragePooling1D(dtype=dtype),
            L.Dense(8, activation="relu", dtype=dtype),
            L.Dense(1, dtype=dtype),
        ]
    )


def text_torch_port(model, dtype, bug):
    """The torch port: `bug="embedding-padding"` writes nn.Embedding(padding_idx=0), as torch text
    models often do, where Keras's table trains row 0."""
    import torch
    from torch import nn

    class TextNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(12, 4, padding_idx=0 if bug == "embedding-padding" else None)
            self.hidden, self.out = nn.Linear(4, 8), nn.Linear(8, 1)

        def forward(self, tokens):
            return self.out(torch.relu(self.hidden(self.embedding(tokens).mean(1))))

    net = TextNet().to(getattr(torch, dtype))
    table, kernel, bias, kernel2, bias2 = model.get_weights()
    with torch.no_grad():
        net.embedding.weight.copy_(torch.from_numpy(table))
        for linear, w, b in ((net.hidden, kernel, bias), (net.out, kernel2, bias2)):
            linear.weight.copy_(torch.from_numpy(w.T))
            linear.bias.copy_(torch.from_numpy(b))
    return net.eval()


text = ported(text_keras, text_torch_port)


def tokens(dtype, n=16):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, size=(n, 6))
    x[:, -2:] = 0  # padded sequences
    return x, rng.integers(0, 2, size=(n, 1)).astype(dtype)


# ---- Flax NNX basics: a module with its own __call__ (Linear, BatchNorm, relu, Linear) ----


def flax_mlp(dtype):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    jax.config.update("jax_enable_x64", True)  # float64 weights need it (else JAX makes float32 ones)

    class MLP(nnx.Module):
        def __init__(self, din, dmid, dout, rngs):
            self.linear1 = nnx.Linear(
                din, dmid, dtype=jnp.dtype(dtype), param_dtype=jnp.dtype(dtype), rngs=rngs
            )
            self.bn = nnx.BatchNorm(dmid, dtype=jnp.dtype(dtype), param_dtype=jnp.dtype(dtype), rngs=rngs)
            self.linear2 = nnx.Linear(
                dmid, dout, dtype=jnp.dtype(dtype), param_dtype=jnp.dtype(dtype), rngs=rngs
            )

        def __call__(self, x):
            return self.linear2(nnx.relu(self.bn(self.linear1(x))))

    model = MLP(5, 5, 3, nnx.Rngs(0))
    # NNX makes BatchNorm's statistics float32 whatever param_dtype is: float64 ones, as trained
    model.bn.mean = nnx.BatchStat(jnp.linspace(-0.3, 0.3, 5, dtype=dtype))
    model.bn.var = nnx.BatchStat(jnp.linspace(0.6, 1.4, 5, dtype=dtype))
    return model


def flax_torch_port(model, dtype, bug):
    """The torch port (nn.BatchNorm1d with Flax's ε 1e-5 and momentum 1 − 0.99); `bug="transpose"` copies
    the square first kernel (5, 5) without its transpose: the shapes cannot tell."""
    import torch
    from torch import nn

    net = nn.Sequential(nn.Linear(5, 5), nn.BatchNorm1d(5, momentum=0.01), nn.ReLU(), nn.Linear(5, 3)).to(
        getattr(torch, dtype)
    )
    first = np.array(model.linear1.kernel[...])
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(first if bug == "transpose" else first.T))
        net[0].bias.copy_(torch.from_numpy(np.array(model.linear1.bias[...])))
        for p, v in zip(
            (net[1].weight, net[1].bias, net[1].running_mean, net[1].running_var),
            (model.bn.scale, model.bn.bias, model.bn.mean, model.bn.var),
        ):
            p.copy_(torch.from_numpy(np.array(v[...])))
        net[3].weight.copy_(torch.from_numpy(np.array(model.linear2.kernel[...]).T))
        net[3].bias.copy_(torch.from_numpy(np.array(model.linear2.bias[...])))
    return net.eval()


flax_basics = ported(flax_mlp, flax_torch_port)


def features(dtype, n=16, width=5, classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, width)).astype(dtype), rng.integers(0, classes, n)


def optax_torch(dtype):
    import optax
    import torch

    return (optax.sgd(0.125), lambda p: torch.optim.SGD(p, lr=0.125))


ZOO = [
    Entry(
        "mnist-net",
        "pytorch/examples mnist/main.py @ f15fac72e01158bcb704dded7c7e511f7a712a5f (Net; keras-io "
        "examples/vision/mnist_convnet.py @ 02cfe8063b505adc073986c91729f22039f77ad0 for the port)",
        mnist,
        images,
        "softmax_ce",
        nll_optimizers,
        "flatten-order",
        ("weights", 2, "flatten-order"),
    ),
    Entry(
        "resnet-basic-block",
        "pytorch/vision torchvision/models/resnet.py @ f50e776b051ddf007b90d7bc8f70b0708c12d008 (BasicBlock)",
        resnet,
        lambda dtype: (np.random.default_rng(0).normal(size=(4, 6, 6, 3)).astype(dtype), np.arange(4) % 4),
        "softmax_ce",
        lambda dtype: nll_optimizers(dtype)[::-1],
        "missing-residual",
        ("structure", 3, "missing-residual"),
    ),
    Entry(
        "text-classifier",
        "keras-team/keras-io examples/nlp/text_classification_from_scratch.py (Embedding → pooling → "
        "Dense), torch port with nn.Embedding",
        text,
        tokens,
        "bce_logits",
        lambda dtype: nll_optimizers(dtype)[::-1],
        "embedding-padding",
        ("gradient", 0, "embedding-padding"),
    ),
    Entry(
        "flax-nnx-mlp",
        "google/flax docs_nnx/nnx_basics (MLP: Linear, BatchNorm, relu, Linear), torch port",
        flax_basics,
        features,
        "softmax_ce",
        optax_torch,
        "transpose",
        ("weights", 0, "transpose"),
    ),
]


# ---- nanoGPT: token and position embeddings, pre-LayerNorm blocks of causal self-attention written
# by hand (one Linear for q, k, v, a mask buffer, softmax) and a GELU MLP, residual adds, a final
# LayerNorm, the output projection ----


def gpt_torch(dtype, vocab=11, n_embd=8, n_head=2, n_layer=2, block_size=6, tied=False):
    import math

    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj = nn.Linear(n_embd, 3 * n_embd), nn.Linear(n_embd, n_embd)
            mask = torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size)
            self.register_buffer("bias", mask)

        def forward(self, x):
            B, T, C = x.size()  # noqa: N806
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
            y = F.softmax(att, dim=-1) @ v  # (B, nh, T, hs)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2 = (
                nn.LayerNorm(n_embd),
                CausalSelfAttention(),
                nn.LayerNorm(n_embd),
            )
            self.c_fc, self.gelu, self.mlp_proj = (
                nn.Linear(n_embd, 4 * n_embd),
                nn.GELU(),
                nn.Linear(4 * n_embd, n_embd),
            )

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block_size, n_embd)
            self.h = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f, self.lm_head = nn.LayerNorm(n_embd), nn.Linear(n_embd, vocab, bias=False)
            if tied:  # nanoGPT's weight tying: one Parameter, the table and the output layer's weight
                self.wte.weight = self.lm_head.weight

        def forward(self, idx):
            pos = torch.arange(0, idx.size(1), dtype=torch.long)
            x = self.wte(idx) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    torch.manual_seed(0)
    return GPT().to(getattr(torch, dtype)).eval()


def gpt_keras_port(net, dtype, bug, n_head=2):
    """A Keras subclassed port: Dense layers, LayerNormalization(epsilon=1e-5) (Keras's default is
    1e-3), the attention in keras.ops. `bug="layernorm-epsilon"` keeps Keras's default ε in ln_f."""
    import keras
    from keras import ops

    L = keras.layers  # noqa: N806
    n_embd = net.wte.embedding_dim

    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__(dtype=dtype)
            self.ln_1, self.ln_2 = (L.LayerNormalization(epsilon=1e-5, dtype=dtype) for _ in range(2))
            self.c_attn, self.c_proj = L.Dense(3 * n_embd, dtype=dtype), L.Dense(n_embd, dtype=dtype)
            self.c_fc = L.Dense(4 * n_embd, activation="gelu", dtype=dtype)  # exact GELU, as nn.GELU()
            self.mlp_proj = L.Dense(n_embd, dtype=dtype)

        def call(self, x):
            b, t = ops.shape(x)[0], ops.shape(x)[1]
            q, k, v = ops.split(self.c_attn(self.ln_1(x)), 3, axis=-1)
            q, k, v = (
                ops.transpose(ops.reshape(a, (b, t, n_head, n_embd // n_head)), (0, 2, 1, 3))
                for a in (q, k, v)
            )
            att = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / np.sqrt(n_embd // n_head)
            mask = ops.tril(ops.ones((t, t), dtype="bool"))
            att = ops.softmax(ops.where(mask, att, float("-inf")), axis=-1)
            y = ops.reshape(ops.transpose(ops.matmul(att, v), (0, 2, 1, 3)), (b, t, n_embd))
            x = x + self.c_proj(y)
            return x + self.mlp_proj(self.c_fc(self.ln_2(x)))

    class GPT(keras.Model):
        def __init__(self):
            super().__init__(dtype=dtype)
            self.wte = L.Embedding(net.wte.num_embeddings, n_embd, dtype=dtype)
            self.wpe = L.Embedding(net.wpe.num_embeddings, n_embd, dtype=dtype)
            self.blocks = [Block() for _ in net.h]
            self.ln_f = L.LayerNormalization(
                epsilon=1e-3 if bug == "layernorm-epsilon" else 1e-5, dtype=dtype
            )
            self.lm_head = L.Dense(net.wte.num_embeddings, use_bias=False, dtype=dtype)

        def call(self, idx):
            x = self.wte(idx) + self.wpe(ops.arange(ops.shape(idx)[1]))
            for block in self.blocks:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    port = GPT()
    port(np.zeros((1, net.wpe.num_embeddings), "int32"))
    linear = lambda m: [numpy_of(m.weight).T] + ([numpy_of(m.bias)] if m.bias is not None else [])  # noqa: E731
    norm = lambda m: [numpy_of(m.weight), numpy_of(m.bias)]  # noqa: E731
    port.wte.set_weights([numpy_of(net.wte.weight)])
    port.wpe.set_weights([numpy_of(net.wpe.weight)])
    for block, source in zip(port.blocks, net.h):
        block.ln_1.set_weights(norm(source.ln_1))
        block.c_attn.set_weights(linear(source.attn.c_attn))
        block.c_proj.set_weights(linear(source.attn.c_proj))
        block.ln_2.set_weights(norm(source.ln_2))
        block.c_fc.set_weights(linear(source.c_fc))
        block.mlp_proj.set_weights(linear(source.mlp_proj))
    port.ln_f.set_weights(norm(net.ln_f))
    port.lm_head.set_weights(linear(net.lm_head))
    return port


gpt = ported(gpt_torch, gpt_keras_port)


def next_tokens(dtype, n=4, t=6, vocab=11):
    rng = np.random.default_rng(0)
    return rng.integers(0, vocab, size=(n, t)), rng.integers(0, vocab, size=(n, t))


def token_losses(dtype):
    """Cross-entropy over every position: torch flattens (N·T, V), Keras takes (N, T, V) as it is."""
    import keras
    import torch.nn.functional as F  # noqa: N812

    def torch_loss(logits, y):  # torch losses: (input, target)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    return torch_loss, keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)


ZOO.append(
    Entry(
        "gpt",
        "karpathy/nanoGPT model.py @ 04a1d697ddc57aadb2edbe95816bf86c6b8918b0 (GPT, Block, "
        "CausalSelfAttention by hand; nn.LayerNorm for its own LayerNorm class, the output projection "
        "untied), Keras subclassed port",
        gpt,
        next_tokens,
        token_losses,
        nll_optimizers,
        "layernorm-epsilon",
        ("forward", 14, "layernorm-epsilon"),
    )
)


# ---- the Flax examples' MNIST CNN (NNX): Conv, relu, avg_pool, reshape, Linear in __call__ ----


def flax_cnn(dtype):
    from flax import nnx

    kw = nnx_kwargs(dtype)

    class CNN(nnx.Module):
        def __init__(self):
            self.conv1, self.conv2 = nnx.Conv(1, 4, (3, 3), **kw), nnx.Conv(4, 8, (3, 3), **kw)
            self.linear1, self.linear2 = nnx.Linear(32, 16, **kw), nnx.Linear(16, 10, **kw)

        def __call__(self, x):
            x = nnx.avg_pool(nnx.relu(self.conv1(x)), window_shape=(2, 2), strides=(2, 2))
            x = nnx.avg_pool(nnx.relu(self.conv2(x)), window_shape=(2, 2), strides=(2, 2))
            x = x.reshape(x.shape[0], -1)  # (N, H·W·C): NHWC order
            return self.linear2(nnx.relu(self.linear1(x)))

    return CNN()


def flax_cnn_torch_port(model, dtype, bug):
    """The torch port: NCHW convs with padding 1 ("SAME" at stride 1), kernels permuted (kh, kw, in,
    out) -> (out, in, kh, kw), linear1's rows reordered from (H, W, C) to nn.Flatten's (C, H, W).
    `bug="conv-kernel"` permutes conv2's kernel (3, 2, 1, 0): kh and kw swapped."""
    import torch
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10),
    ).to(getattr(torch, dtype))  # fmt: skip
    t = lambda a: torch.from_numpy(np.array(a[...]))  # noqa: E731
    rows = np.array(model.linear1.kernel[...]).reshape(2, 2, 8, 16).transpose(2, 0, 1, 3).reshape(32, 16)
    with torch.no_grad():
        for conv, source in ((net[0], model.conv1), (net[3], model.conv2)):
            axes = (3, 2, 1, 0) if bug == "conv-kernel" and conv is net[3] else (3, 2, 0, 1)
            conv.weight.copy_(t(np.array(source.kernel[...]).transpose(axes)))
            conv.bias.copy_(t(source.bias))
        net[7].weight.copy_(torch.from_numpy(rows.T.copy()))
        net[7].bias.copy_(t(model.linear1.bias))
        net[9].weight.copy_(torch.from_numpy(np.array(model.linear2.kernel[...]).T.copy()))
        net[9].bias.copy_(t(model.linear2.bias))
    return net.eval()


flax_cnn_pair = ported(flax_cnn, flax_cnn_torch_port)


ZOO.append(
    Entry(
        "flax-nnx-cnn",
        "google/flax examples/mnist (CNN: Conv, relu, avg_pool, reshape, Linear), written as an nnx.Module; "
        "torch port",
        flax_cnn_pair,
        lambda dtype: images(dtype, size=8),
        "softmax_ce",
        optax_torch,
        "conv-kernel",
        ("weights", 1, "conv-kernel"),
    )
)


# ---- keras-io text classification with a Transformer: layers.Layer subclasses in a functional model ----


def transformer_keras(dtype, maxlen=6, vocab=12, embed=8, heads=2, ff=8):
    """TransformerBlock (MultiHeadAttention with key_dim = embed_dim, residuals, LayerNormalization
    ε 1e-6, a relu FFN) and TokenAndPositionEmbedding as the example writes them; its final softmax
    is folded into the loss (from logits)."""
    import keras
    from keras import layers

    class TransformerBlock(layers.Layer):
        def __init__(self):
            super().__init__(dtype=dtype)
            self.att = layers.MultiHeadAttention(num_heads=heads, key_dim=embed, dtype=dtype)
            self.ffn = keras.Sequential(
                [layers.Dense(ff, activation="relu", dtype=dtype), layers.Dense(embed, dtype=dtype)]
            )
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6, dtype=dtype)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6, dtype=dtype)
            self.dropout1, self.dropout2 = layers.Dropout(0.1, dtype=dtype), layers.Dropout(0.1, dtype=dtype)

        def call(self, inputs):
            out1 = self.layernorm1(inputs + self.dropout1(self.att(inputs, inputs)))
            return self.layernorm2(out1 + self.dropout2(self.ffn(out1)))

    keras.utils.set_random_seed(0)
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    x = TransformerBlock()(token_and_position_embedding(vocab, maxlen, embed, dtype)(inputs))
    x = layers.Dropout(0.1, dtype=dtype)(layers.GlobalAveragePooling1D(dtype=dtype)(x))
    x = layers.Dropout(0.1, dtype=dtype)(layers.Dense(20, activation="relu", dtype=dtype)(x))
    return keras.Model(inputs=inputs, outputs=layers.Dense(2, dtype=dtype)(x))


def token_and_position_embedding(vocab, maxlen, embed, dtype):
    """keras-io's TokenAndPositionEmbedding (the text classifier's and the miniature GPT's): a token
    and a position Embedding, added."""
    from keras import layers, ops

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self):
            super().__init__(dtype=dtype)
            self.token_emb = layers.Embedding(input_dim=vocab, output_dim=embed, dtype=dtype)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed, dtype=dtype)

        def call(self, x):
            positions = self.pos_emb(ops.arange(start=0, stop=ops.shape(x)[-1], step=1))
            return self.token_emb(x) + positions

    return TokenAndPositionEmbedding()


def transformer_flax_port(model, dtype, bug, maxlen=6, vocab=12, embed=8, heads=2, ff=8):
    """The Flax NNX port: nnx.MultiHeadAttention(qkv_features=heads·key_dim) takes Keras's kernels
    (E, h, d) as they are; `bug="qkv-order"` copies Keras's key projection into the query and back."""
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs(dtype)

    class Port(nnx.Module):
        def __init__(self):
            self.token_emb, self.pos_emb = nnx.Embed(vocab, embed, **kw), nnx.Embed(maxlen, embed, **kw)
            self.att = nnx.MultiHeadAttention(heads, embed, qkv_features=heads * embed, decode=False, **kw)
            self.ln1, self.ln2 = (
                nnx.LayerNorm(embed, epsilon=1e-6, **kw),
                nnx.LayerNorm(embed, epsilon=1e-6, **kw),
            )
            self.ff1, self.ff2 = nnx.Linear(embed, ff, **kw), nnx.Linear(ff, embed, **kw)
            self.dense, self.out = nnx.Linear(embed, 20, **kw), nnx.Linear(20, 2, **kw)

        def __call__(self, tokens):
            x = self.token_emb(tokens) + self.pos_emb(jnp.arange(tokens.shape[1]))
            out1 = self.ln1(x + self.att(x))
            x = self.ln2(out1 + self.ff2(nnx.relu(self.ff1(out1))))
            return self.out(nnx.relu(self.dense(jnp.mean(x, axis=1))))

    port = Port()
    value = lambda variable: jnp.asarray(np.array(variable.numpy()))  # noqa: E731
    embedding, block = model.layers[1], model.layers[2]
    port.token_emb.embedding.value = value(embedding.token_emb.embeddings)
    port.pos_emb.embedding.value = value(embedding.pos_emb.embeddings)
    names = {"query": "key", "key": "query"} if bug == "qkv-order" else {}
    for part in ("query", "key", "value"):
        dense = getattr(block.att, f"_{names.get(part, part)}_dense")
        getattr(port.att, part).kernel.value, getattr(port.att, part).bias.value = map(value, dense.weights)
    port.att.out.kernel.value, port.att.out.bias.value = map(value, block.att._output_dense.weights)
    for norm, source in ((port.ln1, block.layernorm1), (port.ln2, block.layernorm2)):
        norm.scale.value, norm.bias.value = map(value, source.weights)
    heads = [layer for layer in model.layers if isinstance(layer, type(block.ffn.layers[0]))]
    for linear, source in zip((port.ff1, port.ff2, port.dense, port.out), block.ffn.layers + heads):
        linear.kernel.value, linear.bias.value = map(value, source.weights)
    return port


transformer = ported(transformer_keras, transformer_flax_port)


def keras_optax(dtype):
    import keras
    import optax

    return (keras.optimizers.SGD(0.125), optax.sgd(0.125))


ZOO.append(
    Entry(
        "keras-transformer-classifier",
        "keras-team/keras-io examples/nlp/text_classification_with_transformer.py @ "
        "1909c6710cd3f5af6401f1176dcee9e26781b4f3 (TransformerBlock, TokenAndPositionEmbedding); "
        "Flax NNX port",
        transformer,
        lambda dtype: tokens(dtype)[0:1] + (np.random.default_rng(1).integers(0, 2, 16),),
        "softmax_ce",
        keras_optax,
        "qkv-order",
        ("weights", 2, "qkv-order"),
    )
)


# ---- the JAX AI stack's miniGPT (Flax NNX): nnx.MultiHeadAttention with a causal mask, post-LayerNorm ----


def minigpt_flax(dtype, maxlen=6, vocab=11, embed=8, heads=2, ff=8, blocks=2):
    """TokenAndPositionEmbedding, TransformerBlocks (causal nnx.MultiHeadAttention, residual,
    LayerNorm ε 1e-6, relu FFN) and the output layer, as the tutorial writes them; dropout left out."""
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs(dtype)

    class TransformerBlock(nnx.Module):
        def __init__(self):
            self.mha = nnx.MultiHeadAttention(num_heads=heads, in_features=embed, decode=False, **kw)
            self.layer_norm1 = nnx.LayerNorm(epsilon=1e-6, num_features=embed, **kw)
            self.linear1, self.linear2 = nnx.Linear(embed, ff, **kw), nnx.Linear(ff, embed, **kw)
            self.layer_norm2 = nnx.LayerNorm(epsilon=1e-6, num_features=embed, **kw)

        def __call__(self, inputs):
            mask = jnp.tril(jnp.ones((inputs.shape[1], inputs.shape[1])))  # causal_attention_mask
            out1 = self.layer_norm1(inputs + self.mha(inputs_q=inputs, mask=mask, decode=False))
            return self.layer_norm2(out1 + self.linear2(nnx.relu(self.linear1(out1))))

    class MiniGPT(nnx.Module):
        def __init__(self):
            self.token_emb, self.pos_emb = nnx.Embed(vocab, embed, **kw), nnx.Embed(maxlen, embed, **kw)
            self.transformer_blocks = nnx.List([TransformerBlock() for _ in range(blocks)])
            self.output_layer = nnx.Linear(embed, vocab, **kw)

        def __call__(self, tokens):
            x = self.token_emb(tokens) + self.pos_emb(jnp.arange(0, tokens.shape[1])[None, :])
            for block in self.transformer_blocks:
                x = block(x)
            return self.output_layer(x)

    return MiniGPT()


def minigpt_torch_port(model, dtype, bug):
    """The torch port: nn.MultiheadAttention(batch_first=True) takes the Flax kernels (E, h, d) packed
    into in_proj_weight's rows q, k, v, with attn_mask=triu(ones, 1) (True: not allowed);
    `bug="causal-mask"` calls it without the mask."""
    import torch
    from torch import nn

    (vocab, embed), maxlen = model.token_emb.embedding.shape, model.pos_emb.embedding.shape[0]
    ff, heads = model.transformer_blocks[0].linear1.out_features, model.transformer_blocks[0].mha.num_heads

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(embed, heads, batch_first=True)
            self.ln1, self.ln2 = nn.LayerNorm(embed, eps=1e-6), nn.LayerNorm(embed, eps=1e-6)
            self.fc1, self.fc2 = nn.Linear(embed, ff), nn.Linear(ff, embed)

        def forward(self, x):
            t = x.shape[1]
            mask = None if bug == "causal-mask" else torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
            out1 = self.ln1(x + self.attn(x, x, x, attn_mask=mask, need_weights=False)[0])
            return self.ln2(out1 + self.fc2(torch.relu(self.fc1(out1))))

    class Port(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, embed), nn.Embedding(maxlen, embed)
            self.blocks, self.out = (
                nn.ModuleList([Block() for _ in model.transformer_blocks]),
                nn.Linear(embed, vocab),
            )

        def forward(self, tokens):
            x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
            for block in self.blocks:
                x = block(x)
            return self.out(x)

    net = Port().to(getattr(torch, dtype))
    a = lambda v: torch.from_numpy(np.array(v[...]))  # noqa: E731
    linear = lambda m, source: (m.weight.copy_(a(source.kernel).T), m.bias.copy_(a(source.bias)))  # noqa: E731
    with torch.no_grad():
        net.tok.weight.copy_(a(model.token_emb.embedding))
        net.pos.weight.copy_(a(model.pos_emb.embedding))
        for block, source in zip(net.blocks, model.transformer_blocks):
            mha = source.mha
            block.attn.in_proj_weight.copy_(
                torch.cat([a(p.kernel).reshape(embed, -1).T for p in (mha.query, mha.key, mha.value)])
            )
            block.attn.in_proj_bias.copy_(
                torch.cat([a(p.bias).reshape(-1) for p in (mha.query, mha.key, mha.value)])
            )
            block.attn.out_proj.weight.copy_(a(mha.out.kernel).reshape(-1, embed).T)
            block.attn.out_proj.bias.copy_(a(mha.out.bias))
            for norm, s in ((block.ln1, source.layer_norm1), (block.ln2, source.layer_norm2)):
                norm.weight.copy_(a(s.scale))
                norm.bias.copy_(a(s.bias))
            linear(block.fc1, source.linear1)
            linear(block.fc2, source.linear2)
        linear(net.out, model.output_layer)
    return net.eval()


minigpt = ported(minigpt_flax, minigpt_torch_port)


def flax_token_losses(dtype):
    """Cross-entropy over every position: optax on (N, T, V) logits, torch on them flattened."""
    import optax
    import torch.nn.functional as F  # noqa: N812

    def flax_loss(logits, y):
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def torch_loss(logits, y):  # torch losses: (input, target)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    return flax_loss, torch_loss


ZOO.append(
    Entry(
        "flax-minigpt",
        "jax-ml/jax-ai-stack docs/source/JAX_for_LLM_pretraining.md @ "
        "5943a8764f83a80509f164c0b97478bc3d37b9bb (MiniGPT: TokenAndPositionEmbedding, TransformerBlock "
        "with a causal nnx.MultiHeadAttention); torch port with nn.MultiheadAttention",
        minigpt,
        next_tokens,
        flax_token_losses,
        optax_torch,
        "causal-mask",
        ("forward", 2, "causal-mask"),
    )
)


def gpt_flax_port(net, dtype, bug, n_head=2):
    """A Flax NNX port of the tied nanoGPT: the attention in jax.numpy, nnx.gelu(approximate=False)
    (exact, as nn.GELU()), the output layer wte.attend (the table, tied). `bug="gelu-approximate"`
    writes nnx.gelu as it defaults, the tanh approximation."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs(dtype)
    n_embd, (vocab, block_size) = net.wte.embedding_dim, (net.wte.num_embeddings, net.wpe.num_embeddings)

    class Block(nnx.Module):
        def __init__(self):
            self.ln_1, self.ln_2 = (
                nnx.LayerNorm(n_embd, epsilon=1e-5, **kw),
                nnx.LayerNorm(n_embd, epsilon=1e-5, **kw),
            )
            self.c_attn, self.c_proj = nnx.Linear(n_embd, 3 * n_embd, **kw), nnx.Linear(n_embd, n_embd, **kw)
            self.c_fc, self.mlp_proj = (
                nnx.Linear(n_embd, 4 * n_embd, **kw),
                nnx.Linear(4 * n_embd, n_embd, **kw),
            )

        def __call__(self, x):
            b, t, c = x.shape
            q, k, v = (
                a.reshape(b, t, n_head, c // n_head).transpose(0, 2, 1, 3)
                for a in jnp.split(self.c_attn(self.ln_1(x)), 3, axis=-1)
            )
            att = jnp.where(
                jnp.tril(jnp.ones((t, t), bool)), q @ k.transpose(0, 1, 3, 2) / np.sqrt(c // n_head), -jnp.inf
            )
            y = (jax.nn.softmax(att, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(b, t, c)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(nnx.gelu(self.c_fc(self.ln_2(x)), approximate=bug == "gelu-approximate"))

    class GPT(nnx.Module):
        def __init__(self):
            self.wte, self.wpe = nnx.Embed(vocab, n_embd, **kw), nnx.Embed(block_size, n_embd, **kw)
            self.h = nnx.List([Block() for _ in net.h])
            self.ln_f = nnx.LayerNorm(n_embd, epsilon=1e-5, **kw)

        def __call__(self, idx):
            x = self.wte(idx) + self.wpe(jnp.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            return self.wte.attend(self.ln_f(x))

    port = GPT()
    a = lambda p: jnp.asarray(numpy_of(p))  # noqa: E731
    port.wte.embedding.value, port.wpe.embedding.value = a(net.wte.weight), a(net.wpe.weight)
    for block, source in zip(port.h, net.h):
        for mine, theirs in ((block.ln_1, source.ln_1), (block.ln_2, source.ln_2)):
            mine.scale.value, mine.bias.value = a(theirs.weight), a(theirs.bias)
        pairs = (
            (block.c_attn, source.attn.c_attn),
            (block.c_proj, source.attn.c_proj),
            (block.c_fc, source.c_fc),
            (block.mlp_proj, source.mlp_proj),
        )
        for mine, theirs in pairs:
            mine.kernel.value, mine.bias.value = a(theirs.weight).T, a(theirs.bias)
    port.ln_f.scale.value, port.ln_f.bias.value = a(net.ln_f.weight), a(net.ln_f.bias)
    return port


gpt_tied = ported(functools.partial(gpt_torch, tied=True), gpt_flax_port)


def flax_token_loss_pair(dtype):
    """Cross-entropy over every position: torch's flattened, optax's on (N, T, V)."""
    return flax_token_losses(dtype)[::-1]


ZOO.append(
    Entry(
        "gpt-tied-flax",
        "karpathy/nanoGPT model.py @ 04a1d697ddc57aadb2edbe95816bf86c6b8918b0 (GPT with its weight tying, "
        "wte.weight = lm_head.weight; CausalSelfAttention by hand), Flax NNX port tied by wte.attend",
        gpt_tied,
        next_tokens,
        flax_token_loss_pair,
        lambda dtype: optax_torch(dtype)[::-1],
        "gelu-approximate",
        ("forward", 6, "gelu-approximate"),
    )
)
