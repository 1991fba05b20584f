"""Stores what every framework computes on every catalog task, to compare a later version of the code
against (parity_tests/test_before_graph.py).

For every task of `rosetta.tasks.names()`, in float64, from `task.init_params("float64")` and
`task.data()`: the forward output, the loss and every gradient, and a trajectory (the per-step losses
and final weights of `train`), for the NumPy reference, torch, JAX and Keras on each of its three
backends. The reference, torch and JAX train as many steps as test_contract.py's trajectories
(`tolerances.trajectory_steps`, ≤ 200), so that in one pytest run JAX compiles each task's training
scan once for both files; Keras trains KERAS_STEPS steps (its cost is building and compiling the
model, once per call, whatever the steps). Keras fixes its backend at import: each backend runs in a
process of its own (this script started again with --keras-only and KERAS_BACKEND set), and the
parent merges what they store.

Only names that both the code before the graph change and the code after it have are used:
`rosetta.tasks.names/get`, `task.init_params`, `task.data`, `tolerances.trajectory_steps` (rosetta's
then, foundation's since the house move), and each framework's `forward`, `loss_and_grads`, `train`.

The stored file, parity_tests/data/before_graph.npz, comes from commit c197008 (the last commit whose
tasks are all chains), in a worktree of it with this file copied in:

    git worktree add /tmp/before c197008
    cp parity_tests/store_before_graph.py /tmp/before/parity_tests/
    py=$PWD/.venv/bin/python out=$PWD/parity_tests/data/before_graph.npz
    cd /tmp/before && PYTHONPATH=/tmp/before $py -m parity_tests.store_before_graph $out

PYTHONPATH puts the worktree's packages before the venv's editable install of this checkout.
The file names the code it ran (meta/commit, meta/modules) so a run against the wrong tree shows.

Keys: "<framework>/<task>/forward", ".../loss", ".../grads/<layer>/<key>", ".../grads/layers" (the
number of layers, some of them without weights), ".../train/loss", ".../train/params/<layer>/<key>",
".../train/params/layers", ".../train/steps"; the framework is reference, torch, jax,
keras-tensorflow, keras-jax or keras-torch.
"""

import argparse
import importlib
import os
import subprocess
import sys
import tempfile

import numpy as np

DTYPE = "float64"
KERAS_STEPS = 10
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
MODULES = {"reference": "reference_numpy", "torch": "impl_torch", "jax": "impl_jax", "keras": "impl_keras"}


def put_params(out, prefix, params):
    """A canonical list of layers (dicts of arrays, {} for a layer without weights) under `prefix`."""
    out[f"{prefix}/layers"] = np.array(len(params))
    for i, layer in enumerate(params):
        for key, value in layer.items():
            out[f"{prefix}/{i}/{key}"] = np.asarray(value)


def compute(module, task, steps):
    """Forward, loss, gradients and a `steps`-step trajectory of one framework on one task."""
    params = task.init_params(DTYPE)
    x, y = task.data()
    out = {"forward": np.asarray(module.forward(task, params, x))}
    loss, grads = module.loss_and_grads(task, params, x, y)
    out["loss"] = np.asarray(loss, dtype=np.float64)
    put_params(out, "grads", grads)
    trained, history = module.train(task, params, steps, 1)
    out["train/steps"] = np.array(steps)
    out["train/loss"] = np.asarray(history["loss"])
    put_params(out, "train/params", trained)
    return out


def store(frameworks):
    from rosetta import tasks

    try:
        from foundation import tolerances  # since the house move (a31e4a6)
    except ImportError:
        from rosetta import tolerances  # c197008
    out = {}
    for framework in frameworks:
        module = importlib.import_module(MODULES[framework.split("-")[0]])
        for name in tasks.names():
            task = tasks.get(name)
            steps = KERAS_STEPS if framework.startswith("keras") else tolerances.trajectory_steps(task, DTYPE)
            for key, value in compute(module, task, steps).items():
                out[f"{framework}/{name}/{key}"] = value
            print(f"{framework:<17} {name}", flush=True)
    return out


def provenance():
    """The commit (with -dirty if the tree had changes) and the module files the numbers came from."""
    import reference_numpy
    import rosetta

    root = os.path.dirname(os.path.dirname(os.path.abspath(rosetta.__file__)))
    describe = ["git", "describe", "--always", "--dirty", "--abbrev=40"]
    commit = subprocess.run(describe, cwd=root, capture_output=True, text=True)
    return {
        "meta/commit": np.array(commit.stdout.strip()),
        "meta/modules": np.array(f"{rosetta.__file__} {reference_numpy.__file__}"),
    }


def keras_in_a_process(backend):
    """Keras's numbers on `backend`, from a process of their own."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "keras.npz")
        command = [sys.executable, "-m", __spec__.name] if __spec__ else [sys.executable, __file__]
        subprocess.run(
            [*command, "--keras-only", path], env={**os.environ, "KERAS_BACKEND": backend}, check=True
        )
        with np.load(path) as stored:
            return dict(stored)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the .npz to write")
    parser.add_argument("--keras-only", action="store_true", help="Keras on KERAS_BACKEND only")
    args = parser.parse_args(argv)
    if args.keras_only:
        import keras

        out = store([f"keras-{keras.backend.backend()}"])
    else:
        out = {**provenance(), **store(["reference", "torch", "jax"])}
        for backend in KERAS_BACKENDS:
            out.update(keras_in_a_process(backend))
    np.savez_compressed(args.out, **out)
    print(f"{args.out}: {len(out)} arrays, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
