"""The networks in PyTorch: an nn.Sequential over the task's layers, autograd for gradients.

Weights come in canonical (rosetta.layouts; Dense {"W": (fan_in, fan_out), "b": (fan_out,)},
y = x @ W + b) and go out the same way. torch keeps Linear.weight as (out, in), Conv2d.weight as
(out, in, kh, kw), images as NCHW and its own recurrent gate layout: build and get_params (with
linear here, conv.py and recurrent.py) are the only places that convert. Every tensor follows the
dtype of the weights (float64 or float32), not torch's default.
"""

import torch
import torch.nn.functional as F
from torch import nn

from impl_torch import conv, recurrent
from rosetta import validate
from rosetta.arrays import as_dtype
from rosetta.errors import unknown
from rosetta.tasks import ACTIVATIONS, LOSSES, LSTM, Conv2D, Flatten, Layer, Pool2D

# ---- activations: one module per layer, α from the task ----


def activation(spec):
    if spec.activation == "leaky_relu":
        return nn.LeakyReLU(negative_slope=spec.alpha)  # torch's default slope is 0.01: pass ours
    if spec.activation == "elu":
        return nn.ELU(alpha=spec.alpha)
    modules = {"linear": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    if spec.activation not in modules:
        raise unknown("activation", spec.activation, ACTIVATIONS)
    return modules[spec.activation]()


def prelu(alpha):
    """nn.PReLU holding a copy of the layer's learned α, one per unit: torch's default
    num_parameters=1 shares a single α across all units (and starts it at 0.25)."""
    alpha = torch.tensor(alpha)  # (fan_out,)
    module = nn.PReLU(num_parameters=len(alpha), dtype=alpha.dtype)  # α along dim 1 of (N, fan_out)
    with torch.no_grad():
        module.weight.copy_(alpha)
    return module


# ---- the network ----


def build(task, params):
    """nn.Sequential over task.layers, holding a copy of the canonical weights: Linear or Conv2d
    then its activation, MaxPool2d/AvgPool2d, FlattenNHWC, LastStep(LSTM/GRU). Images come in NHWC
    and are permuted to torch's NCHW once, at the input."""
    modules = [conv.ToNCHW()] if len(task.input_shape) == 3 else []  # (N, H, W, C) -> (N, C, H, W)
    for spec, layer, (in_shape, _) in zip(task.layers, params, task.layer_shapes):
        if isinstance(spec, Layer):
            act = prelu(layer["alpha"]) if spec.activation == "prelu" else activation(spec)
            modules += [linear(spec, layer, in_shape[-1]), act]
        elif isinstance(spec, Conv2D):
            modules += [*conv.conv2d(spec, layer, in_shape), activation(spec)]
        elif isinstance(spec, Pool2D):
            modules.append(conv.pool2d(spec))
        elif isinstance(spec, Flatten):
            modules.append(conv.FlattenNHWC())  # (N, C, H, W) -> (N, H·W·C), NHWC order
        else:
            rnn = recurrent.lstm if isinstance(spec, LSTM) else recurrent.gru
            modules.append(rnn(spec, layer, in_shape[-1]))  # in_shape (T, F)
    return nn.Sequential(*modules)


def get_params(model, grads=False):
    """The canonical weights, one dict per task layer ({} for Pool2D and Flatten), NumPy
    (grads=True: their gradients). ToNCHW, ZeroPad2d and the activations hold none."""
    params = []
    for module in model:
        if isinstance(module, nn.Linear):
            params.append(linear_params(module, grads))
        elif isinstance(module, nn.PReLU):  # the learned α of the Linear before it
            params[-1]["alpha"] = (module.weight.grad if grads else module.weight).detach().numpy().copy()
        elif isinstance(module, nn.Conv2d):
            params.append(conv.conv_params(module, grads))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, conv.FlattenNHWC)):
            params.append({})
        elif isinstance(module, recurrent.LastStep):
            read = recurrent.lstm_params if isinstance(module.rnn, nn.LSTM) else recurrent.gru_params
            params.append(read(module.rnn, grads))
    return params


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy."""
    x = validate.forward_call(task, params, x)
    model = build(task, params)
    with torch.no_grad():
        return model(torch.as_tensor(as_dtype(x, params))).numpy()


# ---- losses on the output (N, K) ----


def loss_value(task, out, y):
    """The task's loss of the output (N, K)."""
    return multitask(task, out, y) if task.loss == "multitask" else named_loss(task.loss, out, y)


def named_loss(name, out, y):
    """A loss of rosetta.tasks.LOSSES."""
    n = out.shape[0]
    if name == "half_sse":
        return 0.5 * torch.sum((out - y) ** 2)  # L = ½Σ(out − y)²
    if name == "sse_2n":
        return torch.sum((out - y) ** 2) / (2 * n)  # L = Σ(out − y)²/(2N)
    if name == "mse":
        # mse_loss broadcasts (N, 1) against (N,) to (N, N) with only a warning: rosetta.validate
        # refuses targets not shaped like the output before they get here
        return F.mse_loss(out, y)  # mean over all N·K elements
    if name == "bce_logits":
        return F.binary_cross_entropy_with_logits(out, y)  # mean; takes logits, not probabilities
    if name == "softmax_ce":
        return F.cross_entropy(out, y)  # mean over rows; logits (N, K), int64 labels (N,)
    raise unknown("loss", name, LOSSES)


def multitask(task, out, y):
    """w₁·MSE(regression columns) + w₂·softmax CE(class columns); y (N, R + K), one-hot classes."""
    r, (w1, w2) = task.n_regression, task.loss_weights
    # cross_entropy takes class probabilities as the target too: the one-hot rows, no argmax needed
    return w1 * F.mse_loss(out[:, :r], y[:, :r]) + w2 * F.cross_entropy(out[:, r:], y[:, r:])


def l2_penalty(task, model):
    """λ·ΣW² over the kernels only (a term in the loss, not torch's weight_decay)."""
    return task.l2 * sum(torch.sum(m.weight**2) for m in model if isinstance(m, nn.Linear))


# ---- the loss and its gradient by autograd ----


def total_loss(task, model, x, y):
    """The loss incl. L2 on tensors already in the weights' dtype; a 0-d tensor autograd can follow."""
    loss = loss_value(task, model(x), y)
    if task.l2:
        loss = loss + l2_penalty(task, model)
    return loss


def loss_and_grads(task, params, x, y):
    """The loss (with any L2 term) and its gradient with respect to every weight, canonical."""
    x, y = validate.loss_call(task, params, x, y)
    model = build(task, params)
    x, y = torch.as_tensor(as_dtype(x, params)), torch.as_tensor(as_dtype(y, params))  # labels: int64
    loss = total_loss(task, model, x, y)
    loss.backward()  # fills each parameter's .grad, shaped like the parameter: Linear's (out, in)
    return loss.item(), get_params(model, grads=True)


# ---- Dense: the one transpose ----


def linear(spec, layer, fan_in):
    """nn.Linear holding a copy of {"W": (fan_in, units), "b": (units,)} ("b" absent: no bias)."""
    W = torch.tensor(layer["W"])  # (fan_in, fan_out), float64 or float32
    assert W.shape == (fan_in, spec.units), f"W is {tuple(W.shape)}, expected {(fan_in, spec.units)}"
    # dtype= : torch's default is float32; the weights' dtype decides. Its own init is overwritten.
    module = nn.Linear(fan_in, spec.units, bias="b" in layer, dtype=W.dtype)
    with torch.no_grad():
        module.weight.copy_(W.T)  # canonical (in, out) -> Linear.weight (out, in)
        if "b" in layer:
            module.bias.copy_(torch.tensor(layer["b"]))
    return module


def linear_params(module, grads=False):
    """The canonical {"W": (in, out), "b": (out,)} of an nn.Linear (grads=True: its gradients)."""
    W, b = module.weight, module.bias
    if grads:
        W, b = W.grad, None if b is None else b.grad
    W = W.detach().T  # Linear.weight (out, in) -> canonical (in, out)
    assert W.shape == (module.in_features, module.out_features), f"W is {tuple(W.shape)}"
    layer = {"W": W.numpy().copy()}
    if b is not None:
        layer["b"] = b.detach().numpy().copy()
    return layer
