"""The task's optimizer in optax, on the weight pytree.

`opt` is the task's rosetta Optimizer. optax keeps the momentum buffers, the Adam moments and the
step count in its state, a pytree shaped like the weights; nothing is updated in place.
"""

import jax.numpy as jnp
import optax

from foundation.errors import RosettaError


def learning_rate(opt):
    """The constant lr, or a schedule of optax's step count (0-based) following opt.lr_at."""
    if not opt.lr_drops:
        return opt.lr

    def schedule(count):
        lr = opt.lr
        for start, value in opt.lr_drops:
            lr = jnp.where(count >= start, value, lr)
        return lr

    return schedule


def sgd(opt):
    """optax.sgd = torch.optim.SGD: buf = μ·buf + g; w −= lr·buf, or lr·(g + μ·buf) for Nesterov."""
    if opt.momentum and opt.form != "torch":  # optax has no Keras velocity v = μv − lr·g
        raise RosettaError(f"impl_jax follows optax's momentum (form 'torch'), not form {opt.form!r}")
    return optax.sgd(learning_rate(opt), momentum=opt.momentum or None, nesterov=opt.nesterov)


def adam(opt):
    """optax.adam = torch.optim.Adam: w −= lr·m̂/(√v̂ + ε), with m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ). With a
    weight_decay λ, optax.adamw = torch.optim.AdamW: w −= lr·(m̂/(√v̂ + ε) + λ·w), decoupled (outside
    the normalisation), on every leaf (mask=None), biases and LayerNorm's γ, β included."""
    if opt.form != "torch":  # optax has no Keras "epsilon hat" form (DESIGN.md §5)
        raise RosettaError(f"impl_jax follows optax's Adam (form 'torch'), not form {opt.form!r}")
    if opt.weight_decay:  # optax's default weight_decay is 1e-4, torch AdamW's 1e-2: always pass it
        lr, decay = learning_rate(opt), opt.weight_decay
        return optax.adamw(lr, b1=opt.beta1, b2=opt.beta2, eps=opt.eps, weight_decay=decay, mask=None)
    return optax.adam(learning_rate(opt), b1=opt.beta1, b2=opt.beta2, eps=opt.eps)


def make(opt):
    """optax.sgd or optax.adam: a GradientTransformation; make(opt).init(params) is its state."""
    return adam(opt) if opt.name == "adam" else sgd(opt)


def update(opt, params, grads, state):
    """One optimizer step on every weight of every layer: (new params, new state)."""
    updates, state = make(opt).update(grads, state, params)
    return optax.apply_updates(params, updates), state
