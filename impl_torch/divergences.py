"""Where PyTorch's defaults differ from the other frameworks, measured with torch's own code.

Each function returns rosetta.divergences.Gap(default, setting, limit); docs/divergences.md tells
the story of each, parity_tests/test_divergences.py checks them.
"""

import warnings
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import reference_numpy as ref
from impl_torch import mlp
from impl_torch.train import train
from rosetta import initializers, tasks
from rosetta.divergences import Gap, variant_gap
from rosetta.tolerances import FORWARD, TRAJECTORY, rel_diff, rel_diff_params

F64 = "float64"


def dense_layout():
    """A square 4→4 kernel copied into Linear.weight without the transpose: no shape error."""
    task = tasks.make((4, 4, 4), ("tanh", "linear"), seed=5)
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, params)
    with torch.no_grad():
        for linear, layer in zip([m for m in model if isinstance(m, nn.Linear)], params):
            linear.weight.copy_(torch.as_tensor(layer["W"]))  # (in, out) taken as (out, in)
        naive = model(torch.as_tensor(x)).numpy()
    reference = ref.forward(task, params, x)
    return Gap(rel_diff(naive, reference), rel_diff(mlp.forward(task, params, x), reference), FORWARD[F64])


def momentum_lr_change():
    """sine-nesterov with lr 0.01 → 0.001 at step 30: torch's form against Keras's, after 60 steps."""
    task = tasks.with_optimizer(tasks.get("sine-nesterov"), lr_drops=((30, 0.001),))
    return variant_gap(train, task, 60, own={"form": "torch"}, other={"form": "keras"})


def adam_epsilon():
    """softmax, 50 steps: torch's m̂/(√v̂ + 1e-8) against Keras's defaults (ε̂ form, ε̂ = 1e-7)."""
    return variant_gap(train, tasks.get("softmax"), 50, own={}, other={"form": "keras", "eps": 1e-7})


def weight_decay():
    """softmax, 50 steps, λ·ΣW² as a loss term against torch's weight_decay = 2λ: AdamW's decoupled
    decay (default) and Adam's coupled decay on a kernels-only parameter group (setting)."""
    task, steps = tasks.get("softmax"), 50
    params, decay = task.init_params(), 2 * task.l2
    l2 = ref.train(task, params, steps)[0]
    no_penalty = replace(task, l2=0.0)
    opt = task.optimizer
    kw = {"lr": opt.lr, "betas": (opt.beta1, opt.beta2), "eps": opt.eps}

    def coupled(model):  # grad += 2λ·W on kernels: the gradient of λ·ΣW²
        kernels = [m.weight for m in model if isinstance(m, nn.Linear)]
        biases = [m.bias for m in model if isinstance(m, nn.Linear)]
        return torch.optim.Adam([{"params": kernels, "weight_decay": decay}, {"params": biases}], **kw)

    def decoupled(model):  # W −= lr·2λ·W outside Adam's normalisation, biases included
        return torch.optim.AdamW(model.parameters(), weight_decay=decay, **kw)

    gaps = [rel_diff_params(train(no_penalty, params, steps, make)[0], l2) for make in (decoupled, coupled)]
    return Gap(*gaps, TRAJECTORY[F64])


def mse_broadcast():
    """line: mse_loss of the (N, 1) output against flat (N,) targets, and against (N, 1) targets."""
    task = tasks.get("line")
    params, (x, y) = task.init_params(), task.data()
    model = mlp.build(task, params)
    out, target = model(torch.as_tensor(x)), torch.as_tensor(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Using a target size ... different to the input size"
        broadcast = F.mse_loss(out, target[:, 0]).item()  # (N, 1) − (N,) -> (N, N)
    expected = ref.loss_and_grads(task, params, x, y)[0]
    return Gap(
        rel_diff(broadcast, expected), rel_diff(F.mse_loss(out, target).item(), expected), FORWARD[F64]
    )


def leaky_relu_slope():
    """A Keras model's LeakyReLU() (slope 0.3) ported to nn.LeakyReLU() (0.01), against the slope passed."""
    task = tasks.make((3, 5, 2), ("leaky_relu", "linear"), alpha=0.3, seed=3)
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, params)
    model[1] = nn.LeakyReLU()  # torch's default negative_slope=0.01
    with torch.no_grad():
        naive = model(torch.as_tensor(x)).numpy()
    reference = ref.forward(task, params, x)
    return Gap(rel_diff(naive, reference), rel_diff(mlp.forward(task, params, x), reference), FORWARD[F64])


def init_truncation(fan_in=400, fan_out=300):
    """Share of He-normal weights outside Keras/JAX's truncation at 2σ' (σ' = √(2/fan_in)/0.8796):
    torch's kaiming_normal_ draws a plain normal; the canonical NumPy draw is truncated."""
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    torch.manual_seed(0)
    nn.init.kaiming_normal_(w, nonlinearity="relu")  # N(0, 2/fan_in), fan_in = weight.shape[1]
    bound = 2 * np.sqrt(2 / fan_in) / initializers.TRUNCATED_STD
    canonical = initializers.he_normal(np.random.default_rng(0), fan_in, fan_out)
    return Gap(float(np.mean(np.abs(w.numpy()) > bound)), float(np.mean(np.abs(canonical) > bound)), 0.0)
