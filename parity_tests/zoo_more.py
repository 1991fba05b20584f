"""Two more models as public example code writes them (see parity_tests/zoo.py for the form of an entry):
torchvision's SqueezeNet Fire module ported to a Keras functional model, and the keras-io subclassing
guide's MLPBlock, as a subclassed keras.Model, ported to a Flax NNX module. Written here after the
sources named on each; no code is copied."""

import numpy as np

from parity_tests.zoo import Entry, keras_optax, nll_optimizers, nnx_kwargs, numpy_of, optax_torch, ported

# ---- torchvision SqueezeNet: Fire (squeeze 1x1 conv + relu, expand 1x1 and 3x3 convs + relu,
# torch.cat on channels), SqueezeNet's classifier (Dropout, 1x1 conv, relu, AdaptiveAvgPool2d) ----


def squeezenet_torch(dtype, fires=((3, 2, 4, 4), (8, 2, 4, 4)), num_classes=5):
    import torch
    from torch import nn

    class Fire(nn.Module):
        def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
            super().__init__()
            self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
            self.squeeze_activation = nn.ReLU(inplace=True)
            self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
            self.expand1x1_activation = nn.ReLU(inplace=True)
            self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
            self.expand3x3_activation = nn.ReLU(inplace=True)

        def forward(self, x):
            x = self.squeeze_activation(self.squeeze(x))
            return torch.cat(
                [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))],
                1,
            )

    class SqueezeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*(Fire(*planes) for planes in fires))
            final_conv = nn.Conv2d(fires[-1][2] + fires[-1][3], num_classes, kernel_size=1)
            self.classifier = nn.Sequential(
                nn.Dropout(p=0.5), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
            )

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    torch.manual_seed(0)
    return SqueezeNet().to(getattr(torch, dtype)).eval()


def squeezenet_keras_port(net, dtype, bug):
    """The Keras functional port: each Fire's branches joined by Concatenate on the channel axis, the
    3x3 expand conv padding="same" (torch's padding=1 at stride 1), kernels permuted (out, in, kh, kw)
    -> (kh, kw, in, out). `bug="activation"` writes the second Fire's squeeze Conv2D without
    activation="relu": Keras's Conv2D is linear unless told, torch's Fire applies its ReLU apart."""
    import keras

    L = keras.layers  # noqa: N806
    inputs = keras.Input((6, 6, net.features[0].squeeze.in_channels), dtype=dtype)
    h, pairs = inputs, []
    for i, fire in enumerate(net.features):
        relu = None if bug == "activation" and i == 1 else "relu"
        squeeze = L.Conv2D(fire.squeeze.out_channels, 1, activation=relu, dtype=dtype)
        expand1x1 = L.Conv2D(fire.expand1x1.out_channels, 1, activation="relu", dtype=dtype)
        expand3x3 = L.Conv2D(fire.expand3x3.out_channels, 3, padding="same", activation="relu", dtype=dtype)
        s = squeeze(h)
        h = L.Concatenate(axis=-1, dtype=dtype)([expand1x1(s), expand3x3(s)])
        pairs += [(squeeze, fire.squeeze), (expand1x1, fire.expand1x1), (expand3x3, fire.expand3x3)]
    final_conv = L.Conv2D(net.classifier[1].out_channels, 1, activation="relu", dtype=dtype)
    h = final_conv(L.Dropout(0.5, dtype=dtype)(h))
    port = keras.Model(inputs, L.GlobalAveragePooling2D(dtype=dtype)(h))
    for conv, source in pairs + [(final_conv, net.classifier[1])]:
        conv.set_weights([numpy_of(source.weight).transpose(2, 3, 1, 0), numpy_of(source.bias)])
    return port


squeezenet = ported(squeezenet_torch, squeezenet_keras_port)


def fire_images(dtype, n=8, size=6, channels=3, classes=5):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, size, size, channels)).astype(dtype), rng.integers(0, classes, n)


# ---- keras-io's subclassing guide: MLPBlock (linear_1, relu, linear_2, relu, linear_3 in its own
# call; Keras 3's ops.relu for its tf.nn.relu), written as the keras.Model the guide says to train;
# its hand-written Linear layer is a Dense (x @ w + b, random_normal w and b); widths 32, 32, 1 on
# 64 features shrunk to 4, 4, 1 on 5 ----


def mlp_block_keras(dtype, units=(4, 4, 1), input_dim=5):
    import keras
    from keras import layers, ops

    def linear(n):  # the guide's Linear(n): x @ w + b with w and b random_normal
        return layers.Dense(
            n, kernel_initializer="random_normal", bias_initializer="random_normal", dtype=dtype
        )

    class MLPBlock(keras.Model):
        def __init__(self):
            super().__init__(dtype=dtype)
            self.linear_1, self.linear_2, self.linear_3 = (linear(n) for n in units)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = ops.relu(x)
            x = self.linear_2(x)
            x = ops.relu(x)
            return self.linear_3(x)

    keras.utils.set_random_seed(0)
    mlp = MLPBlock()
    mlp(np.ones((3, input_dim), dtype))  # the first call creates the weights
    return mlp


def mlp_block_flax_port(model, dtype, bug):
    """The Flax NNX port: nnx.Linear kernels are (in, out) as Keras's, copied as they are; relu in
    __call__ as the guide's call has it. `bug="transpose"` copies linear_2's square (4, 4) kernel
    transposed, as a port written by habit from torch's (out, in) weights does: the shapes cannot tell."""
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs(dtype)

    def linear(dense, transposed=False):
        kernel, bias = dense.get_weights()
        layer = nnx.Linear(*kernel.shape, **kw)
        layer.kernel[...] = jnp.asarray(kernel.T if transposed else kernel)
        layer.bias[...] = jnp.asarray(bias)
        return layer

    class MLPBlock(nnx.Module):
        def __init__(self):
            self.linear_1 = linear(model.linear_1)
            self.linear_2 = linear(model.linear_2, transposed=bug == "transpose")
            self.linear_3 = linear(model.linear_3)

        def __call__(self, x):
            x = nnx.relu(self.linear_1(x))
            x = nnx.relu(self.linear_2(x))
            return self.linear_3(x)

    return MLPBlock()


mlp_block = ported(mlp_block_keras, mlp_block_flax_port)


def regression(dtype, n=16, width=5):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, width)).astype(dtype), rng.normal(size=(n, 1)).astype(dtype)


ZOO_MORE = [
    Entry(
        "unet-parts",
        "milesial/Pytorch-UNet unet/unet_parts.py @ 07debeb9f2621b53ed513e5ab8a0307b4da57767 (DoubleConv, "
        "Down, Up with ConvTranspose2d and a concatenated skip, OutConv; widths through their arguments), "
        "Flax NNX port",
        lambda dtype, bug=None: unet(dtype, bug),
        lambda dtype: masks(dtype),
        "mse",
        lambda dtype: optax_torch(dtype)[::-1],
        "conv-transpose-kernel",
        ("weights", 8, "conv-transpose-kernel"),
    ),
    Entry(
        "squeezenet-fire",
        "pytorch/vision torchvision/models/squeezenet.py @ 03ecb9133c7687214c74cc58a630d3b5273fe2ed "
        "(Fire; SqueezeNet's classifier), Keras functional port",
        squeezenet,
        fire_images,
        "softmax_ce",
        nll_optimizers,
        "activation",
        ("structure", 3, "activation"),
    ),
    Entry(
        "keras-subclassed-mlp-block",
        "keras-team/keras-io guides/making_new_layers_and_models_via_subclassing.py @ "
        "175a5e441aee7e228bfa9100bab65c2dae303273 (MLPBlock, as a keras.Model; Linear as Dense), "
        "Flax NNX port",
        mlp_block,
        regression,
        "mse",
        keras_optax,
        "transpose",
        ("weights", 1, "transpose"),
    ),
]


# ---- milesial/Pytorch-UNet's parts: DoubleConv, Down, Up with a ConvTranspose2d and a skip concatenated ----


def unet_torch(dtype):
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    class DoubleConv(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.double_conv = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            )

        def forward(self, x):
            return self.double_conv(x)

    class Up(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

        def forward(self, x1, x2):
            x1 = self.up(x1)
            diff_y = torch.tensor([x2.size()[2] - x1.size()[2]])
            diff_x = torch.tensor([x2.size()[3] - x1.size()[3]])
            x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
            return self.conv(torch.cat([x2, x1], dim=1))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inc = DoubleConv(1, 4)
            self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(4, 8))
            self.up1, self.outc = Up(8, 4), nn.Conv2d(4, 2, kernel_size=1)

        def forward(self, x):
            x1 = self.inc(x)
            return self.outc(self.up1(self.down1(x1), x1))

    torch.manual_seed(0)
    net = UNet().to(getattr(torch, dtype))
    with torch.no_grad():  # running statistics as a trained net has them
        for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
    return net.eval()


def unet_flax_port(net, dtype, bug):
    """The Flax NNX port: kernels (out, in, kh, kw) -> (kh, kw, in, out); the up-convolution's torch
    weight (in, out, kh, kw) -> nnx.ConvTranspose's (kh, kw, in, out), flipped in space, as its
    transpose_kernel=False applies it; `bug="conv-transpose-kernel"` leaves out the flip."""
    import jax.numpy as jnp
    from flax import nnx

    kw = nnx_kwargs(dtype)

    class DoubleConv(nnx.Module):
        def __init__(self, c_in, c_out):
            self.conv1, self.conv2 = nnx.Conv(c_in, c_out, (3, 3), **kw), nnx.Conv(c_out, c_out, (3, 3), **kw)
            self.bn1 = nnx.BatchNorm(c_out, epsilon=1e-5, momentum=0.9, **kw)
            self.bn2 = nnx.BatchNorm(c_out, epsilon=1e-5, momentum=0.9, **kw)

        def __call__(self, x):
            return nnx.relu(self.bn2(self.conv2(nnx.relu(self.bn1(self.conv1(x))))))

    class UNet(nnx.Module):
        def __init__(self):
            self.inc, self.down1, self.up_conv = DoubleConv(1, 4), DoubleConv(4, 8), DoubleConv(8, 4)
            self.up = nnx.ConvTranspose(8, 4, (2, 2), strides=(2, 2), padding="VALID", **kw)
            self.outc = nnx.Conv(4, 2, (1, 1), **kw)

        def __call__(self, x):
            x1 = self.inc(x)
            x2 = self.down1(nnx.max_pool(x1, window_shape=(2, 2), strides=(2, 2)))
            return self.outc(self.up_conv(jnp.concatenate([x1, self.up(x2)], axis=-1)))

    port = UNet()
    a = lambda t: jnp.asarray(t.detach().numpy().copy())  # noqa: E731
    pairs = [(port.inc, net.inc), (port.down1, net.down1[1]), (port.up_conv, net.up1.conv)]
    for mine, theirs in pairs:
        seq = theirs.double_conv
        for conv, bn, tconv, tbn in (
            (mine.conv1, mine.bn1, seq[0], seq[1]),
            (mine.conv2, mine.bn2, seq[3], seq[4]),
        ):
            conv.kernel.value, conv.bias.value = a(tconv.weight).transpose(2, 3, 1, 0), a(tconv.bias)
            bn.scale.value, bn.bias.value = a(tbn.weight), a(tbn.bias)
            bn.mean.value, bn.var.value = a(tbn.running_mean), a(tbn.running_var)
    kernel = a(net.up1.up.weight).transpose(2, 3, 0, 1)  # (in, out, kh, kw) -> (kh, kw, in, out)
    port.up.kernel.value = kernel if bug == "conv-transpose-kernel" else kernel[::-1, ::-1]
    port.up.bias.value = a(net.up1.up.bias)
    port.outc.kernel.value, port.outc.bias.value = a(net.outc.weight).transpose(2, 3, 1, 0), a(net.outc.bias)
    return port


unet = ported(unet_torch, unet_flax_port)


def masks(dtype, n=4, size=8):
    """Images (N, 8, 8, 1) and per-pixel targets (N, 8, 8, 2) for a mean squared error."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, size, size, 1)).astype(dtype), rng.normal(size=(n, size, size, 2)).astype(
        dtype
    )


# ---- pytorch/examples mnist_rnn: nn.LSTM → out[:, -1] → BatchNorm1d → Linear, relu, log_softmax ----


def mnist_rnn_torch(dtype, rows=6, hidden=8, fc=6, classes=4):
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(input_size=rows, hidden_size=hidden, batch_first=True)
            self.batchnorm = nn.BatchNorm1d(hidden)
            self.dropout1, self.dropout2 = nn.Dropout2d(0.25), nn.Dropout2d(0.5)
            self.fc1, self.fc2 = nn.Linear(hidden, fc), nn.Linear(fc, classes)

        def forward(self, input):
            output, hidden = self.rnn(input.reshape(-1, rows, rows))
            output = self.dropout1(self.batchnorm(output[:, -1, :]))
            output = self.dropout2(F.relu(self.fc1(output)))
            return F.log_softmax(self.fc2(output), dim=1)

    torch.manual_seed(0)
    net = Net().to(getattr(torch, dtype))
    with torch.no_grad():
        net.batchnorm.running_mean.uniform_(-0.2, 0.2)
        net.batchnorm.running_var.uniform_(0.5, 1.5)
    return net.eval()


def mnist_rnn_keras_port(net, dtype, bug, rows=6, hidden=8, fc=6, classes=4):
    """The Keras port: LSTM kernels transposed (gate blocks i, f, g, o as torch's), one bias
    b_ih + b_hh; `bug="lstm-double-bias"` copies b_ih alone."""
    import keras

    L = keras.layers  # noqa: N806
    port = keras.Sequential(
        [
            keras.Input((rows, rows), dtype=dtype),
            L.LSTM(hidden, dtype=dtype),
            L.BatchNormalization(epsilon=1e-5, momentum=0.9, dtype=dtype),
            L.Dropout(0.25, dtype=dtype),
            L.Dense(fc, activation="relu", dtype=dtype),
            L.Dropout(0.5, dtype=dtype),
            L.Dense(classes, activation="log_softmax", dtype=dtype),
        ]
    )
    rnn, bn = net.rnn, net.batchnorm
    bias = numpy_of(rnn.bias_ih_l0) + (0 if bug == "lstm-double-bias" else numpy_of(rnn.bias_hh_l0))
    port.set_weights(
        [numpy_of(rnn.weight_ih_l0).T, numpy_of(rnn.weight_hh_l0).T, bias]
        + [numpy_of(p) for p in (bn.weight, bn.bias, bn.running_mean, bn.running_var)]
        + [
            numpy_of(net.fc1.weight).T,
            numpy_of(net.fc1.bias),
            numpy_of(net.fc2.weight).T,
            numpy_of(net.fc2.bias),
        ]
    )
    return port


mnist_rnn = ported(mnist_rnn_torch, mnist_rnn_keras_port)


def image_rows(dtype, n=8, rows=6, classes=4):
    """Images read row by row: (N, T = rows, F = columns)."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, rows, rows)).astype(dtype), rng.integers(0, classes, n)


ZOO_MORE.append(
    Entry(
        "mnist-rnn",
        "pytorch/examples mnist_rnn/main.py @ 190e03515818f68842206ee075e5e8782360b564 (Net: LSTM, the last "
        "step, BatchNorm1d, Dropout2d, Linear, relu, log_softmax; sizes shrunk), Keras port",
        mnist_rnn,
        image_rows,
        "softmax_ce",
        nll_optimizers,
        "lstm-double-bias",
        ("weights", 0, "lstm-double-bias"),
        trains_apart=(0, "lstm-double-bias"),  # Keras has one LSTM bias, torch trains two
    )
)


# ---- keras-io bidirectional LSTM on IMDB: Embedding, Bidirectional(LSTM) twice, the first one a sequence


def bilstm_keras(dtype, vocab=12, embed=4, units=3):
    """The example's model, sizes shrunk; its sigmoid folded into the loss (from logits)."""
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers  # noqa: N806
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = L.Embedding(vocab, embed, dtype=dtype)(inputs)
    x = L.Bidirectional(L.LSTM(units, return_sequences=True, dtype=dtype), dtype=dtype)(x)
    x = L.Bidirectional(L.LSTM(units, dtype=dtype), dtype=dtype)(x)
    return keras.Model(inputs, L.Dense(1, dtype=dtype)(x))


def bilstm_torch_port(model, dtype, bug, vocab=12, embed=4, units=3):
    """The torch port: nn.LSTM(bidirectional=True) per Bidirectional; the second one's last state is
    torch.cat([h_n[-2], h_n[-1]]). Keras's one bias goes into bias_ih, bias_hh is zero and frozen (a
    trained second bias would move the sum twice as far). `bug="bidirectional-order"` copies the
    second layer's forward weights into the reverse direction and back."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed)
            self.lstm1 = nn.LSTM(embed, units, batch_first=True, bidirectional=True)
            self.lstm2 = nn.LSTM(2 * units, units, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * units, 1)

        def forward(self, tokens):
            h, _ = self.lstm1(self.embedding(tokens))
            _, (h_n, _) = self.lstm2(h)
            return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=1))

    net = Net().to(getattr(torch, dtype))
    weights = [np.array(w.numpy() if hasattr(w, "numpy") else w) for w in model.get_weights()]
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    with torch.no_grad():
        net.embedding.weight.copy_(t(weights[0]))
        for k, lstm in enumerate((net.lstm1, net.lstm2)):
            forward, backward = weights[1 + 6 * k : 4 + 6 * k], weights[4 + 6 * k : 7 + 6 * k]
            if bug == "bidirectional-order" and k == 1:
                forward, backward = backward, forward
            for suffix, (kernel, recurrent, bias) in (("_l0", forward), ("_l0_reverse", backward)):
                getattr(lstm, f"weight_ih{suffix}").copy_(t(kernel.T))
                getattr(lstm, f"weight_hh{suffix}").copy_(t(recurrent.T))
                getattr(lstm, f"bias_ih{suffix}").copy_(t(bias))
                getattr(lstm, f"bias_hh{suffix}").zero_().requires_grad_(False)
        net.fc.weight.copy_(t(weights[-2].T))
        net.fc.bias.copy_(t(weights[-1]))
    return net.eval()


bilstm = ported(bilstm_keras, bilstm_torch_port)


def reviews(dtype, n=8, length=5, vocab=12):
    rng = np.random.default_rng(0)
    return rng.integers(0, vocab, size=(n, length)), rng.integers(0, 2, size=(n, 1)).astype(dtype)


ZOO_MORE.append(
    Entry(
        "bidirectional-lstm-imdb",
        "keras-team/keras-io examples/nlp/bidirectional_lstm_imdb.py @ "
        "0a4be8bbc3ae126f3ca49a0bf173902866ec06f0 (Embedding, Bidirectional(LSTM) twice), torch port with "
        "nn.LSTM(bidirectional=True)",
        bilstm,
        reviews,
        "bce_logits",
        lambda dtype: nll_optimizers(dtype)[::-1],
        "bidirectional-order",
        ("weights", 2, "bidirectional-order"),
    )
)


# ---- keras-io timeseries classification (FCN): Conv1D, BatchNormalization, ReLU ×3, GAP1D, Dense ----


def fcn_keras(dtype, steps=12, filters=4, classes=2):
    """make_model(input_shape) as the example writes it, filters shrunk; softmax folded into the loss."""
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers  # noqa: N806
    x = inputs = keras.layers.Input((steps, 1), dtype=dtype)
    for _ in range(3):
        x = L.Conv1D(filters=filters, kernel_size=3, padding="same", dtype=dtype)(x)
        x = L.ReLU(dtype=dtype)(L.BatchNormalization(dtype=dtype)(x))
    x = L.GlobalAveragePooling1D(dtype=dtype)(x)
    model = keras.Model(inputs, L.Dense(classes, dtype=dtype)(x))
    for bn in (layer for layer in model.layers if isinstance(layer, L.BatchNormalization)):
        rng = np.random.default_rng(len(bn.name))  # running statistics as a trained model has them
        bn.moving_mean.assign(rng.uniform(-0.3, 0.3, filters).astype(dtype))
        bn.moving_variance.assign(rng.uniform(0.5, 1.5, filters).astype(dtype))
    return model


def fcn_torch_port(model, dtype, bug, filters=4, classes=2):
    """The torch port: Conv1d(padding=1) reads (N, C, T), its weight (out, in, k) = kernel.permute(2, 1, 0);
    BatchNorm1d with Keras's ε 1e-3 and momentum 1 − 0.99; x.mean(2) for the global pooling.
    `bug="conv-kernel"` permutes the second conv's kernel (1, 2, 0): in and out swapped."""
    import torch
    from torch import nn

    layers = []
    for c_in in (1, filters, filters):
        layers += [
            nn.Conv1d(c_in, filters, 3, padding=1),
            nn.BatchNorm1d(filters, eps=1e-3, momentum=0.01),
            nn.ReLU(),
        ]

    class FCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features, self.fc = nn.Sequential(*layers), nn.Linear(filters, classes)

        def forward(self, x):
            return self.fc(self.features(x).mean(2))

    net = FCN().to(getattr(torch, dtype))
    L = __import__("keras").layers
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv1D)]
    bns = [layer for layer in model.layers if isinstance(layer, L.BatchNormalization)]
    t = lambda a: torch.from_numpy(np.ascontiguousarray(np.asarray(a)))  # noqa: E731
    with torch.no_grad():
        for k, (conv, bn) in enumerate(zip(convs, bns)):
            kernel, bias = conv.get_weights()
            axes = (1, 2, 0) if bug == "conv-kernel" and k == 1 else (2, 1, 0)
            net.features[3 * k].weight.copy_(t(kernel.transpose(axes)))
            net.features[3 * k].bias.copy_(t(bias))
            for p, value in zip(("weight", "bias", "running_mean", "running_var"), bn.get_weights()):
                getattr(net.features[3 * k + 1], p).copy_(t(value))
        dense = model.layers[-1].get_weights()
        net.fc.weight.copy_(t(dense[0].T))
        net.fc.bias.copy_(t(dense[1]))
    return net.eval()


fcn = ported(fcn_keras, fcn_torch_port)


def series(dtype, n=8, steps=12, classes=2):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, steps, 1)).astype(dtype), rng.integers(0, classes, n)


ZOO_MORE.append(
    Entry(
        "timeseries-fcn",
        "keras-team/keras-io examples/timeseries/timeseries_classification_from_scratch.py @ "
        "ad4fc805f5e1a4a4c0bcdd416aa9feac6608fb6c (make_model: Conv1D, BatchNormalization, ReLU ×3, "
        "GlobalAveragePooling1D, Dense), torch port with nn.Conv1d",
        fcn,
        series,
        "softmax_ce",
        lambda dtype: nll_optimizers(dtype)[::-1],
        "conv-kernel",
        ("weights", 2, "conv-kernel"),
    )
)
