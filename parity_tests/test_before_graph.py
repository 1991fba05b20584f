"""Every task of the catalog before graph models came gives what it gave then: the reference's forward
output, loss, every gradient and trajectory, against numbers stored from that code.

The numbers (parity_tests/data/before_graph.npz) were computed at commit c197008, the last commit whose
tasks are all chains, on the 20 tasks of its catalog, in float64, by parity_tests/store_before_graph.py
run in a worktree of that commit (its docstring has the commands):

    cd /tmp/before && PYTHONPATH=/tmp/before python -m parity_tests.store_before_graph before_graph.npz

The file holds every framework's numbers (torch, JAX, Keras on each backend); only the reference's
are compared. Each framework is held to the reference by test_contract.py, on the same tasks with the
same tolerances, so it gives what it gave then within twice them; comparing its own numbers here too
repeated that at ~45 s of the suite (JAX's compilations, Keras's builds) and found nothing the two
comparisons do not. Trajectories: test_contract.py's number of steps (≤ 200).

On the machine that stored them, the code after the graph change and the house move (d131965) gave
the same bits in every framework and on every Keras backend: every difference 0.0. The test does not
ask for bits: on another CPU (CI's) the same code rounds differently (other BLAS kernels, other vector
widths, oneDNN's choices), by rounding-level amounts of the order of two frameworks' differences on
one machine. So the comparison uses the parity tolerances of foundation/tolerances.py, float64's
FORWARD for one evaluation and TRAJECTORY for training; a changed formula, a weight in the wrong place
or a dropped term shows at order 1, far above both. Each comparison records its worst relative
difference (the run's summary lists them as "before-graph ...").
"""

import pathlib
import re

import numpy as np
import pytest

import reference_numpy as ref
from foundation import tolerances
from foundation.tolerances import rel_diff, rel_diff_params
from parity_tests.harness import record
from rosetta import tasks

DATA = pathlib.Path(__file__).parent / "data" / "before_graph.npz"
DTYPE = "float64"
STORED_FRAMEWORKS = ["reference", "torch", "jax", "keras-tensorflow", "keras-jax", "keras-torch"]

with np.load(DATA) as stored_file:
    STORED = dict(stored_file)
TASKS = list(dict.fromkeys(key.split("/")[1] for key in STORED if key.startswith("reference/")))


def stored_params(prefix):
    """The canonical list of layers stored under `prefix` ({} for a layer without weights)."""
    layers = [{} for _ in range(int(STORED[prefix + "/layers"]))]
    for key, value in STORED.items():
        match = re.fullmatch(re.escape(prefix) + r"/(\d+)/([^/]+)", key)
        if match:
            layers[int(match[1])][match[2]] = value
    return layers


def assert_same_layout(got, stored, what):
    """The same layers, the same keys in each, the same shapes."""
    got_layout = [{key: np.shape(value) for key, value in layer.items()} for layer in got]
    stored_layout = [{key: value.shape for key, value in layer.items()} for layer in stored]
    assert got_layout == stored_layout, f"{what}: layout now {got_layout}, before {stored_layout}"


def test_the_stored_numbers_cover_the_old_catalog_in_every_framework():
    assert str(STORED["meta/commit"]) == "c197008d07a4ea7f3c9c73836756514a41c707b7"  # not -dirty
    assert len(TASKS) == 20 and {"xor", "cnn", "lstm", "gru"} <= set(TASKS)
    for fw in STORED_FRAMEWORKS:
        assert [name for name in TASKS if f"{fw}/{name}/forward" in STORED] == TASKS, fw
        assert all(f"{fw}/{name}/train/loss" in STORED for name in TASKS), fw


@pytest.mark.parametrize("name", TASKS)
def test_forward_loss_grads_as_before(name):
    task, key = tasks.get(name), f"reference/{name}"
    params = task.init_params(DTYPE)
    x, y = task.data()
    out = ref.forward(task, params, x)
    loss, grads = ref.loss_and_grads(task, params, x, y)
    before = stored_params(key + "/grads")
    assert out.shape == STORED[key + "/forward"].shape, (out.shape, STORED[key + "/forward"].shape)
    assert_same_layout(grads, before, "gradients")
    diffs = {
        "forward": rel_diff(out, STORED[key + "/forward"], DTYPE),
        "loss": rel_diff(loss, STORED[key + "/loss"], DTYPE),
        "grads": rel_diff_params(grads, before, DTYPE),
    }
    for check, value in diffs.items():
        record("reference", DTYPE, "before-graph " + check, value)
    assert max(diffs.values()) <= tolerances.FORWARD[DTYPE], diffs


@pytest.mark.parametrize("name", TASKS)
def test_trajectory_as_before(name):
    task, key = tasks.get(name), f"reference/{name}/train"
    steps = int(STORED[key + "/steps"])
    trained, history = ref.train(task, task.init_params(DTYPE), steps, 1)
    before = stored_params(key + "/params")
    assert np.shape(history["loss"]) == (steps,), np.shape(history["loss"])
    assert_same_layout(trained, before, "trained weights")
    diffs = {
        "loss history": rel_diff(history["loss"], STORED[key + "/loss"], DTYPE),
        "params": rel_diff_params(trained, before, DTYPE),
    }
    record("reference", DTYPE, "before-graph trajectory", max(diffs.values()))
    assert max(diffs.values()) <= tolerances.TRAJECTORY[DTYPE], diffs
