"""Where PyTorch's defaults differ from the other frameworks, measured with torch's own code.

Each function returns divergences.gaps.Gap(default, setting, limit); docs/divergences.md tells
the story of each, parity_tests/test_divergences.py checks them.
"""

import math
import warnings
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import reference_numpy as ref
from divergences.gaps import Gap, formula_gap, forward_gap
from foundation import catalog, initializers, tasks
from foundation.arrays import as_dtype
from foundation.frameworks import KERAS_EPSILON
from foundation.tolerances import FORWARD, TRAJECTORY, rel_diff, rel_diff_params
from impl_torch import conv, mlp, optim
from impl_torch.train import train

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
    return forward_gap(mlp.forward, task, params, x, naive)


def torch_train(task, params, steps, optimizer_of, before_step=lambda optimizer, step: None):
    """`steps` steps of `optimizer_of(model)`, a torch.optim optimizer, on the task's loss and batches;
    `before_step(optimizer, step)` may change its param_groups or state before each step."""
    model = mlp.build(task, params)
    x, y = task.data()
    x, y = torch.as_tensor(as_dtype(x, params)), torch.as_tensor(as_dtype(y, params))
    optimizer = optimizer_of(model)
    for step, rows in enumerate(task.batches(steps)):
        rows = torch.as_tensor(rows) if not isinstance(rows, slice) else rows
        optimizer.zero_grad()
        mlp.total_loss(task, model, x[rows], y[rows]).backward()
        before_step(optimizer, step)
        optimizer.step()
    return mlp.get_params(model)


def momentum_lr_change():
    """sine-nesterov, lr 0.01 → 0.001 from step 30, 60 steps. default: torch.optim.SGD as it is
    against torch.optim.SGD keeping Keras's velocity v = −lr·buf (the buffer rescaled by
    lr_old/lr_new when lr changes); setting: impl_torch against the reference's torch form."""
    task, steps = tasks.with_optimizer(catalog.get("sine-nesterov"), lr_drops=((30, 0.001),)), 60
    params, opt = task.init_params(), task.optimizer

    def sgd(model):
        return torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)

    def torch_lr(optimizer, step):
        for group in optimizer.param_groups:
            group["lr"] = optim.learning_rate(opt, step)

    def keras_velocity(optimizer, step):  # buf_t = μ·(lr_{t−1}/lr_t)·buf_{t−1} + g_t
        ratio = optimizer.param_groups[0]["lr"] / opt.lr_at(step)
        for state in optimizer.state.values():
            state["momentum_buffer"].mul_(ratio)
        torch_lr(optimizer, step)

    torch_form = torch_train(task, params, steps, sgd, torch_lr)
    keras_form = torch_train(task, params, steps, sgd, keras_velocity)
    return formula_gap(train, task, steps, keras_form, torch_form)


def adam_epsilon():
    """softmax, 50 steps. default: torch.optim.Adam with its ε = 1e-8 against torch.optim.Adam made to
    step Keras's defaults: Keras's lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε̂) is torch's form with
    ε = ε̂/√(1−β2ᵗ), set before each step (ε̂ = 1e-7); setting: impl_torch against the reference."""
    task, steps = catalog.get("softmax"), 50
    params, opt = task.init_params(), task.optimizer

    def adam(model):
        return torch.optim.Adam(model.parameters(), lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps)

    def epsilon_hat(optimizer, step):
        for group in optimizer.param_groups:
            group["eps"] = KERAS_EPSILON / math.sqrt(1 - opt.beta2 ** (step + 1))

    keras_form = torch_train(task, params, steps, adam, epsilon_hat)
    torch_form = torch_train(task, params, steps, adam)
    return formula_gap(train, task, steps, keras_form, torch_form)


def weight_decay():
    """softmax, 50 steps, λ·ΣW² as a loss term against torch's weight_decay = 2λ: AdamW's decoupled
    decay (default) and Adam's coupled decay on a kernels-only parameter group (setting)."""
    task, steps = catalog.get("softmax"), 50
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

    gaps = [rel_diff_params(torch_train(no_penalty, params, steps, f), l2) for f in (decoupled, coupled)]
    return Gap(*gaps, TRAJECTORY[F64])


def mse_broadcast():
    """line: mse_loss of the (N, 1) output against flat (N,) targets, and against (N, 1) targets."""
    task = catalog.get("line")
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
    return forward_gap(mlp.forward, task, params, x, naive)


def init_truncation(fan_in=400, fan_out=300):
    """Share of He-normal weights beyond Keras/JAX's truncation at 2σ' (σ' = √(2/fan_in)/0.8796).
    default: torch's kaiming_normal_, a plain normal; setting: the worse of torch's trunc_normal_
    with σ' and ±2σ' (what Keras's HeNormal draws) and the canonical NumPy draw (both 0)."""
    sigma = initializers.he_truncated_std(fan_in)
    w, truncated = (torch.empty(fan_out, fan_in, dtype=torch.float64) for _ in range(2))
    torch.manual_seed(0)
    nn.init.kaiming_normal_(w, nonlinearity="relu")  # N(0, 2/fan_in), fan_in = weight.shape[1]
    nn.init.trunc_normal_(truncated, std=sigma, a=-2 * sigma, b=2 * sigma)
    canonical = initializers.he_normal(np.random.default_rng(0), fan_in, fan_out)

    def share(a):
        return float(np.mean(np.abs(np.asarray(a)) > 2 * sigma))

    return Gap(share(w), max(share(truncated), share(canonical)), 0.0)


def prelu_shared():
    """sine-prelu, 50 steps from α = 0.25 everywhere: torch's nn.PReLU() (num_parameters=1: one α
    shared by the 20 units, init 0.25, the same start) against one α per unit (the reference), the
    shared α compared as 20 equal slopes; setting: impl_torch (nn.PReLU(num_parameters=20))."""
    task, steps = catalog.get("sine-prelu"), 50
    params = task.init_params()
    expected = ref.train(task, params, steps)[0]

    def shared_alpha(model):
        model[1] = nn.PReLU(dtype=torch.float64)  # torch's defaults: one α, 0.25
        return optim.make(task.optimizer, model.parameters())

    shared = torch_train(task, params, steps, shared_alpha)
    shared[0]["alpha"] = np.broadcast_to(shared[0]["alpha"], expected[0]["alpha"].shape)  # (1,) -> (20,)
    per_unit = train(task, params, steps)[0]
    return Gap(rel_diff_params(shared, expected), rel_diff_params(per_unit, expected), TRAJECTORY[F64])


# issue 15: convolutional and recurrent layers


def nchw_flatten():
    """cnn: nn.Flatten() straight on torch's NCHW activations (features in (C, H, W) order) before
    the Dense head, against the permute back to NHWC (FlattenNHWC) that canonical's kernel expects."""
    task = catalog.get("cnn")
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, params)
    model[[type(m) for m in model].index(conv.FlattenNHWC)] = nn.Flatten()  # (N, C·H·W)
    with torch.no_grad():
        naive = model(torch.as_tensor(x)).numpy()
    return forward_gap(mlp.forward, task, params, x, naive)


def lstm_bias_init():
    """lstm: the canonical b loaded into bias_ih and bias_hh left as nn.LSTM draws it (U(±1/√u),
    after torch.manual_seed(0)), against bias_hh = 0 (impl_torch): torch adds both biases. (Left
    trainable, a zeroed bias_hh still doubles b's step: parity_tests/test_torch.py checks that.)"""
    task = catalog.get("lstm")
    params, (x, _) = task.init_params(), task.data()
    torch.manual_seed(0)
    (spec, *_), (layer, *_) = task.layers, params
    default = nn.LSTM(layer["W"].shape[0], spec.units, batch_first=True, dtype=torch.float64)
    model = mlp.build(task, params)
    with torch.no_grad():
        model[0].rnn.bias_hh_l0.copy_(default.bias_hh_l0)  # torch's own init of the second bias
        naive = model(torch.as_tensor(x)).numpy()
    return forward_gap(mlp.forward, task, params, x, naive)


def gru_gate_order():
    """gru: the canonical blocks z, r, h copied into nn.GRU's r, z, n as they are (update and reset
    gates swap roles), against the blocks reordered with TORCH_GRU_BLOCKS (impl_torch)."""
    task = catalog.get("gru")
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, params)
    gru, (layer, *_) = model[0].rnn, params
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.as_tensor(layer["W"]).T)  # no reorder
        gru.weight_hh_l0.copy_(torch.as_tensor(layer["U"]).T)
        gru.bias_ih_l0.copy_(torch.as_tensor(layer["b"][0]))
        gru.bias_hh_l0.copy_(torch.as_tensor(layer["b"][1]))
        naive = model(torch.as_tensor(x)).numpy()
    return forward_gap(mlp.forward, task, params, x, naive)


def conv_kernel_transpose():
    """cnn: each canonical kernel (kh, kw, in, out) loaded as torch.tensor(W.T), NumPy's .T reversing
    every axis to (out, in, kw, kh) (the shape Conv2d wants, kh and kw swapped), against
    W.permute(3, 2, 0, 1) (impl_torch)."""
    return numpy_transposed_kernels("cnn", tasks.Conv2D, nn.Conv2d)


def conv_transpose_kernel():
    """deconv: each transposed conv's kernel (kh, kw, out, in) loaded as torch.tensor(W.T), (in, out,
    kw, kh): ConvTranspose2d's (in, out, kh, kw) with kh and kw swapped, a shape it takes on any layer
    with square kernels; against W.permute(3, 2, 0, 1) (impl_torch)."""
    return numpy_transposed_kernels("deconv", tasks.Conv2DTranspose, nn.ConvTranspose2d)


def numpy_transposed_kernels(name, kind, module):
    """Task `name`'s kernels of node `kind` loaded into its torch `module`s as torch.tensor(W.T): the
    forward's gap, and impl_torch's, from the reference."""
    task = catalog.get(name)
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, params)
    found = [m for m in model.modules() if type(m) is module]
    kernels = [layer["W"] for spec, layer in zip(task.layers, params) if type(spec) is kind]
    with torch.no_grad():
        for m, W in zip(found, kernels, strict=True):
            m.weight.copy_(torch.tensor(W.T))  # every axis reversed
        naive = model(torch.as_tensor(x)).numpy()
    return forward_gap(mlp.forward, task, params, x, naive)


def same_stride2_padding():
    """cnn: its stride-2 "same" conv as torch ports often write it, Conv2d(padding=1) (one pixel on
    every side: the output is 4×4 either way), against TensorFlow's rule, (0, 1): the odd pixel only
    bottom/right (nn.ZeroPad2d, impl_torch)."""
    task = catalog.get("cnn")
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, params)
    pads = [i for i, m in enumerate(model) if isinstance(m, nn.ZeroPad2d)]
    stride2 = next(i for i in pads if model[i + 1].stride == (2, 2))
    model[stride2] = nn.ZeroPad2d(1)  # = Conv2d(padding=1) before the stride-2 conv
    with torch.no_grad():
        naive = model(torch.as_tensor(x)).numpy()
    return forward_gap(mlp.forward, task, params, x, naive)


# issue 23: graph nets


class LastOutput(nn.Module):
    """A bidirectional LSTM read as a unidirectional one often is: out[:, -1], both halves at step T."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0][:, -1]  # the backward half there has read x_T only


def bidirectional_last_state():
    """bilstm: out[:, -1] of a bidirectional nn.LSTM as the pair of last states, against the forward
    half at T and the backward half at step 1, where it has read the whole sequence (impl_torch)."""
    task = catalog.get("bilstm")
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, params)
    model[0] = LastOutput(model[0].rnn)
    with torch.no_grad():
        naive = model(torch.as_tensor(x)).numpy()
    return forward_gap(mlp.forward, task, params, x, naive)


def batchnorm_running_var(steps=20):
    """resnet: the running variances after `steps` of torch's training (the batch's unbiased variance,
    ·n/(n − 1)) against the reference's with the biased one (Keras, Flax); setting: against the
    reference with unbiased_var (tasks.with_formula), torch's own formula."""
    task = catalog.get("resnet")
    params = task.init_params()
    trained = train(task, params, steps)[0]
    biased = ref.train(task, params, steps)[0]
    unbiased = ref.train(tasks.with_formula(task, {"unbiased_var": True}), params, steps)[0]
    ours = running_variances(trained)
    gaps = (rel_diff_params(ours, running_variances(other)) for other in (biased, unbiased))
    return Gap(*gaps, TRAJECTORY[F64])


def running_variances(params):
    return [{"moving_variance": layer["moving_variance"]} for layer in params if "moving_variance" in layer]


def conv_transpose_same(kernel=3, stride=2, filters=4):
    """A Keras Conv2DTranspose(k=3, strides=2, padding="same") on deconv's images: H → 2H, TensorFlow
    keeping the full (2H + 1) output's rows 0..2H − 1 (its conv's "same" pads (0, 1): the transposed
    conv crops the bottom/right one). The torch port's usual ConvTranspose2d(padding=1,
    output_padding=1) also gives 2H, but rows 1..2H: the map shifted one pixel up and left.
    Setting: ConvTranspose2d(padding=0), then out[..., :2H, :2W]."""
    x = catalog.get("deconv").data()[0]  # (N, H, W, 1)
    rng = np.random.default_rng(0)
    W, b = rng.normal(0, 0.5, (kernel, kernel, filters, x.shape[3])), rng.normal(0, 0.1, filters)
    height, width = stride * x.shape[1], stride * x.shape[2]
    same = ref.conv.conv2d_transpose(x, W, b, stride)[0][:, :height, :width]
    weight, images = torch.as_tensor(W).permute(3, 2, 0, 1), torch.as_tensor(x).permute(0, 3, 1, 2)

    def transposed(padding, output_padding):
        out = F.conv_transpose2d(images, weight, torch.as_tensor(b), stride, padding, output_padding)
        return out[..., :height, :width].permute(0, 2, 3, 1).numpy()

    return Gap(rel_diff(transposed(1, 1), same), rel_diff(transposed(0, 0), same), FORWARD[F64])


# issue 25: the transformer


def attention_inputs(dtype):
    """transformer's first attention node's q, k, v (N, h, T, d) in `dtype`: the catalog's weights, the
    embedded tokens through the first LayerNorm (torch's own modules, impl_torch.build)."""
    task = catalog.get("transformer")
    params, (x, _) = task.init_params(), task.data()
    model = mlp.build(task, [{k: v.astype(dtype) for k, v in layer.items()} for layer in params])
    embed, positions, layernorm, attention = (model[i] for i in range(4))  # one module per node
    with torch.no_grad():
        a = layernorm(positions(embed(torch.as_tensor(x))))  # (N, T, E)
        n, t, e = a.shape
        heads = attention.mha.num_heads
        qkv = F.linear(a, attention.mha.in_proj_weight, attention.mha.in_proj_bias)  # (N, T, 3E)
        return [z.reshape(n, t, heads, e // heads).transpose(1, 2) for z in qkv.chunk(3, dim=-1)]


def explicit_attention(q, k, v):
    """softmax(Q Kᵀ/√d + causal mask) V written out, one op a line."""
    t = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (N, h, T, T)
    scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def sdpa_rounding():
    """transformer's first attention: F.scaled_dot_product_attention(is_causal=True) against the formula
    written out, in float32 (default: rounding, the fused CPU kernel's blocked softmax) and in float64
    (setting: the same formula)."""
    gaps = []
    for dtype in (np.float32, np.float64):
        with torch.no_grad():
            q, k, v = attention_inputs(dtype)
            fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            gaps.append(rel_diff(fused.numpy(), explicit_attention(q, k, v).numpy()))
    return Gap(*gaps, FORWARD[F64])


def adamw_coupled(steps=10):
    """transformer, 10 steps: torch.optim.Adam(weight_decay=λ), which adds λ·w to the gradient before
    Adam's normalisation, against AdamW(weight_decay=λ), the task's decoupled decay (impl_torch.train);
    setting: impl_torch.train against torch.optim.Adam with the decay written out before each step,
    w ← w·(1 − lr·λ) (AdamW's formula)."""
    task = catalog.get("transformer")
    params, opt = task.init_params(), task.optimizer
    kw = {"lr": opt.lr, "betas": (opt.beta1, opt.beta2), "eps": opt.eps}
    decoupled = train(task, params, steps)[0]

    def coupled(model):
        return torch.optim.Adam(model.parameters(), weight_decay=opt.weight_decay, **kw)

    def adam(model):
        return torch.optim.Adam(model.parameters(), **kw)

    def decay(optimizer, step):
        with torch.no_grad():
            for group in optimizer.param_groups:
                for w in group["params"]:
                    w.mul_(1 - group["lr"] * opt.weight_decay)

    gaps = (torch_train(task, params, steps, coupled), torch_train(task, params, steps, adam, decay))
    return Gap(*(rel_diff_params(other, decoupled) for other in gaps), TRAJECTORY[F64])
