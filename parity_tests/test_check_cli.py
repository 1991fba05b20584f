"""`rosetta check A B --input X.npy`: files of every kind, exit codes 0/1/2, one-line errors, and a
pickle with a payload that must not run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from foundation import params
from parity_tests.ports import SIZES, build, build_layers, layer_data, save_files, weights
from rosetta import cli

SPEC = json.dumps(
    {"sizes": list(SIZES), "activations": ["leaky_relu", "leaky_relu", "softmax"], "alpha": 0.01}
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same softmax MLP as a .keras archive, a torch state_dict, a Flax msgpack and canonical .npz."""
    import torch
    from flax import nnx, serialization
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("models")
    save_files(d)
    torch.save(build("torch").state_dict(), d / "model.pt")
    pure = nnx.to_pure_dict(nnx.state(build("flax")))
    (d / "model.msgpack").write_bytes(serialization.msgpack_serialize(pure))
    params.save(d / "model.npz", weights())
    params.save(d / "model.safetensors", weights())  # canonical keys: layers.{i}.W
    flat = {
        ".".join(map(str, path)): np.asarray(v) for path, v in nnx.traversals.flatten_mapping(pure).items()
    }
    save_file(flat, d / "flax.safetensors")  # nnx keys: layers.{i}.kernel
    return d


def rosetta(*argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_keras_file_against_torch_state_dict_is_ok_with_json_and_plot(files, capsys):
    plot = files / "check.png"
    code, out, err = rosetta(
        "check",
        files / "model.keras",
        files / "model.pt",
        "--spec-b",
        SPEC,
        "--input",
        files / "x.npy",
        "--json",
        "--plot",
        plot,
        capsys=capsys,
    )
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["first"] is None, err
    assert plot.stat().st_size > 10_000


def test_keras_file_against_a_transposed_state_dict_exits_1_with_the_hint(files, capsys):
    code, out, _ = rosetta(
        "check",
        files / "model.keras",
        files / "transposed.pt",
        "--spec-b",
        SPEC,
        "--input",
        files / "x.npy",
        capsys=capsys,
    )
    assert code == 1 and "FIRST DIVERGENCE: weights at block 1" in out and "hint [transpose] block 1" in out


def test_flax_state_against_canonical_weights_with_loss_and_steps(files, capsys):
    spec = json.loads(SPEC) | {"activations": ["leaky_relu", "leaky_relu", "linear"]}
    flax_spec = json.dumps(spec)
    pure_softmax_free = files / "model.msgpack"  # the state has no activation: the spec decides the head
    code, out, err = rosetta(
        "check",
        pure_softmax_free,
        files / "model.npz",
        "--spec-a",
        flax_spec,
        "--spec-b",
        flax_spec,
        "--input",
        files / "x.npy",
        "--target",
        files / "y.npy",
        "--loss",
        "softmax_ce",
        "--steps",
        "3",
        "--optimizer",
        "adam",
        "--json",
        capsys=capsys,
    )
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and len(doc["steps"]) == 3, err


def test_both_kinds_of_safetensors_are_told_apart_by_their_keys(files, capsys):
    argv = [files / "flax.safetensors", files / "model.safetensors", "--spec-a", SPEC, "--spec-b", SPEC]
    code, out, err = rosetta("check", *argv, "--input", files / "x.npy", "--json", capsys=capsys)
    doc = json.loads(out)
    assert code == 0 and (doc["a"], doc["b"]) == ("flax", "canonical") and doc["ok"], err


def error(files, capsys, *argv):
    code, out, err = rosetta("check", *argv, capsys=capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_files_against_a_keras_file_are_one_line_errors_with_exit_2(files, capsys):
    x = files / "x.npy"
    (files / "truncated.pt").write_bytes((files / "model.pt").read_bytes()[:200])
    (files / "notes.txt").write_text("hello")
    (files / "text.pt").write_text("not a zip")
    assert "truncated.pt" in error(
        files, capsys, files / "model.keras", files / "truncated.pt", "--spec-b", SPEC, "--input", x
    )
    assert "unknown file type" in error(
        files, capsys, files / "notes.txt", files / "model.keras", "--input", x
    )
    assert "text.pt" in error(
        files, capsys, files / "text.pt", files / "model.keras", "--spec-a", SPEC, "--input", x
    )
    assert "no such file" in error(
        files, capsys, files / "missing.keras", files / "model.keras", "--input", x
    )
    assert "no architecture" in error(files, capsys, files / "model.keras", files / "model.pt", "--input", x)


def keras_against_state_dict(files, capsys, spec=SPEC, x="x.npy"):
    """The one-line error of checking model.keras against model.pt described by `spec`."""
    argv = [files / "model.keras", files / "model.pt", "--spec-b", spec, "--input", files / x]
    return error(files, capsys, *argv)


def test_a_description_that_does_not_fit_the_weights_against_keras(files, capsys):
    wrong = json.dumps({"sizes": [5, 8, 7, 3], "activations": ["relu", "relu", "softmax"]})
    assert "size mismatch" in keras_against_state_dict(files, capsys, wrong)
    argv = [files / "model.npz", files / "model.keras", "--spec-a", wrong, "--input", files / "x.npy"]
    assert "expected shape" in error(files, capsys, *argv)


def test_bad_inputs_to_keras_and_torch(files, capsys):
    np.save(files / "wide.npy", np.zeros((4, 6)))
    np.save(files / "nan.npy", np.full((4, 5), np.nan))
    assert "take (N, 5)" in keras_against_state_dict(files, capsys, x="wide.npy")
    assert "NaN" in keras_against_state_dict(files, capsys, x="nan.npy")


class Payload:
    """Unpickling this runs os.system: torch.load(weights_only=True) must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_with_a_payload_is_refused_and_nothing_runs(files, tmp_path):
    import torch

    marker = tmp_path / "payload-ran"
    torch.save({"0.weight": Payload(marker)}, tmp_path / "evil.pt")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rosetta",
            "check",
            str(tmp_path / "evil.pt"),
            str(files / "model.keras"),
            "--spec-a",
            SPEC,
            "--input",
            str(files / "x.npy"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "refused" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not marker.exists()


def test_a_keras_cnn_file_against_torch_state_dicts_with_a_factory(tmp_path, capsys):
    """NHWC x.npy; the torch side is built by parity_tests.ports:torch_cnn and given x as NCHW."""
    import torch

    np.save(tmp_path / "x.npy", layer_data("cnn")[0])
    build_layers("keras", "cnn").save(tmp_path / "cnn.keras")
    torch.save(build_layers("torch", "cnn").state_dict(), tmp_path / "cnn.pt")
    torch.save(build_layers("torch", "cnn", bug="flatten-order").state_dict(), tmp_path / "bad.pt")
    for name, expected in (("cnn.pt", 0), ("bad.pt", 1)):
        argv = ["check", tmp_path / "cnn.keras", tmp_path / name, "--spec-b", "parity_tests.ports:torch_cnn"]
        code, out, err = rosetta(*argv, "--input", tmp_path / "x.npy", "--json", capsys=capsys)
        doc = json.loads(out)
        assert code == expected, err
    assert [h["kind"] for h in doc["hints"]] == ["flatten-order"] and doc["first"]["block"] == 2
