"""The task's optimizer as torch.optim: SGD (momentum, Nesterov) or Adam, with the task's settings.

torch's formulas are the reference's "torch" form (reference_numpy/optim.py): SGD keeps
buf = μ·buf + g and steps lr·buf (Nesterov: lr·(g + μ·buf)); Adam steps lr·m̂/(√v̂ + ε).
"""

import torch

from foundation.errors import RosettaError


def learning_rate(opt, step):
    """The task's learning rate of 0-based `step` (its lr_drops). train sets it on the optimizer's
    param_groups each step, as pytorch/examples' imagenet adjust_learning_rate does: torch applies
    the current lr to the momentum buffer / Adam moments."""
    return opt.lr_at(step)


def sgd(opt, parameters):
    """torch.optim.SGD: buf = μ·buf + g; w −= lr·buf, or lr·(g + μ·buf) for Nesterov."""
    return torch.optim.SGD(parameters, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)


def adam(opt, parameters):
    """torch.optim.Adam: w −= lr·m̂/(√v̂ + ε), with m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ). With a weight_decay λ,
    torch.optim.AdamW: first w ← w·(1 − lr·λ) (decoupled), then Adam's step; not Adam(weight_decay=λ),
    which adds λ·w to the gradient before the normalisation (docs/divergences.md, adamw-coupled/torch)."""
    kw = {"lr": opt.lr, "betas": (opt.beta1, opt.beta2), "eps": opt.eps}
    if opt.weight_decay:
        return torch.optim.AdamW(parameters, weight_decay=opt.weight_decay, **kw)  # every parameter
    return torch.optim.Adam(parameters, **kw)


def make(opt, parameters):
    """torch.optim.SGD, Adam or AdamW over `parameters`; L2 is a term in the loss, not a weight_decay."""
    if opt.form != "torch" and (opt.name == "adam" or opt.momentum):
        raise RosettaError(f"torch.optim has no {opt.form!r} form of {opt.name} (Keras's ε̂ / velocity)")
    return adam(opt, parameters) if opt.name == "adam" else sgd(opt, parameters)
