"""Two more models as public example code writes them (see parity_tests/zoo.py for the form of an entry):
torchvision's SqueezeNet Fire module ported to a Keras functional model, and the keras-io subclassing
guide's MLPBlock, as a subclassed keras.Model, ported to a Flax NNX module. Written here after the
sources named on each; no code is copied."""

import numpy as np

from parity_tests.zoo import Entry, nll_optimizers, numpy_of

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


def squeezenet(dtype, bug=None):
    net = squeezenet_torch(dtype)
    return net, squeezenet_keras_port(net, dtype, bug)


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
    import jax
    import jax.numpy as jnp
    from flax import nnx

    jax.config.update("jax_enable_x64", True)  # float64 weights need it (else JAX makes float32 ones)
    kw = {"dtype": jnp.dtype(dtype), "param_dtype": jnp.dtype(dtype), "rngs": nnx.Rngs(0)}

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


def mlp_block(dtype, bug=None):
    model = mlp_block_keras(dtype)
    return model, mlp_block_flax_port(model, dtype, bug)


def regression(dtype, n=16, width=5):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, width)).astype(dtype), rng.normal(size=(n, 1)).astype(dtype)


def keras_optax(dtype):
    import keras
    import optax

    return (keras.optimizers.SGD(0.125), optax.sgd(0.125))


ZOO_MORE = [
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
