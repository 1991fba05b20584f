"""The task's optimizer as torch.optim: SGD (momentum, Nesterov) or Adam, with the task's settings.

torch's formulas are the reference's "torch" form (reference_numpy/optim.py): SGD keeps
buf = μ·buf + g and steps lr·buf (Nesterov: lr·(g + μ·buf)); Adam steps lr·m̂/(√v̂ + ε).
"""

import torch

from rosetta.errors import RosettaError


def make(opt, parameters):
    """torch.optim.SGD or Adam over `parameters`; no weight_decay: L2 is a term in the loss."""
    if opt.form != "torch" and (opt.name == "adam" or opt.momentum):
        raise RosettaError(f"torch.optim has no {opt.form!r} form of {opt.name} (Keras's ε̂ / velocity)")
    if opt.name == "sgd":
        return torch.optim.SGD(parameters, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)
    return torch.optim.Adam(parameters, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps)


def set_lr(optimizer, opt, step):
    """The task's learning rate for 0-based `step` (its lr_drops), as pytorch/examples' imagenet
    adjust_learning_rate does: torch applies the current lr to the momentum buffer / Adam moments."""
    for group in optimizer.param_groups:
        group["lr"] = opt.lr_at(step)
