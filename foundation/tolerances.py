"""The tolerance policy, stated once. Every parity check reads its numbers from here.

A relative difference is max|a − b| / max(max|b|, tiny): one number per array, scaled by the
reference array's largest magnitude, so entries near zero do not blow it up (an elementwise ratio
would) and a wrong sign or transpose still shows at order 1. Weights and gradients are compared a
layer at a time, (W, b) as one vector: a bias gradient is a sum over the batch whose terms can nearly
cancel (softmax's output biases with balanced classes: terms 100–270× the result), and its float32
rounding is then at the scale of the layer's gradient, not of that small sum. A missing 1/N or a
wrong bias gradient still shows far above any tolerance.
"""

import numpy as np

# Forward outputs, losses and gradients, one evaluation from identical weights.
FORWARD = {
    # float64: ~50 ulp of headroom over summation-order differences in matmuls and reductions.
    "float64": 1e-12,
    # float32: eps32 = 1.2e-7; a few dozen roundings through a 4-layer net and a mean reduction.
    "float32": 1e-5,
}

# Weights and per-step losses after a trajectory of k ≤ 200 steps (SGD, momentum, Nesterov, Adam
# with the same epsilon placement): per-step rounding differences compound through the updates.
TRAJECTORY = {
    "float64": 1e-10,
    "float32": 1e-4,
}

# Floor for the denominator, so all-zero reference arrays (e.g. unused gradients) compare absolutely.
TINY = {"float64": 1e-30, "float32": 1e-30}

# Finite-difference gradient check of the reference (central differences, float64, h = 1e-6·scale).
GRADCHECK = 1e-7

# The longest trajectory compared step by step in parity tests.
TRAJECTORY_STEPS = 200

# float32 Adam: Adam divides by √v̂, so a gradient that is nearly zero (softmax's output biases:
# balanced classes cancel) becomes a full-size step whose sign is rounding noise. Measured on
# `softmax`: the reference against itself from weights nudged by 1 ulp ends 5.9e-6 apart after 50
# steps and 1.4e-2 after 200; Keras on TensorFlow, whose float32 sum of that gradient is 1.2e-5 off,
# against the reference's Keras form: 2.3e-5 after 30 steps, 5.6e-5 after 40, 4.0e-4 after 50 (in
# float64 the same pair is 9e-15 apart after 50). Past 30 steps a float32 Adam trajectory compares
# each framework's summation order, not its formula; float64 runs the full 200 at 1e-10.
ADAM_FLOAT32_STEPS = 30


def trajectory_steps(task, dtype):
    """How many steps of `task` a trajectory parity check compares."""
    cap = ADAM_FLOAT32_STEPS if (task.optimizer.name, str(dtype)) == ("adam", "float32") else TRAJECTORY_STEPS
    return min(task.steps, cap)


def rel_diff(a, b, dtype="float64"):
    """max|a − b| / max(max|b|, tiny) over the whole array (b is the reference)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs reference {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), TINY[str(np.dtype(dtype))])
    return float(np.max(np.abs(a - b))) / scale


def rel_diff_params(a, b, dtype="float64"):
    """The worst layer of two canonical weight (or gradient) lists, each layer's arrays (W, U, b, α)
    compared as one vector: max|a − b| / max|b| over the layer's arrays."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} layers vs reference {len(b)}")
    worst = 0.0
    for i, (la, lb) in enumerate(zip(a, b)):
        if set(la) != set(lb):
            raise ValueError(f"layer {i}: keys {sorted(la)} vs reference {sorted(lb)}")
        if not lb:  # a layer without weights (Pool2D, Flatten)
            continue
        flat_a = np.concatenate([np.ravel(la[k]) for k in sorted(lb)])
        flat_b = np.concatenate([np.ravel(lb[k]) for k in sorted(lb)])
        worst = max(worst, rel_diff(flat_a, flat_b, dtype))
    return worst
