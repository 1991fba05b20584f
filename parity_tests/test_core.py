"""rosetta's core: the catalog, the batch schedule, weight files and the errors users see."""

import dataclasses
import os
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

import reference_numpy as ref
from foundation import history, params
from foundation.errors import (
    ArgumentError,
    DivergedError,
    ParamsError,
    RosettaError,
    UnknownNameError,
    check_history,
)
from rosetta import cli, runner, tasks, timing


def test_unknown_task_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match=r"unknown task 'xorr'; valid tasks: .*perceptron.*xor"):
        tasks.get("xorr")


def test_cli_unknown_task_exits_2_with_the_valid_names(capsys):
    assert cli.main(["compare", "nope"]) == 2
    assert "unknown task 'nope'; valid tasks:" in capsys.readouterr().err


def test_unknown_activation_and_loss_are_named():
    with pytest.raises(UnknownNameError, match="unknown activation 'swish'"):
        tasks.make((2, 2), ("swish",))
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


def test_a_window_of_steps_weighs_each_step_by_its_rows():
    """sine-relu: 1000 rows in batches of 32, so the 32nd step of each epoch has 8 rows. Losses 0…63
    in windows of 32: (32·(0 + … + 30) + 8·31) / 1000 and (32·(32 + … + 62) + 8·63) / 1000."""
    losses = np.arange(64, dtype=np.float64)
    np.testing.assert_allclose(history.windows(tasks.get("sine-relu"), losses, 32), [15.128, 47.128])
    np.testing.assert_allclose(history.windows(tasks.get("xor"), losses[:10], 4), [1.5, 5.5, 8.5])
    assert history.ends(10, 4).tolist() == [3, 7, 9]
    assert [history.every(n) for n in (40, 1000, 60000)] == [1, 40, 500]


def test_a_diverging_window_names_its_steps():
    with pytest.raises(DivergedError, match=r"loss is nan in steps 14 to 20; lower"):
        check_history("xor", [1.0, 2.0, float("nan")], every=7)


# ---- rosetta.timing: the steady state of a run, without its compilation ----


@pytest.fixture
def fake_clock(monkeypatch):
    """timing's clock, which only the fake training runs below move."""
    seconds = [0.0]
    monkeypatch.setattr(timing, "now", lambda: seconds[0])
    return seconds


def test_a_run_timed_whole_is_timed_again_once_compiled(fake_clock):
    compiled = set()

    def train(n):  # JAX: 2 s to compile each new step count, then 3 µs a step
        fake_clock[0] += (0.0 if n in compiled else 2.0) + 3e-6 * n
        compiled.add(n)

    result = timing.steady(train, tasks.get("xor"), short=1)
    assert result["seconds"] / result["steps"] == pytest.approx(3e-6)
    assert result["fixed"] == pytest.approx(2.0) and 0.5 <= result["seconds"] <= 2.0


def recompiling(fake_clock, call, compile_seconds, per_step):
    """train(n) as JAX's: each new step count compiled, then `call` s of overhead and n steps; and the
    step counts it has compiled, in order."""
    compiled = []

    def train(n):
        fake_clock[0] += call + (0.0 if n in compiled else compile_seconds) + per_step * n
        if n not in compiled:
            compiled.append(n)

    return train, compiled


def test_a_recompiling_run_keeps_the_task_s_schedule_and_repeats_it(fake_clock):
    train, compiled = recompiling(fake_clock, call=4e-4, compile_seconds=1.5, per_step=1.4e-4)  # gru
    result = timing.steady(train, tasks.get("gru"), short=8, recompiles=True)
    assert compiled == [tasks.get("gru").steps] and result["steps"] > result["run"]  # one program
    assert result["seconds"] / result["steps"] == pytest.approx(1.4e-4, rel=0.01)
    assert result["fixed"] == pytest.approx(1.5) and timing.TARGET <= result["seconds"] <= 1.2 * timing.TARGET


def test_a_recompiling_run_shorter_than_a_twentieth_of_target_grows_once(fake_clock):
    train, compiled = recompiling(fake_clock, call=5e-4, compile_seconds=0.2, per_step=3e-7)  # perceptron
    result = timing.steady(train, tasks.get("perceptron"), short=8, recompiles=True)
    assert len(compiled) == 2 and compiled[0] == tasks.get("perceptron").steps, compiled
    assert timing.TARGET / 20 <= 3e-7 * result["run"] <= timing.TARGET / 5  # about TARGET/10 a run
    assert result["seconds"] / result["steps"] == pytest.approx(3e-7, rel=0.01)  # the call: ≤ 1 %
    assert result["fixed"] == pytest.approx(0.2) and timing.TARGET <= result["seconds"] <= 1.2 * timing.TARGET


def test_a_recompiling_run_of_given_steps_runs_them_twice(fake_clock):
    train, compiled = recompiling(fake_clock, call=1e-3, compile_seconds=1.5, per_step=1.4e-4)
    result = timing.steady(train, tasks.get("gru"), short=8, steps=50, recompiles=True)
    assert compiled == [50] and result["steps"] == result["run"] == 50
    assert result["seconds"] == pytest.approx(1e-3 + 50 * 1.4e-4) and result["fixed"] == pytest.approx(1.5)


def test_a_clocked_run_is_read_from_its_first_execution_to_its_last(fake_clock):
    def train(n):  # Keras: 1.5 s to trace, then executions of 100 steps at 200 µs a step
        fake_clock[0] += 1.5
        ends = np.minimum(np.arange(100, n + 100, 100), n)
        fake_clock[0] += 2e-4 * n
        return {"clock": np.stack([ends, 2e-4 * ends], axis=1) - [0, 2e-2]}

    result = timing.steady(train, tasks.get("hard-deep"), short=300)
    assert result["seconds"] / result["steps"] == pytest.approx(2e-4)
    assert result["fixed"] == pytest.approx(1.5) and 0.5 <= result["seconds"] <= 2.0


def test_a_clocked_run_over_several_calls_is_read_within_each(fake_clock):
    def train(n):  # Keras: fit calls of 500 steps, each 0.3 s of set-up, then executions of 100 steps
        ends = np.minimum(np.arange(100, n + 100, 100), n)
        calls = (ends - 1) // 500
        fake_clock[0] += 1.5 + 2e-4 * n + 0.3 * (calls[-1] + 1)
        seconds = 2e-4 * ends + 0.3 * calls  # each call's set-up before its first execution
        return {"clock": np.stack([ends, seconds - seconds[0], calls], axis=1)}

    result = timing.steady(train, tasks.get("hard-deep"), short=300)
    assert result["seconds"] / result["steps"] == pytest.approx(2e-4)
    calls = -(-result["run"] // 500)
    assert calls > 2 and result["fixed"] == pytest.approx(1.5 + 0.3 * calls)  # 1.5 s to trace, each set-up


def test_a_run_that_stops_itself_is_built_once_and_stopped_after_a_second(fake_clock):
    calls = []

    def train(n, until=None):  # Keras: 1.5 s to build, then executions of 100 steps at 200 µs a step
        calls.append(n)
        fake_clock[0] += 1.5
        ends = np.minimum(np.arange(100, n + 100, 100), n)
        if until is not None:  # fit stops at the first execution's end `until` s after the first's
            ends = ends[: np.argmax(2e-4 * (ends - ends[0]) >= until) + 1]
        fake_clock[0] += 2e-4 * ends[-1]
        return {"clock": np.stack([ends, 2e-4 * ends], axis=1) - [0, 2e-4 * ends[0]]}

    result = timing.steady(train, tasks.get("hard-deep"), short=300, stops=True)
    assert len(calls) == 1 and calls[0] >= timing.LONG
    assert result["seconds"] / result["steps"] == pytest.approx(2e-4)
    assert result["fixed"] == pytest.approx(1.5) and timing.TARGET <= result["seconds"] <= 1.1 * timing.TARGET
    assert result["run"] == result["steps"] + 100 < calls[0]  # the steps run: again() repeats them


def test_numpy_runs_in_worker_processes_as_every_framework_does(monkeypatch):
    """Two NumPy runs side by side as threads of the parent would wait on each other's GIL: the
    reference's µs per step in `rosetta bench` came out several times its own (softmax 1990 against 530)."""
    monkeypatch.setitem(runner.MODES, "bench", lambda *args: pytest.fail("NumPy was timed in this process"))
    results = runner.run_runs([runner.Run("numpy")], [("xor", 50), ("line", 50)], "float64", "bench")
    assert sorted(results["numpy"]) == ["line", "xor"]
    assert all(result["steps"] >= 50 for result in results["numpy"].values())


def test_a_failed_worker_is_raised_at_once_and_no_other_starts(monkeypatch):
    """The error of a run's second worker used to wait for its first worker's jobs, and every other
    run started and trained meanwhile (`rosetta compare`: minutes after the failure)."""
    started = []

    def run_all(run, jobs, *args):  # a worker without a process: the second fails at once
        started.append(run.label)
        if len(started) == 2:
            raise RosettaError(f"{run.label} failed")
        for _ in runner.taken(jobs):
            time.sleep(0.05)
        return {}

    monkeypatch.setattr(runner, "run_all", run_all)
    runs = [runner.Run("numpy"), runner.Run("torch"), runner.Run("jax"), runner.Run("keras", "torch")]
    jobs = [(name, 10) for name in ["xor", "line", "sine-relu", "softmax"]]
    with pytest.raises(RosettaError, match="keras-torch failed"):
        runner.run_runs(runs, jobs, "float64", "bench", workers=2)
    assert started == ["keras-torch", "keras-torch"]  # the slowest first; nothing after the failure


def test_workers_that_run_alone_start_together_and_their_first_job_waits_for_all():
    """bench's alone phase: six imports and first calls one after another took 15 s, 8 s together."""
    alive = []  # workers alive when each job is done
    runs = [runner.Run("numpy"), runner.Run("numpy")]
    results = runner.run_alone(
        runs, [("xor", 20)], "float64", on_done=lambda _: alive.append(len(runner.LIVE))
    )
    assert alive[0] == 2 and results["numpy"]["xor"]["steps"] >= 20 and not runner.LIVE


def test_a_worker_that_fails_to_start_is_raised_before_any_job_runs_alone():
    done = []
    runs = [runner.Run("numpy"), runner.Run("keras", "no-such-backend")]
    with pytest.raises(RosettaError, match="keras-no-such-backend failed: .*no-such-backend"):
        runner.run_alone(runs, [("xor", 20)], "float64", on_done=done.append)
    assert done == [] and not runner.LIVE


def test_a_library_that_prints_on_stdout_does_not_break_the_workers_protocol(tmp_path, monkeypatch):
    """The parent reads a worker's stdout line by line (READY, then each job done): a print from the
    framework's import (here, a hook on impl_torch's) goes to the worker's stderr."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class Banner:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'impl_torch':\n"
        "            print('a library banner')\n"
        "sys.meta_path.insert(0, Banner())\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    results = runner.run_all(runner.Run("torch"), [("xor", 5), ("line", 5)], "float64")
    assert sorted(results) == ["line", "xor"] and results["xor"]["steps"] == 5


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


# ---- convolutional and recurrent nets (issue 15) ----

NETS = ["cnn", "lstm", "gru"]


def test_shapes_are_inferred_layer_by_layer():
    cnn = tasks.get("cnn")
    assert cnn.input_shape == (8, 8, 1) and cnn.n_out == 3
    assert cnn.layer_shapes == [((8, 8, 1), (8, 8, 4)), ((8, 8, 4), (4, 4, 8)), ((4, 4, 8), (2, 2, 8)),
                                ((2, 2, 8), (32,)), ((32,), (3,))]  # fmt: skip
    assert tasks.get("lstm").layer_shapes == [((10, 1), (8,)), ((8,), (1,))]
    assert tasks.get("gru").input_shape == (6, 1) and tasks.get("xor").input_shape == (3,)
    assert tasks.get("xor").sizes == (3, 4, 1) and tasks.get("xor").n_out == 1


def test_weight_shapes_per_layer_kind():
    assert [{k: v.shape for k, v in layer.items()} for layer in tasks.get("cnn").init_params()] == [
        {"W": (3, 3, 1, 4), "b": (4,)}, {"W": (3, 3, 4, 8), "b": (8,)}, {}, {}, {"W": (32, 3), "b": (3,)}
    ]  # fmt: skip
    lstm, gru = tasks.get("lstm").init_params()[0], tasks.get("gru").init_params()[0]
    assert {k: v.shape for k, v in lstm.items()} == {"W": (1, 32), "U": (8, 32), "b": (32,)}
    assert {k: v.shape for k, v in gru.items()} == {"W": (1, 24), "U": (8, 24), "b": (2, 24)}


def test_sizes_are_for_mlps_only():
    with pytest.raises(ArgumentError, match="task 'cnn': sizes are for all-Dense tasks; use input_shape"):
        print(tasks.get("cnn").sizes)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_weights_start_as_keras_does(name):
    """W glorot uniform over (F, G·u); U orthogonal (Keras's Orthogonal: orthonormal rows when u < G·u);
    the LSTM's forget block of b at 1 (unit_forget_bias), every other bias 0."""
    layer = tasks.get(name).init_params()[0]
    (f, width), u = layer["W"].shape, layer["U"].shape[0]
    assert np.abs(layer["W"]).max() <= np.sqrt(6 / (f + width))
    np.testing.assert_allclose(layer["U"] @ layer["U"].T, np.eye(u), atol=1e-14)
    forget = np.zeros(width)
    if name == "lstm":
        forget[u : 2 * u] = 1.0  # blocks i, f, g, o
    np.testing.assert_array_equal(layer["b"], forget if name == "lstm" else np.zeros((2, width)))


def test_orthogonal_is_keras_qr_with_the_sign_fix():
    """Q of the QR of a (max, min) normal draw with its columns' signs taken from diag(R), as rows
    when the matrix is wide: the same draw gives the same matrix, and Q R reproduces the draw."""
    from foundation import initializers

    u = initializers.orthogonal(np.random.default_rng(3), 4, 12)  # (4, 12): orthonormal rows
    a = np.random.default_rng(3).standard_normal((12, 4))
    q, r = np.linalg.qr(a)
    np.testing.assert_array_equal(u, (q * np.sign(np.diag(r))).T)
    assert np.all(np.diag(u @ a) > 0)  # the sign fix: Qᵀa = R with a positive diagonal


def test_conv_kernels_use_kerass_fans():
    """glorot_uniform over (kh, kw, in, out): fan_in = kh·kw·in, fan_out = kh·kw·out."""
    W = tasks.get("cnn").init_params()[1]["W"]  # (3, 3, 4, 8)
    limit = np.sqrt(6 / (9 * 4 + 9 * 8))
    assert 0.9 * limit < np.abs(W).max() <= limit


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_cnn_and_recurrent_weights_round_trip(tmp_path, name, suffix):
    """Pool2D and Flatten have no keys in the file; loading with the task gives them back as {}."""
    task = tasks.get(name)
    original = task.init_params("float32")
    params.save(tmp_path / f"w{suffix}", original, task)
    loaded = params.load(tmp_path / f"w{suffix}", task)
    assert [layer.keys() for layer in loaded] == [layer.keys() for layer in original]
    for a, b in zip(original, loaded):
        assert all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def test_a_cnn_file_without_its_task_says_to_load_it_with_the_task(tmp_path):
    task = tasks.get("cnn")
    params.save(tmp_path / "w.npz", task.init_params(), task)
    assert "layers.2.W" not in params.to_flat(task.init_params())
    with pytest.raises(
        ParamsError, match=r"got \[0, 1, 4\] \(a model with weightless layers: load it with its task"
    ):
        params.load(tmp_path / "w.npz")


BAD_NET_WEIGHTS = {
    "torch's conv layout": ("cnn", lambda p: p[0].update(W=p[0]["W"].transpose(3, 2, 0, 1)),
                            r"layer 0 \(Conv2D\) 'W': expected shape \(3, 3, 1, 4\), got \(4, 1, 3, 3\)"),
    "weights on a pool": ("cnn", lambda p: p[2].update(W=np.zeros(1)),
                          r"layer 2 \(Pool2D\): expected keys \[\], got \['W'\]"),
    "torch's two LSTM biases": ("lstm", lambda p: p[0].update(b=np.zeros(64)),
                                r"layer 0 \(LSTM\) 'b': expected shape \(32,\), got \(64,\)"),
    "one GRU bias": ("gru", lambda p: p[0].update(b=p[0]["b"][0]),
                     r"layer 0 \(GRU\) 'b': expected shape \(2, 24\), got \(24,\)"),
    "no U": ("gru", lambda p: p[0].pop("U"),
             r"layer 0 \(GRU\): expected keys \['U', 'W', 'b'\], got \['W', 'b'\]"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_NET_WEIGHTS)
def test_bad_cnn_and_recurrent_weights_name_the_layer_kind(case):
    name, change, message = BAD_NET_WEIGHTS[case]
    task = tasks.get(name)
    p = task.init_params()
    change(p)
    with pytest.raises(ParamsError, match=message):
        params.validate(task, p)
