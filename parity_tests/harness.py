"""The parity checks every framework's tests run, written once: a framework against the reference.

Like micrograd's test: compute the same thing twice (reference, framework), compare forward, then
the loss, then every gradient, then a training trajectory. Each check records its worst relative
difference, so a run can report the measured numbers (see conftest.py).
"""

import functools

import numpy as np

import reference_numpy as ref
from foundation import frameworks, tolerances
from foundation.tolerances import rel_diff, rel_diff_params
from rosetta import tasks

MEASURED = {}  # (framework, dtype, check) -> worst relative difference seen this session


def record(framework, dtype, check, value):
    key = (framework, dtype, check)
    MEASURED[key] = max(MEASURED.get(key, 0.0), value)
    return value


def forward_diffs(fw, task, params, dtype):
    """Relative differences of forward output, loss and gradients, one evaluation."""
    x, y = task.data()
    ref_loss, ref_grads = ref.loss_and_grads(task, params, x, y)
    loss, grads = fw.loss_and_grads(task, params, x, y)
    out = fw.forward(task, params, x)
    assert out.dtype == np.dtype(dtype), f"forward returned {out.dtype}, weights are {dtype}"
    return {
        "forward": rel_diff(out, ref.forward(task, params, x), dtype),
        "loss": rel_diff(loss, ref_loss, dtype),
        "grads": rel_diff_params(grads, ref_grads, dtype),
    }


def assert_forward_parity(fw, task, dtype, params=None, name=None):
    """Forward, loss and every gradient within the policy's FORWARD tolerance."""
    params = task.init_params(dtype) if params is None else params
    diffs = forward_diffs(fw, task, params, dtype)
    for check, value in diffs.items():
        record(name or fw.__name__, dtype, check, value)
    assert max(diffs.values()) <= tolerances.FORWARD[dtype], diffs


def own_form(framework, task):
    """The reference variant `framework` computes (foundation.frameworks.formula): Keras's Adam ε̂ and its
    momentum velocity once the lr changes, torch's unbiased running variance; else the task as it is."""
    return tasks.with_formula(task, frameworks.formula(framework.split("-")[0], task))


def trajectory_diffs(fw, task, dtype, reference_task=None, steps=None, every=1):
    """Loss history (per step, or per window of `every` steps) and final weights after the policy's
    trajectory steps (≤ 200).

    `reference_task` is the task the reference runs: the same task, or the framework's own variant
    of a formula (e.g. Keras's Adam ε̂) where no setting makes the framework follow ours."""
    steps = tolerances.trajectory_steps(task, dtype) if steps is None else steps
    ref_params, ref_history = reference_trajectory(reference_task or task, dtype, steps, every)
    got_params, history = fw.train(task, task.init_params(dtype), steps, every)
    n = -(-steps // every)  # ceil
    assert len(history["loss"]) == n, f"{len(history['loss'])} losses for {steps} steps, {n} windows"
    return {
        "loss_history": rel_diff(history["loss"], ref_history["loss"], dtype),
        "params": rel_diff_params(got_params, ref_params, dtype),
    }


@functools.cache
def reference_trajectory(task, dtype, steps, every):
    """The reference's (weights, history) from the task's initial weights: computed once per process for
    every framework held to it (the transformer's 200 float64 steps take the reference ~2 s)."""
    return ref.train(task, task.init_params(dtype), steps, every)


def assert_trajectory_parity(fw, task, dtype, reference_task=None, name=None):
    diffs = trajectory_diffs(fw, task, dtype, reference_task)
    for check, value in diffs.items():
        record(name or fw.__name__, dtype, "trajectory " + check, value)
    assert max(diffs.values()) <= tolerances.TRAJECTORY[dtype], diffs
