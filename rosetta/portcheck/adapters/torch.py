"""PyTorch: an nn.Module whose forward applies its child modules in order.

Layer outputs come from forward hooks, gradients from autograd, steps from the user's torch.optim
factory on a deep copy. Linear.weight is (out, in): transposed to canonical (in, out) here and only here.
"""

import contextlib
import copy

import numpy as np
import torch
from torch import nn

from rosetta.portcheck.layers import Layer, NotSupported

ACTIVATIONS = {
    nn.ReLU: "relu",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Identity: "linear",
    nn.Softmax: "softmax",
}


def leaves(module):
    """The modules that compute, in order: nested Sequentials and containers flattened."""
    children = list(module.children())
    return [leaf for child in children for leaf in leaves(child)] if children else [module]


def parametrized(model):
    return [m for m in leaves(model) if isinstance(m, (nn.Linear, nn.BatchNorm1d, nn.LayerNorm))]


def describe(m):
    """One torch module as a Layer."""
    if isinstance(m, nn.Linear):
        return Layer(
            "dense",
            f"Linear({m.in_features}→{m.out_features})",
            m.in_features,
            m.out_features,
            m.bias is not None,
        )
    if isinstance(m, nn.BatchNorm1d):
        n, name = m.num_features, f"BatchNorm1d(eps={m.eps:g}, momentum={m.momentum})"
        return Layer("batchnorm", name, n, n, True, eps=m.eps, momentum=m.momentum)
    if isinstance(m, nn.LayerNorm):
        n = m.normalized_shape[-1]
        return Layer("layernorm", f"LayerNorm(eps={m.eps:g})", n, n, m.bias is not None, eps=m.eps)
    if isinstance(m, nn.LeakyReLU):
        return Layer("act", f"LeakyReLU({m.negative_slope:g})", act="leaky_relu", alpha=m.negative_slope)
    if isinstance(m, nn.ELU):
        return Layer("act", f"ELU({m.alpha:g})", act="elu", alpha=m.alpha)
    if isinstance(m, nn.GELU):
        return Layer("act", f"GELU({m.approximate})", act="gelu_tanh" if m.approximate == "tanh" else "gelu")
    if type(m) in ACTIVATIONS:
        return Layer("act", type(m).__name__, act=ACTIVATIONS[type(m)])
    if isinstance(m, nn.Dropout):
        return Layer("dropout", f"Dropout({m.p:g})", rate=m.p)
    if isinstance(m, nn.Flatten):
        return Layer("flatten", "Flatten")
    raise NotSupported(f"not supported yet: {type(m).__name__}")


def canonical(m, read=lambda p: p):
    """A parametrized module's weights (or, with `read`, their gradients) in canonical layout."""
    as_np = lambda p: None if p is None or read(p) is None else read(p).detach().cpu().numpy().copy()  # noqa: E731
    if isinstance(m, nn.Linear):
        layer = {"W": as_np(m.weight).T}  # torch (out, in) -> canonical (in, out)
        assert layer["W"].shape == (m.in_features, m.out_features), f"W is {layer['W'].shape}"
        return layer | ({"b": as_np(m.bias)} if m.bias is not None else {})
    layer = {"gamma": as_np(m.weight), "beta": as_np(m.bias)}
    if isinstance(m, nn.BatchNorm1d):
        layer |= {"moving_mean": as_np(m.running_mean), "moving_variance": as_np(m.running_var)}
    return {k: v for k, v in layer.items() if v is not None}


@contextlib.contextmanager
def eval_mode(model):
    """model.eval() for the duration, then every module's own training flag back."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.train(flag)


class TorchModel:
    framework = "torch"

    def __init__(self, model):
        self.model = model
        self.layers = [describe(m) for m in leaves(model)]
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.compute_dtype = self.dtype
        self.notes = ["torch model left in training mode (model.train())"] if model.training else []

    def tensor(self, a):
        a = np.asarray(a)
        return (
            torch.from_numpy(a) if a.dtype.kind in "iu" else torch.tensor(a, dtype=getattr(torch, self.dtype))
        )

    def weights(self):
        return [canonical(m) for m in parametrized(self.model)]

    def outputs(self, x, model=None, inference=True):
        """Every leaf module's output, NumPy, in inference mode (or as the user left the model)."""
        model, captured = model or self.model, []
        hooks = [m.register_forward_hook(lambda _m, _i, out: captured.append(out)) for m in leaves(model)]
        try:
            with torch.no_grad(), eval_mode(model) if inference else contextlib.nullcontext():
                model(self.tensor(x))
        finally:
            for hook in hooks:
                hook.remove()
        return [out.detach().cpu().numpy() for out in captured]

    def outputs_as_left(self, x):
        return self.outputs(x, inference=False) if self.model.training else None

    def training_pass(self, x):
        """One training-mode forward on a deep copy: every leaf's output, and the weights after it."""
        model = copy.deepcopy(self.model).train()
        return self.outputs(x, model, inference=False), [canonical(m) for m in parametrized(model)]

    def loss_and_grads(self, x, y, loss_fn, model=None):
        model = model or self.model
        with eval_mode(model):
            loss = loss_fn(model(self.tensor(x)), self.tensor(y))  # torch losses: (input, target)
            params = list(model.parameters())
            grads = dict(zip(params, torch.autograd.grad(loss, params)))
        return float(loss.detach()), [canonical(m, grads.get) for m in parametrized(model)]

    def train(self, x, y, loss_fn, factory, steps):
        """`steps` optimizer steps on a deep copy; the weights, gradients and lr of every step."""
        model = copy.deepcopy(self.model)
        made = factory(model.parameters())
        optimizer, scheduler = made if isinstance(made, tuple) else (made, None)
        record = []
        for _ in range(steps):
            lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad()
            with eval_mode(model):
                loss_fn(model(self.tensor(x)), self.tensor(y)).backward()
            grads = [canonical(m, lambda p: p.grad) for m in parametrized(model)]
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            record.append({"params": [canonical(m) for m in parametrized(model)], "grads": grads, "lr": lr})
        return record, form(optimizer)


def form(optimizer):
    """The update rule and hyperparameters of a torch optimizer, for replaying it in NumPy."""
    group = optimizer.param_groups[0]
    decay = group.get("weight_decay", 0.0)
    if type(optimizer) is torch.optim.SGD:
        return {
            "name": "sgd",
            "form": "torch",
            "momentum": group["momentum"],
            "nesterov": group["nesterov"],
            "weight_decay": decay,
            "decoupled": False,
        }
    if type(optimizer) in (torch.optim.Adam, torch.optim.AdamW) and not group["amsgrad"]:
        b1, b2 = group["betas"]
        return {
            "name": "adam",
            "form": "torch",
            "beta1": b1,
            "beta2": b2,
            "eps": group["eps"],
            "weight_decay": decay,
            "decoupled": type(optimizer) is torch.optim.AdamW,
        }
    return None


def loss_function(loss):
    """A name from rosetta.tasks.LOSSES as impl_torch computes it, or the user's own (input, target) loss."""
    if isinstance(loss, str):
        from impl_torch.mlp import named_loss

        return lambda out, y: named_loss(loss, out, y)
    return loss


# ---- the command line: a state_dict into a model built from a description ----

MODULES = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}


def from_spec(spec, dtype):
    """nn.Sequential(Linear, activation, ...) from the JSON description (rosetta.portcheck.files)."""
    sizes, layers = spec["sizes"], []
    for i, act in enumerate(spec["activations"]):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=spec["bias"][i], dtype=getattr(torch, dtype)))
        if act == "leaky_relu":
            layers.append(nn.LeakyReLU(spec.get("alpha") or 0.01))
        elif act == "elu":
            layers.append(nn.ELU(spec.get("alpha") or 1.0))
        elif act == "softmax":
            layers.append(nn.Softmax(dim=1))
        elif act != "linear":
            layers.append(MODULES[act]())
    return nn.Sequential(*layers)


def load(path, make_model):
    """A state_dict saved with torch.save, read with weights_only=True: tensors only, no code runs."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("not a state_dict of tensors (save model.state_dict(), not the model)")
    dtype = str(next(iter(state.values())).dtype).removeprefix("torch.") if state else "float32"
    model = make_model(dtype)
    model.load_state_dict(state)  # strict: a missing, extra or mis-shaped tensor names itself
    return model.eval()


def make_optimizer(name, lr):
    return lambda params: (torch.optim.Adam if name == "adam" else torch.optim.SGD)(params, lr=lr)
