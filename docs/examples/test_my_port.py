"""A test that a Keras port of a PyTorch model is right: copy this file, put your model and your port
in place of `Net` and `keras_port`, and run `pytest test_my_port.py`.

`assert_port(a, b, x, y=None, loss=None, optimizer=None, steps=0)` runs `rosetta.check` and fails with
the first divergence, the hints and the per-block table (docs/porting.md).
"""

import keras
import numpy as np
import pytest
import torch
from torch import nn

from rosetta.testing import assert_port


class Net(nn.Module):
    """The original: 4 → 8 LeakyReLU → 3 logits."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.out(nn.functional.leaky_relu(self.hidden(x)))  # torch's default slope: 0.01


def keras_port(net, slope=0.01):
    """The port, with the torch weights copied in (weight (out, in) -> kernel (in, out))."""
    hidden, out = keras.layers.Dense(8), keras.layers.Dense(3)
    port = keras.Sequential([keras.Input((4,)), hidden, keras.layers.LeakyReLU(slope), out])
    for dense, linear in ((hidden, net.hidden), (out, net.out)):
        dense.set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])
    return port


@pytest.fixture
def net():
    torch.manual_seed(0)
    return Net().eval()


X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = np.random.default_rng(1).integers(0, 3, size=32)


def test_the_port_computes_what_the_model_computes(net):
    assert_port(net, keras_port(net), X)


def test_the_port_trains_as_the_model_does(net):
    """The loss, the gradients and three SGD steps, each framework with its own loss and optimizer."""
    loss = (nn.CrossEntropyLoss(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    optimizer = (lambda params: torch.optim.SGD(params, lr=0.1), keras.optimizers.SGD(0.1))
    assert_port(net, keras_port(net), X, Y, loss=loss, optimizer=optimizer, steps=3)


# ---- how a failure reads (your own tests need no pytest.raises) ----


def test_a_port_with_keras_default_slope_fails_naming_the_block_and_the_fix(net):
    """keras.layers.LeakyReLU() slopes 0.3, torch's 0.01. Without pytest.raises, pytest prints:

    FIRST DIVERGENCE: forward at block 0 (activation): 3.3e-01
    hint [activation-slope] block 0: leaky_relu 0.01 vs 0.3 (torch vs keras-tensorflow); defaults: ...

    and then the per-block table."""
    with pytest.raises(AssertionError) as failure:
        assert_port(net, keras_port(net, slope=0.3), X)
    message = str(failure.value)
    assert message.startswith("FIRST DIVERGENCE: forward at block 0 (activation)")
    assert "hint [activation-slope] block 0: leaky_relu 0.01 vs 0.3" in message
