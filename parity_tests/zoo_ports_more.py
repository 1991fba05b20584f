"""Second ports of zoo entries (parity_tests/zoo.py, zoo_more.py), each to a framework its entry lacks:
the entry's original, built by its own builder, and a port written as that framework's public examples
write such a model, the original's weights copied in (converted to the port's layouts)."""

import functools

import numpy as np

from parity_tests.zoo import (
    Port,
    flax_cnn,
    flax_mlp,
    flax_token_losses,
    keras_optax,
    minigpt_flax,
    nll_optimizers,
    numpy_of,
    ported,
    token_and_position_embedding,
    transformer_keras,
)
from parity_tests.zoo_more import mlp_block_keras, unet_torch


def flax_arrays(*variables):
    """Flax variables as NumPy arrays (their layouts are Keras's: kernels (in, out), (kh, kw, in, out))."""
    return [np.array(v[...]) for v in variables]


def set_from_flax(layer, *modules, names=("kernel", "bias")):
    """A Keras layer's weights, in its own order, from Flax modules' variables of those names."""
    layer.set_weights(flax_arrays(*(getattr(module, name) for module in modules for name in names)))


def optax_keras(dtype):
    return keras_optax(dtype)[::-1]


def keras_torch(dtype):
    return nll_optimizers(dtype)[::-1]


def torch_tensor(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def copy_into(params, arrays):
    """torch parameters (or buffers) overwritten in place, one array each."""
    import torch

    with torch.no_grad():
        for p, a in zip(params, arrays, strict=True):
            p.copy_(torch_tensor(a))


def linear_from_dense(linear, dense):
    """nn.Linear from a Keras Dense: kernel (in, out) -> weight (out, in)."""
    kernel, bias = dense.get_weights()
    copy_into((linear.weight, linear.bias), (kernel.T, bias))


# ---- 1. flax-nnx-mlp: Flax NNX MLP (Linear, BatchNorm, relu, Linear) -> Keras ----


def flax_mlp_keras_port(model, dtype, bug):
    """keras.Sequential as keras-io writes small classifiers: Dense, BatchNormalization with NNX's
    ε 1e-5 and momentum 0.99 (the same convention: m·old + (1 − m)·batch), ReLU, Dense."""
    import keras

    L = keras.layers  # noqa: N806
    port = keras.Sequential(
        [
            keras.Input((model.linear1.in_features,), dtype=dtype),
            L.Dense(model.linear1.out_features, dtype=dtype),
            L.BatchNormalization(epsilon=1e-5, momentum=0.99, dtype=dtype),
            L.ReLU(dtype=dtype),
            L.Dense(model.linear2.out_features, dtype=dtype),
        ]
    )
    dense1, bn, _, dense2 = port.layers
    set_from_flax(dense1, model.linear1)
    set_from_flax(bn, model.bn, names=("scale", "bias", "mean", "var"))
    set_from_flax(dense2, model.linear2)
    return port


# ---- 2. flax-nnx-cnn: the Flax examples' MNIST CNN -> Keras ----


def flax_cnn_keras_port(model, dtype, bug, size=8):
    """keras.Sequential as keras-io's mnist_convnet writes it: Conv2D(activation="relu",
    padding="same": NNX's "SAME"), AveragePooling2D, Flatten (row-major over (H, W, C), as the
    original's reshape), Dense. Kernels (kh, kw, in, out) and (in, out) as NNX holds them."""
    import keras

    L = keras.layers  # noqa: N806
    port = keras.Sequential(
        [
            keras.Input((size, size, model.conv1.in_features), dtype=dtype),
            L.Conv2D(model.conv1.out_features, 3, padding="same", activation="relu", dtype=dtype),
            L.AveragePooling2D(2, dtype=dtype),
            L.Conv2D(model.conv2.out_features, 3, padding="same", activation="relu", dtype=dtype),
            L.AveragePooling2D(2, dtype=dtype),
            L.Flatten(dtype=dtype),
            L.Dense(model.linear1.out_features, activation="relu", dtype=dtype),
            L.Dense(model.linear2.out_features, dtype=dtype),
        ]
    )
    weighted = [layer for layer in port.layers if layer.weights]
    for layer, source in zip(weighted, (model.conv1, model.conv2, model.linear1, model.linear2), strict=True):
        set_from_flax(layer, source)
    return port


# ---- 3. keras-transformer-classifier: keras-io's Transformer text classifier -> torch ----


def transformer_torch_port(model, dtype, bug):
    """An nn.Module as pytorch/examples write one: nn.Embedding for tokens and positions,
    nn.MultiheadAttention(batch_first=True), residuals, nn.LayerNorm(eps=1e-6), a ReLU FFN,
    x.mean(1) for GlobalAveragePooling1D, nn.Dropout where Keras has Dropout. Keras's attention
    kernels (E, h, d) are packed into in_proj_weight's rows q, k, v; (h, d, E) into out_proj.
    nn.MultiheadAttention(E, h) has head size E / h: the Keras layer's key_dim must be that, so the
    example's (key_dim = E) is built with one head."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    embedding, block = model.layers[1], model.layers[2]
    (vocab, embed), maxlen = embedding.token_emb.embeddings.shape, embedding.pos_emb.embeddings.shape[0]
    att, (ff1, ff2), (dense, out) = block.att, block.ffn.layers, model.layers[-3::2]
    assert att.num_heads * att.key_dim == embed, "nn.MultiheadAttention's head size is E / h"

    class TransformerClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_emb, self.pos_emb = nn.Embedding(vocab, embed), nn.Embedding(maxlen, embed)
            self.att = nn.MultiheadAttention(embed, att.num_heads, batch_first=True)
            self.ffn = nn.Sequential(nn.Linear(embed, ff1.units), nn.ReLU(), nn.Linear(ff1.units, embed))
            self.layernorm1, self.layernorm2 = nn.LayerNorm(embed, eps=1e-6), nn.LayerNorm(embed, eps=1e-6)
            self.dropout = nn.Dropout(0.1)
            self.dense, self.out = nn.Linear(embed, dense.units), nn.Linear(dense.units, out.units)

        def forward(self, tokens):
            x = self.token_emb(tokens) + self.pos_emb(torch.arange(tokens.shape[1]))
            out1 = self.layernorm1(x + self.dropout(self.att(x, x, x, need_weights=False)[0]))
            x = self.layernorm2(out1 + self.dropout(self.ffn(out1)))
            x = self.dropout(F.relu(self.dense(self.dropout(x.mean(1)))))
            return self.out(x)

    net = TransformerClassifier().to(getattr(torch, dtype))
    copy_into((net.token_emb.weight,), embedding.token_emb.get_weights())
    copy_into((net.pos_emb.weight,), embedding.pos_emb.get_weights())
    copy_attention_from_keras(net.att, att)
    for norm, source in ((net.layernorm1, block.layernorm1), (net.layernorm2, block.layernorm2)):
        copy_into((norm.weight, norm.bias), source.get_weights())
    for linear, source in ((net.ffn[0], ff1), (net.ffn[2], ff2), (net.dense, dense), (net.out, out)):
        linear_from_dense(linear, source)
    return net.eval()


def copy_attention_from_keras(mha, att):
    """nn.MultiheadAttention from a Keras MultiHeadAttention: q, k, v kernels (E, h, d) -> the rows
    of in_proj_weight (3E, E), their biases (h, d) -> in_proj_bias; the output kernel (h, d, E) ->
    out_proj.weight (E, h·d)."""
    wq, bq, wk, bk, wv, bv, wo, bo = att.get_weights()
    embed = wq.shape[0]
    in_proj = np.concatenate([w.reshape(embed, -1).T for w in (wq, wk, wv)])
    in_bias = np.concatenate([b.reshape(-1) for b in (bq, bk, bv)])
    copy_into(
        (mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias),
        (in_proj, in_bias, wo.reshape(-1, embed).T, bo),
    )


# ---- 4. flax-minigpt: the JAX AI stack's miniGPT -> Keras ----


def minigpt_keras_port(model, dtype, bug):
    """keras-io's miniature GPT (text_generation_with_miniature_gpt.py): TokenAndPositionEmbedding
    and TransformerBlock as layers.Layer subclasses in a functional model, MultiHeadAttention called
    with use_causal_mask=True, post-LayerNormalization ε 1e-6, a Sequential ReLU FFN. key_dim is the
    NNX layer's head size (in_features / heads): its kernels (E, h, d), (h, d, E) are Keras's."""
    import keras
    from keras import layers

    (vocab, embed), maxlen = model.token_emb.embedding.shape, model.pos_emb.embedding.shape[0]
    heads, ff = model.transformer_blocks[0].mha.num_heads, model.transformer_blocks[0].linear1.out_features

    class TransformerBlock(layers.Layer):
        def __init__(self):
            super().__init__(dtype=dtype)
            self.att = layers.MultiHeadAttention(heads, embed // heads, dtype=dtype)
            self.ffn = keras.Sequential(
                [layers.Dense(ff, activation="relu", dtype=dtype), layers.Dense(embed, dtype=dtype)]
            )
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6, dtype=dtype)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6, dtype=dtype)

        def call(self, inputs):
            out1 = self.layernorm1(inputs + self.att(inputs, inputs, use_causal_mask=True))
            return self.layernorm2(out1 + self.ffn(out1))

    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    embedding = token_and_position_embedding(vocab, maxlen, embed, dtype)
    blocks = [TransformerBlock() for _ in model.transformer_blocks]
    x = embedding(inputs)
    for block in blocks:
        x = block(x)
    output = layers.Dense(vocab, dtype=dtype)
    port = keras.Model(inputs=inputs, outputs=output(x))
    set_from_flax(embedding.token_emb, model.token_emb, names=("embedding",))
    set_from_flax(embedding.pos_emb, model.pos_emb, names=("embedding",))
    for block, source in zip(blocks, model.transformer_blocks, strict=True):
        mha = source.mha
        set_from_flax(block.att, mha.query, mha.key, mha.value, mha.out)
        set_from_flax(block.layernorm1, source.layer_norm1, names=("scale", "bias"))
        set_from_flax(block.layernorm2, source.layer_norm2, names=("scale", "bias"))
        set_from_flax(block.ffn.layers[0], source.linear1)
        set_from_flax(block.ffn.layers[1], source.linear2)
    set_from_flax(output, model.output_layer)
    return port


def flax_keras_token_losses(dtype):
    """Cross-entropy over every position: optax's and Keras's, both on (N, T, V) logits."""
    import keras

    return flax_token_losses(dtype)[0], keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, dtype=dtype
    )


# ---- 5. keras-subclassed-mlp-block: the keras-io subclassing guide's MLPBlock -> torch ----


def mlp_block_torch_port(model, dtype, bug):
    """An nn.Module as pytorch/examples write one: three nn.Linear and F.relu in forward, as the
    guide's call has them; each weight the Keras kernel transposed."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    denses = (model.linear_1, model.linear_2, model.linear_3)

    class MLPBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear_1, self.linear_2, self.linear_3 = (nn.Linear(*d.kernel.shape) for d in denses)

        def forward(self, x):
            x = F.relu(self.linear_1(x))
            x = F.relu(self.linear_2(x))
            return self.linear_3(x)

    net = MLPBlock().to(getattr(torch, dtype))
    for linear, dense in zip((net.linear_1, net.linear_2, net.linear_3), denses, strict=True):
        linear_from_dense(linear, dense)
    return net.eval()


# ---- 6. unet-parts: milesial/Pytorch-UNet's parts -> Keras ----


def unet_keras_port(net, dtype, bug, size=8):
    """A Keras functional model as keras-io's oxford_pets_image_segmentation writes a U-Net:
    Conv2D(padding="same": torch's padding=1 at stride 1), BatchNormalization(ε 1e-5, momentum 0.9:
    torch's 0.1), ReLU, MaxPooling2D, Conv2DTranspose(2, strides=2) and a Concatenate of the skip and
    the upsampled map (torch's order), a 1x1 Conv2D. Each layer takes its torch weights as it is
    built: conv (out, in, kh, kw) -> (kh, kw, in, out), transposed conv (in, out, kh, kw) ->
    (kh, kw, out, in)."""
    import keras

    L = keras.layers  # noqa: N806

    def apply(layer, x, weights):
        y = layer(x)
        layer.set_weights(weights)
        return y

    def conv(x, m, layer=L.Conv2D, **kw):
        weights = [numpy_of(m.weight).transpose(2, 3, 1, 0), numpy_of(m.bias)]
        return apply(layer(m.out_channels, m.kernel_size, dtype=dtype, **kw), x, weights)

    def double_conv(x, block):
        seq = block.double_conv
        for c, bn in ((seq[0], seq[1]), (seq[3], seq[4])):
            x = conv(x, c, padding="same")
            weights = [numpy_of(p) for p in (bn.weight, bn.bias, bn.running_mean, bn.running_var)]
            x = L.ReLU(dtype=dtype)(
                apply(L.BatchNormalization(epsilon=1e-5, momentum=0.9, dtype=dtype), x, weights)
            )
        return x

    inputs = keras.Input((size, size, net.inc.double_conv[0].in_channels), dtype=dtype)
    x1 = double_conv(inputs, net.inc)
    x2 = double_conv(L.MaxPooling2D(2, dtype=dtype)(x1), net.down1[1])
    up = conv(x2, net.up1.up, L.Conv2DTranspose, strides=2)
    x = double_conv(L.Concatenate(axis=-1, dtype=dtype)([x1, up]), net.up1.conv)
    return keras.Model(inputs, conv(x, net.outc))


PORTS_MORE = [
    Port("flax-nnx-mlp", "flax", "keras", ported(flax_mlp, flax_mlp_keras_port), optax_keras),
    Port("flax-nnx-cnn", "flax", "keras", ported(flax_cnn, flax_cnn_keras_port), optax_keras),
    Port(
        "keras-transformer-classifier",
        "keras",
        "torch",
        # heads=1: nn.MultiheadAttention's head size is E / h, the example's key_dim is E (2 heads of
        # 8 on E = 8 have no nn.MultiheadAttention); with one head the two are the same layer
        ported(functools.partial(transformer_keras, heads=1), transformer_torch_port),
        keras_torch,
    ),
    Port(
        "flax-minigpt",
        "flax",
        "keras",
        ported(minigpt_flax, minigpt_keras_port),
        optax_keras,
        loss=flax_keras_token_losses,
    ),
    Port(
        "keras-subclassed-mlp-block",
        "keras",
        "torch",
        ported(mlp_block_keras, mlp_block_torch_port),
        keras_torch,
    ),
    Port("unet-parts", "torch", "keras", ported(unet_torch, unet_keras_port), nll_optimizers),
]
