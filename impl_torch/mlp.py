"""The MLP in PyTorch: an nn.Sequential of nn.Linear and activation modules, autograd for gradients.

Weights come in canonical ({"W": (fan_in, fan_out), "b": (fan_out,)}, y = x @ W + b) and go out the
same way; nn.Linear keeps weight as (out, in), so build and get_params are the only places that
transpose. Every tensor follows the dtype of the weights (float64 or float32), not torch's default.
"""

import torch
import torch.nn.functional as F
from torch import nn

from rosetta import validate
from rosetta.arrays import as_dtype
from rosetta.errors import unknown
from rosetta.tasks import ACTIVATIONS, LOSSES

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
    """nn.Sequential(Linear, activation, ...) holding a copy of the canonical weights."""
    modules, fan_in = [], task.n_in
    for spec, layer in zip(task.layers, params):
        W = torch.tensor(layer["W"])  # (fan_in, fan_out), float64 or float32
        assert W.shape == (fan_in, spec.units), f"W is {tuple(W.shape)}, expected {(fan_in, spec.units)}"
        # dtype= : torch's default is float32; the weights' dtype decides. Its own init is overwritten.
        linear = nn.Linear(fan_in, spec.units, bias="b" in layer, dtype=W.dtype)
        with torch.no_grad():
            linear.weight.copy_(W.T)  # canonical (in, out) -> Linear.weight (out, in)
            if "b" in layer:
                linear.bias.copy_(torch.tensor(layer["b"]))
        modules += [linear, prelu(layer["alpha"]) if spec.activation == "prelu" else activation(spec)]
        fan_in = spec.units
    return nn.Sequential(*modules)


def get_params(model, grads=False):
    """The canonical weights of the model's nn.Linear layers and PReLU α (grads=True: their
    gradients), NumPy."""
    params = []
    for linear, act in zip(model[::2], model[1::2]):  # (Linear, activation) pairs
        W, b = linear.weight, linear.bias
        if grads:
            W, b = W.grad, None if b is None else b.grad
        W = W.detach().T  # Linear.weight (out, in) -> canonical (in, out)
        assert W.shape == (linear.in_features, linear.out_features), f"W is {tuple(W.shape)}"
        layer = {"W": W.numpy().copy()}
        if b is not None:
            layer["b"] = b.detach().numpy().copy()
        if isinstance(act, nn.PReLU):
            layer["alpha"] = (act.weight.grad if grads else act.weight).detach().numpy().copy()
        params.append(layer)
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
