"""The tolerance policy, stated once. Every parity check reads its numbers from here.

A relative difference is max|a − b| / max(max|b|, tiny): one number per array, scaled by the
reference array's largest magnitude, so entries near zero do not blow it up (an elementwise ratio
would) and a wrong sign or transpose still shows at order 1.
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
    """The worst rel_diff over every array of two canonical weight (or gradient) lists."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} layers vs reference {len(b)}")
    worst = 0.0
    for i, (la, lb) in enumerate(zip(a, b)):
        if set(la) != set(lb):
            raise ValueError(f"layer {i}: keys {sorted(la)} vs reference {sorted(lb)}")
        worst = max([worst] + [rel_diff(la[k], lb[k], dtype) for k in lb])
    return worst
