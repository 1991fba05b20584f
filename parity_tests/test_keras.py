"""impl_keras against the reference, on the backend KERAS_BACKEND selects (run once per backend).

Forward, loss and every gradient, then trajectories through model.fit, then the tutorial's printout.
Test ids name the backend: [keras-tensorflow-xor-float64].
"""

import importlib

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

import impl_keras
from parity_tests.harness import (
    assert_forward_parity,
    assert_trajectory_parity,
    forward_diffs,
    record,
    trajectory_diffs,
)
from parity_tests.strategies import mlp_tasks, off_kink_params
from parity_tests.test_reference import XOR_PRINTED, xor_errors
from rosetta import frameworks, tasks, tolerances

BACKEND = keras.backend.backend()
NAME = f"keras-{BACKEND}"
DTYPES = ["float64", "float32"]
CASES = [(name, dtype) for name in tasks.names() for dtype in DTYPES]
LR_DROP_CASES = [(name, dtype) for name in ("sine-nesterov", "softmax") for dtype in DTYPES]
LR_DROP = ((30, 0.001),)  # from step 30 on, lr 0.001: Keras's velocity keeps the old lr's steps


def ids(cases):
    return ["-".join([NAME, *case]) for case in cases]


def keras_form(task):
    """The reference variant Keras computes (rosetta.frameworks.formula): Adam's ε̂ (Keras's default
    1e-7 for a torch-form task), momentum's velocity once the lr changes; else the task as it is."""
    return tasks.with_optimizer(task, **frameworks.formula("keras", task))


# ---- forward, loss and gradients ----


@pytest.mark.parametrize("name, dtype", CASES, ids=ids(CASES))
def test_forward_loss_and_grads(name, dtype):
    assert_forward_parity(impl_keras, tasks.get(name), dtype, name=NAME)


@settings(max_examples=10)  # each new shape costs the jax backend ~1.5 s of op compilation
@given(mlp_tasks(), st.sampled_from(DTYPES))
def test_random_mlps(task, dtype):
    """Every activation (Keras's LeakyReLU/ELU with the task's α), loss, bias on/off, L2 on/off."""
    assert_forward_parity(impl_keras, task, dtype, off_kink_params(task, dtype), name=NAME)


LAYER_CASES = [(name, dtype) for name in ("cnn", "lstm", "gru") for dtype in DTYPES]


@pytest.mark.parametrize("name, dtype", LAYER_CASES, ids=ids(LAYER_CASES))
def test_conv_and_recurrent_nets_with_nonzero_biases(name, dtype):
    """The catalog's biases start at 0 (LSTM's forget block at 1), which would hide a bias loaded
    into the wrong place (GRU's input and recurrent rows swapped): random biases everywhere."""
    task = tasks.get(name)
    assert_forward_parity(impl_keras, task, dtype, off_kink_params(task, dtype), name=NAME)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: f"{NAME}-{d}")
def test_floatx_follows_the_weights_and_is_restored(dtype):
    task = tasks.get("xor")
    params, before = task.init_params(dtype), keras.config.floatx()
    trained, history = impl_keras.train(task, params, steps=3)
    assert impl_keras.forward(task, params, task.data()[0]).dtype == np.dtype(dtype)
    assert {a.dtype for layer in trained for a in layer.values()} == {np.dtype(dtype)}
    assert history["loss"].dtype == np.dtype(dtype)
    assert keras.config.floatx() == before


def test_train_does_not_mutate_its_input():
    task = tasks.get("sine-relu")
    params = task.init_params()
    copy = [{k: v.copy() for k, v in layer.items()} for layer in params]
    impl_keras.train(task, params, steps=5)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(params, copy) for k in a)


# ---- trajectories through model.fit ----


@pytest.mark.parametrize("name, dtype", CASES, ids=ids(CASES))
def test_trajectory_through_fit(name, dtype):
    """fit's per-step loss history and the weights after, against the reference (Keras's forms)."""
    task = tasks.get(name)
    assert_trajectory_parity(impl_keras, task, dtype, reference_task=keras_form(task), name=NAME)


@pytest.mark.parametrize("name, dtype", LR_DROP_CASES, ids=ids(LR_DROP_CASES))
def test_trajectory_with_a_learning_rate_drop(name, dtype):
    """A PiecewiseConstantDecay schedule: Keras's momentum/Adam against the reference's keras form."""
    task = tasks.with_optimizer(tasks.get(name), lr_drops=LR_DROP)
    assert_trajectory_parity(impl_keras, task, dtype, reference_task=keras_form(task), name=NAME)


WINDOWED = ("xor", "sine-relu", "softmax")  # full batch (rows in order), short batches (a generator), Adam


@pytest.mark.parametrize("name", WINDOWED, ids=lambda name: f"{NAME}-{name}")
def test_trajectory_in_windows_of_steps(name):
    """compile(steps_per_execution=7) (one step per execution on torch): the mean loss per sample of
    each 7 steps, 60 steps across windows and fit's executions, and the weights after, as the
    reference's (rosetta.history.windows)."""
    task = tasks.get(name)
    diffs = trajectory_diffs(impl_keras, task, "float64", keras_form(task), steps=60, every=7)
    assert max(diffs.values()) <= tolerances.TRAJECTORY["float64"], diffs


def test_xor_reproduces_the_tutorial():
    """60000 fit steps in float64 print the tutorial's six errors to 12 digits, 500 steps per execution
    (10000 steps and two errors on the torch backend: one step per execution, ~1.5 ms each)."""
    printouts = 2 if keras.backend.backend() == "torch" else 6
    assert xor_errors(impl_keras, printouts) == XOR_PRINTED[:printouts]


def test_adam_epsilon_hat_gap_on_softmax():
    """Keras's Adam (ε̂ = 1e-7 beside √v) against the torch/optax form (ε = 1e-8 beside √v̂): a real
    difference of formula, far outside the tolerance, while the keras form matches (test above)."""
    task = tasks.get("softmax")
    gap = trajectory_diffs(impl_keras, task, "float64")["params"]
    record(NAME, "float64", "adam ε̂ vs torch-form gap", gap)
    assert gap > 1e3 * tolerances.TRAJECTORY["float64"]


def test_history_is_per_step_not_an_epoch_mean():
    """history["loss"] has one loss per step, each the loss before that step's update."""
    task = tasks.get("line")
    params = task.init_params()
    _, history = impl_keras.train(task, params, steps=40)  # 31 batches of 32, one of 8, then 8 more
    x, y = task.data()
    rows = list(task.batches(1))[0]
    first, _ = impl_keras.loss_and_grads(task, params, x[rows], y[rows])
    assert len(history["loss"]) == 40 and history["loss"][0] == pytest.approx(first, rel=1e-14)
    assert len(set(history["loss"].tolist())) == 40


# ---- the check can fail ----


def test_the_check_catches_keras_defaults(monkeypatch):
    """Keras's default LeakyReLU slope (0.3) instead of the task's α is caught."""
    task = tasks.make((3, 4, 2), ("leaky_relu", "linear"), "mse", seed=3)
    monkeypatch.setattr(impl_keras.mlp, "alpha_layers", lambda spec: [keras.layers.LeakyReLU()])
    diffs = forward_diffs(impl_keras, task, off_kink_params(task), "float64")
    assert diffs["forward"] > 1e-3


def test_the_check_catches_shuffled_batches(monkeypatch):
    """fit's default order (shuffled batches) instead of the task's is caught."""
    train = importlib.import_module("impl_keras.train")
    schedule = train._schedule

    class Swapped:  # the task, with steps 2k and 2k + 1 in each other's place
        def __init__(self, task):
            self.task = task

        def __getattr__(self, name):
            return getattr(self.task, name)

        def batches(self, steps):
            rows = self.task.batches(steps)
            return [rows[k ^ 1] for k in range(len(rows))]

    monkeypatch.setattr(train, "_schedule", lambda task, *args: schedule(Swapped(task), *args))
    diffs = trajectory_diffs(impl_keras, tasks.get("sine-relu"), "float64", steps=20)
    assert diffs["loss_history"] > 1e-3


def build_then(change):
    """mlp.build followed by change(model): a wrong weight load, as a broken set_weights would do."""
    real_build = impl_keras.mlp.build

    def build(task, params):
        model = real_build(task, params)
        change(model)
        return model

    return build


def test_the_check_catches_lstm_gate_blocks_out_of_order(monkeypatch):
    """lstm: gate blocks i and f swapped in the kernel, the recurrent kernel and the bias."""
    task = tasks.get("lstm")

    def swap_i_f(model):
        cell = model.layers[0].cell
        for v in (cell.kernel, cell.recurrent_kernel, cell.bias):
            i, f, g, o = np.split(ops.convert_to_numpy(v), 4, axis=-1)
            v.assign(np.concatenate([f, i, g, o], axis=-1))

    monkeypatch.setattr(impl_keras.mlp, "build", build_then(swap_i_f))
    diffs = forward_diffs(impl_keras, task, task.init_params(), "float64")
    assert min(diffs.values()) > 1e-3, diffs


def test_the_check_catches_swapped_gru_bias_rows(monkeypatch):
    """gru: the input and recurrent bias rows b[0], b[1] loaded the wrong way round. The catalog's zero
    biases hide it (forward, gradients and the trajectory all match); random biases do not."""
    task = tasks.get("gru")

    def swap_rows(model):
        bias = model.layers[0].cell.bias
        bias.assign(ops.convert_to_numpy(bias)[::-1])

    monkeypatch.setattr(impl_keras.mlp, "build", build_then(swap_rows))
    hidden = forward_diffs(impl_keras, task, task.init_params(), "float64")
    assert max(hidden.values()) <= tolerances.FORWARD["float64"], hidden
    diffs = forward_diffs(impl_keras, task, off_kink_params(task), "float64")
    assert diffs["forward"] > 1e-3 and diffs["grads"] > 1e-3, diffs
