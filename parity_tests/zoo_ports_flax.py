"""Second ports of zoo entries (parity_tests/zoo.py, zoo_more.py) to Flax NNX: each entry's original,
built by its own builder, and an nnx.Module written as Flax's own examples write models, with the
original's weights copied in (converted to Flax's layouts). Written after, no code copied:

- google/flax docs_nnx/mnist_tutorial.md (the CNN: layers made in __init__, nnx.relu and a
  functools.partial pooling in __call__, x.reshape to flatten; model.eval() for inference);
- google/flax docs_nnx/nnx_basics.md (Linear, BatchNorm, Dropout in an nnx.Module);
- google/flax examples/imagenet/models.py (ResNetBlock: conv, norm, act, conv, norm, act(residual + y);
  jnp.mean over (1, 2); BatchNorm momentum 0.9, ε 1e-5), there in Linen, here in NNX;
- google/flax flax/nnx/nn/recurrent.py (nnx.RNN over a cell, nnx.Bidirectional of two RNNs, as its
  docstrings build them).
"""

import functools

import numpy as np

from parity_tests.zoo import (
    Port,
    keras_optax,
    mnist_torch,
    nnx_kwargs,
    numpy_of,
    optax_torch,
    ported,
    resnet_keras_port,
    resnet_torch,
    text_keras,
)
from parity_tests.zoo_more import bilstm_keras, fcn_keras, mnist_rnn_torch, squeezenet_torch

# ---- weights into Flax variables ----


def assign(module, **arrays):
    """A Flax module's variables replaced, each by name, by NumPy arrays: set_value takes the array's
    dtype (variable[...] = a would cast into the old one, and NNX makes BatchNorm statistics float32
    whatever param_dtype is: a float64 original's must stay float64)."""
    import jax.numpy as jnp

    for name, a in arrays.items():
        getattr(module, name).set_value(jnp.asarray(np.asarray(a)))


def torch_kernel(weight):
    """torch (out, in, *k) -> Flax (*k, in, out): a Linear's Wᵀ, a Conv2d's permute(2, 3, 1, 0), a
    Conv1d's permute(2, 1, 0)."""
    w = numpy_of(weight)
    return w.transpose(*range(2, w.ndim), 1, 0)


def from_torch(module, layer):
    """nnx.Linear or nnx.Conv from nn.Linear or nn.Conv*d."""
    assign(module, kernel=torch_kernel(layer.weight), bias=numpy_of(layer.bias))


def batchnorm_from_torch(module, bn):
    """nnx.BatchNorm from nn.BatchNorm*d: γ, β and the running statistics."""
    assign(
        module,
        scale=numpy_of(bn.weight),
        bias=numpy_of(bn.bias),
        mean=numpy_of(bn.running_mean),
        var=numpy_of(bn.running_var),
    )


def from_keras(module, layer):
    """An nnx layer from the Keras layer of the same layout, in get_weights() order: Dense and Conv
    kernels (in, out), (k, in, out), (kh, kw, in, out) as Flax's; BatchNormalization's γ, β, moving mean
    and variance; Embedding's table."""
    from flax import nnx

    names = {nnx.BatchNorm: ("scale", "bias", "mean", "var"), nnx.Embed: ("embedding",)}.get(
        type(module), ("kernel", "bias")
    )
    weights = layer.get_weights()
    assign(module, **dict(zip(names[: len(weights)], weights, strict=True)))


def lstm_cell(cell, kernel, recurrent, bias):
    """nnx.LSTMCell from canonical W (in, 4u), U (u, 4u) and one bias b (4u), gate blocks i, f, g, o (torch's
    and Keras's order): the cell holds one Linear per gate, ii, if_, ig, io on x (no bias) and hi, hf,
    hg, ho on h (with the bias)."""
    blocks = zip(*(np.split(a, 4, axis=-1) for a in (kernel, recurrent, bias)), strict=True)
    for gate, (w, u, b) in zip("ifgo", blocks, strict=True):
        assign(getattr(cell, "if_" if gate == "f" else f"i{gate}"), kernel=w)
        assign(getattr(cell, f"h{gate}"), kernel=u, bias=b)


def lstm_cell_from_keras(cell, layer):
    """From a Keras LSTM: get_weights() is [W, U, b] already."""
    lstm_cell(cell, *layer.get_weights())


def keras_layers(model, cls):
    """A Keras model's layers of one class, in order (Bidirectional's and Sequential's inner ones not)."""
    return [layer for layer in model.layers if isinstance(layer, cls)]


def torch_optax(dtype):
    return optax_torch(dtype)[::-1]


# ---- 1. mnist-net: pytorch/examples mnist Net (torch) -> Flax ----


def mnist_flax_port(net, dtype, bug=None):
    """The mnist_tutorial CNN's style: convs "VALID" (torch's padding 0), nnx.max_pool as a partial,
    Dropout, x.reshape flattening NHWC, so fc1's rows are reordered from torch's (C, H, W) flatten to
    (H, W, C); nnx.log_softmax at the end as F.log_softmax."""
    from flax import nnx

    kw = nnx_kwargs(dtype)

    class Net(nnx.Module):
        def __init__(self):
            self.conv1 = nnx.Conv(1, 4, kernel_size=(3, 3), padding="VALID", **kw)
            self.conv2 = nnx.Conv(4, 8, kernel_size=(3, 3), padding="VALID", **kw)
            self.max_pool = functools.partial(nnx.max_pool, window_shape=(2, 2), strides=(2, 2))
            self.dropout1 = nnx.Dropout(0.25, rngs=kw["rngs"])
            self.dropout2 = nnx.Dropout(0.5, rngs=kw["rngs"])
            self.linear1, self.linear2 = nnx.Linear(72, 16, **kw), nnx.Linear(16, 10, **kw)

        def __call__(self, x):
            x = nnx.relu(self.conv2(nnx.relu(self.conv1(x))))
            x = self.dropout1(self.max_pool(x))
            x = x.reshape(x.shape[0], -1)  # (N, 3·3·8), (H, W, C) order
            x = self.dropout2(nnx.relu(self.linear1(x)))
            return nnx.log_softmax(self.linear2(x))

    port = Net()
    from_torch(port.conv1, net.conv1)
    from_torch(port.conv2, net.conv2)
    fc1 = torch_kernel(net.fc1.weight)  # (72, 16), rows (C, H, W) = (8, 3, 3)
    assign(
        port.linear1,
        kernel=fc1.reshape(8, 3, 3, 16).transpose(1, 2, 0, 3).reshape(72, 16),
        bias=numpy_of(net.fc1.bias),
    )
    from_torch(port.linear2, net.fc2)
    port.eval()  # Dropout off, as the torch original's .eval()
    return port


# ---- 2. resnet-basic-block: the Keras functional port of torchvision's BasicBlock -> Flax ----


def resnet_keras(dtype):
    """The entry's original: its build returns (the Keras model, the torch net), the Keras model the one
    being ported."""
    return resnet_keras_port(resnet_torch(dtype), dtype, None)


def resnet_flax_port(model, dtype, bug=None):
    """examples/imagenet's ResNetBlock in NNX: conv (no bias), BatchNorm, relu, conv, BatchNorm, relu(y +
    residual), the Keras model's ε 1e-5 and momentum 0.9; jnp.mean over (H, W), then a Linear."""
    import jax.numpy as jnp
    import keras
    from flax import nnx

    kw = nnx_kwargs(dtype)

    class ResNetBlock(nnx.Module):
        def __init__(self, filters):
            conv = functools.partial(nnx.Conv, filters, filters, (3, 3), use_bias=False, **kw)
            norm = functools.partial(nnx.BatchNorm, filters, momentum=0.9, epsilon=1e-5, **kw)
            self.conv1, self.norm1, self.conv2, self.norm2 = conv(), norm(), conv(), norm()

        def __call__(self, x):
            y = nnx.relu(self.norm1(self.conv1(x)))
            return nnx.relu(self.norm2(self.conv2(y)) + x)

    class ResNet(nnx.Module):
        def __init__(self):
            self.block, self.linear = ResNetBlock(3), nnx.Linear(3, 4, **kw)

        def __call__(self, x):
            return self.linear(jnp.mean(self.block(x), axis=(1, 2)))

    port, L = ResNet(), keras.layers  # noqa: N806
    pairs = zip(
        (port.block.conv1, port.block.conv2, port.block.norm1, port.block.norm2, port.linear),
        keras_layers(model, L.Conv2D)
        + keras_layers(model, L.BatchNormalization)
        + keras_layers(model, L.Dense),
        strict=True,
    )
    for module, layer in pairs:
        from_keras(module, layer)
    port.eval()  # BatchNorm on its running statistics, as Keras's inference
    return port


# ---- 3. text-classifier: keras-io's Embedding, GlobalAveragePooling1D, Dense (Keras) -> Flax ----


def text_flax_port(model, dtype, bug=None):
    """nnx_basics' style: nnx.Embed, the mean over the tokens in __call__ (Keras's pooling, no mask),
    Linear, relu, Linear."""
    from flax import nnx

    kw = nnx_kwargs(dtype)

    embedding, _, hidden, out = model.layers

    class TextClassifier(nnx.Module):
        def __init__(self):
            self.embed = nnx.Embed(*embedding.embeddings.shape, **kw)
            self.hidden, self.out = (
                nnx.Linear(*hidden.kernel.shape, **kw),
                nnx.Linear(*out.kernel.shape, **kw),
            )

        def __call__(self, tokens):
            return self.out(nnx.relu(self.hidden(self.embed(tokens).mean(axis=1))))

    port = TextClassifier()
    for module, layer in ((port.embed, embedding), (port.hidden, hidden), (port.out, out)):
        from_keras(module, layer)
    return port


# ---- 4. squeezenet-fire: torchvision's Fire and SqueezeNet's classifier (torch) -> Flax ----


def squeezenet_flax_port(net, dtype, bug=None):
    """Fire as an nnx.Module of three nnx.Convs (the 3x3 "SAME": torch's padding=1 at stride 1), relu
    in __call__, the branches concatenated on the channel axis (NHWC: the last); the classifier's
    Dropout, 1x1 conv and relu, then the mean over (H, W) for AdaptiveAvgPool2d + flatten."""
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs(dtype)

    class Fire(nnx.Module):
        def __init__(self, fire):
            squeeze = fire.squeeze.out_channels
            self.squeeze = nnx.Conv(fire.squeeze.in_channels, squeeze, (1, 1), **kw)
            self.expand1x1 = nnx.Conv(squeeze, fire.expand1x1.out_channels, (1, 1), **kw)
            self.expand3x3 = nnx.Conv(squeeze, fire.expand3x3.out_channels, (3, 3), padding="SAME", **kw)
            for name in ("squeeze", "expand1x1", "expand3x3"):
                from_torch(getattr(self, name), getattr(fire, name))

        def __call__(self, x):
            x = nnx.relu(self.squeeze(x))
            return jnp.concatenate([nnx.relu(self.expand1x1(x)), nnx.relu(self.expand3x3(x))], axis=-1)

    class SqueezeNet(nnx.Module):
        def __init__(self):
            self.features = nnx.Sequential(*(Fire(fire) for fire in net.features))
            final_conv = net.classifier[1]
            self.dropout = nnx.Dropout(0.5, rngs=kw["rngs"])
            self.final_conv = nnx.Conv(final_conv.in_channels, final_conv.out_channels, (1, 1), **kw)
            from_torch(self.final_conv, final_conv)

        def __call__(self, x):
            x = nnx.relu(self.final_conv(self.dropout(self.features(x))))
            return jnp.mean(x, axis=(1, 2))

    port = SqueezeNet()
    port.eval()  # Dropout off, as the torch original's .eval()
    return port


# ---- 5. mnist-rnn: pytorch/examples mnist_rnn's LSTM, last step, BatchNorm1d, Linears (torch) -> Flax ----


def mnist_rnn_flax_port(net, dtype, bug=None):
    """nnx.RNN(nnx.LSTMCell) as recurrent.py's docstrings build it, batch-major, its last output; the
    cell's one bias is torch's b_ih + b_hh. BatchNorm with torch's ε 1e-5 and momentum 1 − 0.1; Dropout
    for Dropout2d (both off in inference)."""
    from flax import nnx

    kw = nnx_kwargs(dtype)
    rnn, bn = net.rnn, net.batchnorm

    class Net(nnx.Module):
        def __init__(self):
            self.rnn = nnx.RNN(nnx.LSTMCell(rnn.input_size, rnn.hidden_size, **kw))
            self.batchnorm = nnx.BatchNorm(bn.num_features, momentum=0.9, epsilon=1e-5, **kw)
            self.dropout1 = nnx.Dropout(0.25, rngs=kw["rngs"])
            self.dropout2 = nnx.Dropout(0.5, rngs=kw["rngs"])
            self.fc1 = nnx.Linear(net.fc1.in_features, net.fc1.out_features, **kw)
            self.fc2 = nnx.Linear(net.fc2.in_features, net.fc2.out_features, **kw)

        def __call__(self, x):
            x = self.dropout1(self.batchnorm(self.rnn(x)[:, -1]))  # (N, T, u) -> its last step (N, u)
            x = self.dropout2(nnx.relu(self.fc1(x)))
            return nnx.log_softmax(self.fc2(x))

    port = Net()
    bias = numpy_of(rnn.bias_ih_l0) + numpy_of(rnn.bias_hh_l0)
    lstm_cell(port.rnn.cell, torch_kernel(rnn.weight_ih_l0), torch_kernel(rnn.weight_hh_l0), bias)
    batchnorm_from_torch(port.batchnorm, bn)
    from_torch(port.fc1, net.fc1)
    from_torch(port.fc2, net.fc2)
    port.eval()  # BatchNorm on its running statistics, Dropout off, as the torch original's .eval()
    return port


# ---- 6. bidirectional-lstm-imdb: keras-io's Embedding, Bidirectional(LSTM) twice (Keras) -> Flax ----


def bilstm_flax_port(model, dtype, bug=None):
    """nnx.Bidirectional of two nnx.RNN(nnx.LSTMCell), twice; the second one's many-to-one state (Keras's
    return_sequences=False) taken in __call__: the forward direction's last output and the backward
    one's after reading x_0 (nnx.Bidirectional keeps the backward outputs in time order)."""
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs(dtype)
    embedding, first, second, dense = model.layers[1:]
    units = first.forward_layer.units

    def bidirectional(layer, n_in):
        cells = [nnx.LSTMCell(n_in, units, **kw) for _ in range(2)]
        lstm_cell_from_keras(cells[0], layer.forward_layer)
        lstm_cell_from_keras(cells[1], layer.backward_layer)
        return nnx.Bidirectional(nnx.RNN(cells[0]), nnx.RNN(cells[1]))

    class BiLSTM(nnx.Module):
        def __init__(self):
            self.embed = nnx.Embed(*embedding.embeddings.shape, **kw)
            self.lstm1 = bidirectional(first, self.embed.features)
            self.lstm2 = bidirectional(second, 2 * units)
            self.out = nnx.Linear(2 * units, 1, **kw)

        def __call__(self, tokens):
            h = self.lstm2(self.lstm1(self.embed(tokens)))  # (N, T, 2u): forward, backward
            return self.out(jnp.concatenate([h[:, -1, :units], h[:, 0, units:]], axis=-1))

    port = BiLSTM()
    from_keras(port.embed, embedding)
    from_keras(port.out, dense)
    return port


# ---- 7. timeseries-fcn: keras-io's Conv1D, BatchNormalization, ReLU ×3, GAP1D, Dense (Keras) -> Flax ----


def fcn_flax_port(model, dtype, bug=None):
    """A block (1-D nnx.Conv "SAME", BatchNorm with Keras's ε 1e-3 and momentum 0.99, relu) three times in
    an nnx.List, the mean over time, a Linear: Conv1D's kernel (k, in, out) is Flax's already."""
    import keras
    from flax import nnx

    kw = nnx_kwargs(dtype)
    L = keras.layers  # noqa: N806

    class ConvBlock(nnx.Module):
        def __init__(self, conv, norm):
            self.conv = nnx.Conv(conv.kernel.shape[1], conv.filters, conv.kernel_size, padding="SAME", **kw)
            self.norm = nnx.BatchNorm(conv.filters, epsilon=1e-3, momentum=0.99, **kw)
            from_keras(self.conv, conv)
            from_keras(self.norm, norm)

        def __call__(self, x):
            return nnx.relu(self.norm(self.conv(x)))

    class FCN(nnx.Module):
        def __init__(self):
            pairs = zip(keras_layers(model, L.Conv1D), keras_layers(model, L.BatchNormalization), strict=True)
            self.blocks = nnx.List([ConvBlock(*pair) for pair in pairs])
            self.linear = nnx.Linear(*model.layers[-1].kernel.shape, **kw)
            from_keras(self.linear, model.layers[-1])

        def __call__(self, x):
            for block in self.blocks:
                x = block(x)
            return self.linear(x.mean(axis=1))  # GlobalAveragePooling1D: over T

    port = FCN()
    port.eval()  # BatchNorm on its running statistics, as Keras's inference
    return port


PORTS_FLAX = [
    Port("mnist-net", "torch", "flax", ported(mnist_torch, mnist_flax_port), torch_optax),
    Port("resnet-basic-block", "keras", "flax", ported(resnet_keras, resnet_flax_port), keras_optax),
    Port("text-classifier", "keras", "flax", ported(text_keras, text_flax_port), keras_optax),
    Port("squeezenet-fire", "torch", "flax", ported(squeezenet_torch, squeezenet_flax_port), torch_optax),
    Port(
        "mnist-rnn",
        "torch",
        "flax",
        ported(mnist_rnn_torch, mnist_rnn_flax_port),
        torch_optax,
        # nnx.LSTMCell has one bias, as Keras's LSTM: nn.LSTM trains two, each taking the step
        trains_apart=(0, "lstm-double-bias"),
    ),
    Port("bidirectional-lstm-imdb", "keras", "flax", ported(bilstm_keras, bilstm_flax_port), keras_optax),
    Port("timeseries-fcn", "keras", "flax", ported(fcn_keras, fcn_flax_port), keras_optax),
]
