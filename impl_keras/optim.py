"""The task's optimizer as keras.optimizers: SGD (momentum, Nesterov) or Adam, with the task's settings.

Keras's formulas are the reference's "keras" form (reference_numpy/optim.py), whatever form the task
names: SGD keeps the velocity v = μ·v − lr·g (equal to torch's buffer while lr is constant), Adam
steps lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε̂) with its "epsilon hat" ε̂. A task's weight_decay λ (AdamW) is
Keras's own weight_decay=λ: before each update, w ← w − w·λ·lr on every trainable variable
(BaseOptimizer._apply_weight_decay; no variable excluded), torch AdamW's decoupled decay.
"""

import keras

from foundation.frameworks import KERAS_EPSILON  # used when a task asks for torch's m̂/(√v̂ + ε)
from impl_keras.float64_fixes import exact


def learning_rate(opt):
    """The task's lr, or its drops as a schedule on the 0-based step count (optimizer.iterations)."""
    if not opt.lr_drops:
        return opt.lr  # a variable in floatx, created exactly from the Python float
    # PiecewiseConstantDecay takes values[i + 1] once step > boundaries[i]: a drop at step s is s − 1.
    boundaries = [start - 1 for start, _ in opt.lr_drops]
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [exact(opt.lr), *(exact(value) for _, value in opt.lr_drops)]
    )


def sgd(opt):
    """keras.optimizers.SGD: v = μ·v − lr·g; w += v, or w += μ·v − lr·g for Nesterov."""
    return keras.optimizers.SGD(  # Keras 1/2: SGD(lr=...)
        learning_rate=learning_rate(opt), momentum=exact(opt.momentum), nesterov=opt.nesterov
    )


def adam(opt):
    """keras.optimizers.Adam: w −= α·m/(√v + ε̂), α = lr·√(1−β2ᵗ)/(1−β1ᵗ); with a weight_decay λ, AdamW
    (keras.optimizers.AdamW is this Adam with weight_decay=λ, default 0.004)."""
    epsilon = opt.eps if opt.form == "keras" else KERAS_EPSILON
    return keras.optimizers.Adam(
        learning_rate=learning_rate(opt),
        beta_1=exact(opt.beta1),
        beta_2=exact(opt.beta2),
        epsilon=exact(epsilon),
        weight_decay=exact(opt.weight_decay) if opt.weight_decay else None,  # TF: λ through float32 else
    )


def make(opt):
    """keras.optimizers.SGD or Adam; the task's L2 is a regularizer, not weight_decay (decoupled)."""
    return adam(opt) if opt.name == "adam" else sgd(opt)
