"""The contract every framework keeps with the NumPy reference, written once and run for torch, JAX
and Keras on the backend KERAS_BACKEND selects (the Keras cases run once per backend, each in its own
process): forward, loss and every gradient; training trajectories; the tutorial's xor printout; what
`train` does with its input. Test ids name the framework: [keras-tensorflow-xor-float64].

What only one framework has (its defaults the checks catch, Keras's windows, JAX's kinks) stays in
that framework's own test file."""

import dataclasses
import importlib

import keras
import numpy as np
import pytest
from hypothesis import given, settings

import reference_numpy as ref
from foundation.errors import DivergedError
from parity_tests.harness import assert_forward_parity, assert_trajectory_parity, own_form
from parity_tests.strategies import mlp_tasks, off_kink_params
from parity_tests.test_reference import XOR_PRINTED, xor_errors
from rosetta import tasks

FRAMEWORKS = ["torch", "jax", f"keras-{keras.backend.backend()}"]
DTYPES = ["float64", "float32"]
# each new shape costs JAX and Keras-on-jax a compilation (~0.5–1.5 s): fewer examples there
EXAMPLES = {"torch": 25, "jax": 8}
RANDOM_MLPS = [pytest.param(f, d, id=f"{f}-random-mlp-{d}") for f in FRAMEWORKS for d in DTYPES]
LR_DROP = ((30, 0.001),)  # from step 30 on, lr 0.001: Keras's velocity keeps the old lr's steps


def impl(framework):
    return importlib.import_module("impl_" + framework.split("-")[0])


def cases(names, dtypes=DTYPES):
    return [
        pytest.param(fw, name, dtype, id=f"{fw}-{name}-{dtype}")
        for fw in FRAMEWORKS
        for name in names
        for dtype in dtypes
    ]


# ---- one evaluation: forward, loss and every gradient ----


@pytest.mark.parametrize("fw, name, dtype", cases(tasks.names()))
def test_forward_loss_grads(fw, name, dtype):
    assert_forward_parity(impl(fw), tasks.get(name), dtype, name=fw)


@pytest.mark.parametrize("fw, dtype", RANDOM_MLPS)
def test_forward_loss_grads_random_mlps(fw, dtype):
    """Every activation (Keras's LeakyReLU/ELU with the task's α), loss, bias on/off, L2 on/off; biases
    random and away from each activation's kink."""

    @settings(max_examples=EXAMPLES.get(fw, 5))
    @given(task=mlp_tasks())
    def check(task):
        assert_forward_parity(impl(fw), task, dtype, off_kink_params(task, dtype), name=fw)

    check()


@pytest.mark.parametrize("fw, name, dtype", cases(["cnn", "lstm", "gru"]))
def test_conv_and_recurrent_nets_with_nonzero_biases(fw, name, dtype):
    """The catalog's biases start at 0 (LSTM's forget block at 1), which would hide a bias loaded into
    the wrong place (GRU's input and recurrent rows swapped): random biases everywhere."""
    task = tasks.get(name)
    assert_forward_parity(impl(fw), task, dtype, off_kink_params(task, dtype), name=fw)


# ---- training: per-step losses and final weights ----


def trains_with(task):
    """What a run of the task trains with: its optimizer, loss, batches, L2, and each kind of layer with
    the weights it trains (PReLU's α, a bias or none)."""
    opt, size = task.optimizer, task.batch_size or task.n_samples
    batches = "full" if task.batch_size is None else "short last" if task.n_samples % size else "even"
    layers = {(getattr(layer, "kind", None) or type(layer).__name__, *sorted(weights))
              for layer, weights in zip(task.layers, task.weight_shapes)}  # fmt: skip
    return {(opt.name, opt.momentum > 0, opt.nesterov, opt.weight_decay > 0), task.loss, batches,
            task.l2 > 0, *layers}  # fmt: skip


def covering(names):
    """Fewest tasks (greedy) among `names` that train with everything all of them train with."""
    left, chosen = set().union(*(trains_with(tasks.get(name)) for name in names)), []
    while left:
        chosen.append(max(names, key=lambda name: len(trains_with(tasks.get(name)) & left)))
        left -= trains_with(tasks.get(chosen[-1]))
    return chosen


# Float32 trains each task's weights with the same code as float64, whose trajectories every task runs:
# what float32 adds is per optimizer, loss, batching and layer (each casts its own state and constants),
# and one evaluation of every task is compared in float32 above. Its trajectories: a covering set.
TRAJECTORIES = cases(tasks.names(), ["float64"]) + cases(covering(tasks.names()), ["float32"])


@pytest.mark.parametrize("fw, name, dtype", TRAJECTORIES)
def test_trajectory(fw, name, dtype):
    task = tasks.get(name)
    assert_trajectory_parity(impl(fw), task, dtype, reference_task=own_form(fw, task), name=fw)


@pytest.mark.parametrize("fw, name, dtype", cases(["sine-nesterov", "softmax"]))
def test_trajectory_with_a_learning_rate_drop(fw, name, dtype):
    """torch and optax apply the new lr to the momentum buffer and Adam's moments as the reference's
    torch form; Keras's PiecewiseConstantDecay against the reference's Keras form."""
    task = tasks.with_optimizer(tasks.get(name), lr_drops=LR_DROP)
    assert_trajectory_parity(impl(fw), task, dtype, reference_task=own_form(fw, task), name=fw)


# Keras on torch runs fit one step per execution (its backend refuses more): 10000 steps took 13 s, and
# each of them is the train step test_trajectory holds to the reference, step by step, on every task.
TUTORIAL = [fw for fw in FRAMEWORKS if fw != "keras-torch"]


@pytest.mark.parametrize("fw", TUTORIAL)
def test_xor_reproduces_the_tutorial(fw):
    """10000 steps in float64 print the tutorial's first two errors to 12 digits, the loss read per 500
    steps (Keras: 500 steps per execution). The reference prints all six, over 50000 steps
    (test_reference.py); the other four took torch and Keras ~10 s each and exercise nothing more."""
    assert xor_errors(impl(fw), 2) == XOR_PRINTED[:2]


# ---- the contract around train ----


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_train_leaves_its_input_alone_and_returns_numpy_in_the_weights_dtype(fw):
    task = tasks.get("hard-deep")
    params = task.init_params("float32")
    before = [{key: value.copy() for key, value in layer.items()} for layer in params]
    trained, history = impl(fw).train(task, params, steps=3)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(params, before) for k in a)
    arrays = [v for layer in trained for v in layer.values()]
    assert all(type(v) is np.ndarray and v.dtype == np.float32 and v.flags.writeable for v in arrays)
    assert history["loss"].shape == (3,)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the reference's NumPy overflowing
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_a_diverging_run_names_the_reference_s_first_bad_step(fw):
    task = tasks.with_optimizer(tasks.get("line"), lr=50.0)
    with pytest.raises(DivergedError) as expected:
        ref.train(task, task.init_params(), 100)
    with pytest.raises(DivergedError, match=r"task 'line' diverged: loss is (nan|inf) at step \d+") as got:
        impl(fw).train(task, task.init_params(), 100)
    assert str(got.value).split(" at step ")[1] == str(expected.value).split(" at step ")[1]


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("loss", ["bce_logits", "softmax_ce"])
def test_a_sigmoid_output_under_a_logits_loss_is_the_loss_of_that_output(fw, loss):
    """The loss reads the sigmoid's output as logits, as the reference does: on TensorFlow Keras's
    cross-entropies would read the sigmoid's input instead (docs/divergences.md, logits-path/keras)."""
    task = tasks.make((2, 3, 1 if loss == "bce_logits" else 3), ("tanh", "sigmoid"), loss, seed=1)
    assert_forward_parity(impl(fw), task, "float64", name=fw)
    assert_trajectory_parity(impl(fw), dataclasses.replace(task, epochs=5), "float64", name=fw)
