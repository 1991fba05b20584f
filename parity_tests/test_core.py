"""rosetta's core: the catalog, the batch schedule, weight files and the errors users see."""

import dataclasses
from dataclasses import replace

import numpy as np
import pytest

import reference_numpy as ref
from rosetta import cli, params, tasks
from rosetta.errors import ArgumentError, DivergedError, ParamsError, UnknownNameError


def test_unknown_task_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match=r"unknown task 'xorr'; valid tasks: .*perceptron.*xor"):
        tasks.get("xorr")


def test_cli_unknown_task_exits_2_with_the_valid_names(capsys):
    assert cli.main(["compare", "nope"]) == 2
    assert "unknown task 'nope'; valid tasks:" in capsys.readouterr().err


def test_unknown_activation_and_loss_are_named():
    with pytest.raises(UnknownNameError, match="unknown activation 'gelu'"):
        tasks.make((2, 2), ("gelu",))
    with pytest.raises(UnknownNameError, match="unknown loss 'hinge'"):
        tasks.make((2, 2), ("relu",), loss="hinge")


@pytest.mark.parametrize("name", tasks.names())
def test_catalog_weights_match_the_model(name):
    task = tasks.get(name)
    for dtype in ("float64", "float32"):
        assert params.validate(task, task.init_params(dtype)) == np.dtype(dtype)


def test_minibatches_cover_each_epoch_once_in_a_seeded_order():
    task = tasks.get("line")  # 1000 rows in batches of 32: 31 full batches and one of 8
    batches = list(task.batches())
    assert len(batches) == task.steps == 100 * 32
    epoch0, epoch1 = batches[:32], batches[32:64]
    assert [len(b) for b in epoch0] == [32] * 31 + [8]
    assert sorted(np.concatenate(epoch0)) == list(range(1000))
    assert not np.array_equal(np.concatenate(epoch0), np.concatenate(epoch1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, task.batches()))


def test_full_batch_selects_every_row():
    assert list(tasks.get("xor").batches(3)) == [slice(None)] * 3


def test_legacy_init_replays_numpys_global_rng():
    np.random.seed(1)
    w1, w2 = 2 * np.random.random((3, 4)) - 1, 2 * np.random.random((4, 1)) - 1
    p = tasks.get("xor").init_params()
    assert np.array_equal(p[0]["W"], w1) and np.array_equal(p[1]["W"], w2)


def test_he_normal_is_truncated_at_two_sigma():
    task = tasks.make((400, 300), ("tanh",))
    w = replace(task, init="he_normal").init_params()[0]["W"]
    sigma = np.sqrt(2 / 400) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * sigma
    assert abs(w.std() / np.sqrt(2 / 400) - 1) < 0.01  # the rescaled σ keeps the target variance


# ---- weight files ----


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weight_files_round_trip_bit_exactly(tmp_path, suffix, dtype):
    task = tasks.get("hard-deep")
    original = task.init_params(dtype)
    params.save(tmp_path / f"w{suffix}", original, task)
    loaded = params.load(tmp_path / f"w{suffix}", task)
    for a, b in zip(original, loaded):
        assert a.keys() == b.keys()
        assert all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def broken(change):
    p = tasks.get("xor").init_params()
    change(p)
    return p


@pytest.mark.parametrize(
    "bad, message",
    [
        (broken(lambda p: p[1].update(W=p[1]["W"].T)), r"layer 1 'W': expected shape \(4, 1\), got \(1, 4\)"),
        (
            broken(lambda p: p[0].update(W=p[0]["W"].astype(np.float16))),
            "layer 0 'W': expected dtype float64 or",
        ),
        (
            broken(lambda p: p[1].update(W=p[1]["W"].astype(np.float32))),
            "layer 1 'W': expected dtype float64, got",
        ),
        (broken(lambda p: p.pop()), "task 'xor' has 2 layers, weights have 1"),
        (broken(lambda p: p[1]["W"].__setitem__((2, 0), np.nan)), "layer 1 'W': contains NaN or Inf"),
        (broken(lambda p: p[0].update(b=np.zeros(4))), r"layer 0: expected keys \['W'\], got \['W', 'b'\]"),
    ],
)
def test_bad_weights_name_the_layer_and_the_mismatch(tmp_path, bad, message):
    with pytest.raises(ParamsError, match=message):
        params.validate(tasks.get("xor"), bad)
    with pytest.raises(ParamsError, match=message):
        params.save(tmp_path / "w.npz", bad, tasks.get("xor"))
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_loading_checks_the_file(tmp_path):
    task = tasks.get("xor")
    with pytest.raises(ParamsError, match="does not exist"):
        params.load(tmp_path / "missing.npz", task)
    with pytest.raises(ParamsError, match="expected a .safetensors or .npz file"):
        params.load(tmp_path / "w.pt", task)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ParamsError, match="is not a readable .safetensors file"):
        params.load(tmp_path / "junk.safetensors", task)
    np.savez(tmp_path / "odd.npz", **{"layer0.W": np.zeros((3, 4))})
    with pytest.raises(ParamsError, match="unexpected key 'layer0.W'"):
        params.load(tmp_path / "odd.npz", task)
    params.save(tmp_path / "small.npz", tasks.get("perceptron").init_params())
    with pytest.raises(ParamsError, match="task 'xor' has 2 layers, weights have 1"):
        params.load(tmp_path / "small.npz", task)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_diverging_run_names_the_step():
    task = tasks.with_optimizer(tasks.get("line"), lr=10.0)
    with pytest.raises(DivergedError, match=r"task 'line' diverged: loss is (inf|nan) at step \d+"):
        ref.train(task, task.init_params())


# ---- PReLU's α in the canonical weights and the weight files (issue 14) ----


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_prelu_alpha_starts_at_the_tasks_value_per_unit(dtype):
    alpha = tasks.get("sine-prelu").init_params(dtype)[0]["alpha"]
    assert alpha.shape == (20,) and alpha.dtype == np.dtype(dtype) and np.all(alpha == np.float32(0.25))


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_prelu_alpha_round_trips_as_layers_i_alpha(tmp_path, suffix):
    task = tasks.get("sine-prelu")
    original = task.init_params()
    params.save(tmp_path / f"w{suffix}", original, task)
    assert "layers.0.alpha" in params.to_flat(original)
    loaded = params.load(tmp_path / f"w{suffix}", task)
    assert np.array_equal(loaded[0]["alpha"], original[0]["alpha"]) and "alpha" not in loaded[1]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p[0].pop("alpha"), r"layer 0: expected keys \['W', 'alpha', 'b'\], got \['W', 'b'\]"),
        (lambda p: p[0].update(alpha=np.zeros(1)), r"layer 0 'alpha': expected shape \(20,\), got \(1,\)"),
    ],
    ids=["missing", "shared"],
)
def test_bad_prelu_alpha_is_named(change, message):
    task = tasks.get("sine-prelu")
    p = task.init_params()
    change(p)
    with pytest.raises(ParamsError, match=message):
        params.validate(task, p)


def test_binary_and_multitask_metrics_read_the_right_columns():
    binary = tasks.get("moons")
    assert (
        binary.evaluate(np.array([[-0.1], [0.2]]), np.array([[0.0], [1.0]])) == 1.0
    )  # logits: class 1 above 0
    multi = tasks.get("multitask")  # 2 regression columns, then 3 class logits
    out = np.array([[9.0, 9.0, 0.0, 1.0, 0.0]])
    assert multi.evaluate(out, np.array([[0.0, 0.0, 0.0, 1.0, 0.0]])) == 1.0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"n_regression": 0}, r"n_regression: expected a whole number from 1 to 3, got 0"),
        ({"n_regression": 4}, r"n_regression: expected a whole number from 1 to 3, got 4"),
        ({"loss_weights": (1.0,)}, r"loss_weights: expected \(w1, w2\), got \(1.0,\)"),
        ({"loss_weights": (1.0, -1.0)}, r"loss_weights: expected a finite number ≥ 0, got -1.0"),
    ],
)
def test_multitask_settings_are_checked(changes, message):
    task = tasks.make((2, 3, 5), ("tanh", "linear"), "multitask", n_regression=2)
    with pytest.raises(ArgumentError, match=message):
        dataclasses.replace(task, **changes)
