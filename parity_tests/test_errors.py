"""Bad input: a clear error naming what was wrong, never a silently wrong number, a traceback or a
half-written folder (docs/errors.md). Numbers in the comments are the defects of issue 11."""

import importlib.util
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from foundation import frameworks, params
from foundation.errors import ArgumentError, ParamsError, UnknownNameError
from foundation.validate import MAX_STEPS
from rosetta import cli, runner, tasks

ROOT = Path(__file__).resolve().parents[1]
XOR, SOFTMAX = tasks.get("xor"), tasks.get("softmax")
TRAIN = ["compare", "xor", "-f", "numpy", "--steps", "5"]


def rosetta(*argv, env=None, cwd=ROOT):
    """The command in a fresh process, as a user runs it: (exit code, stdout, stderr)."""
    env = {k: v for k, v in dict(os.environ, **(env or {})).items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [sys.executable, "-m", "rosetta", *argv], capture_output=True, text=True, env=env, cwd=cwd
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(code, err, expected_code=2):
    assert code == expected_code and err.count("\n") == 1 and err.startswith("rosetta: error: "), err
    return err


@pytest.fixture
def no_training(monkeypatch):
    """Any training fails the test: the checks under test must come before it."""

    def train(*args, **kwargs):
        raise AssertionError("training started before the output locations were checked")

    monkeypatch.setattr(runner, "run_all", train)
    monkeypatch.setattr(runner, "run_task", train)


# ---- 1, 2: --out on another filesystem, and all or nothing ----


def test_out_through_a_symlink_to_another_filesystem(tmp_path):
    target = Path("/dev/shm") / f"rosetta-test-{os.getpid()}"
    (tmp_path / "plots").symlink_to(target)
    assert os.stat("/dev/shm").st_dev != os.stat(tmp_path).st_dev  # a real second filesystem
    try:
        code, out, err = rosetta(*TRAIN, "--out", str(tmp_path / "plots"))
        assert code == 0, err
        assert sorted(p.name for p in target.iterdir()) == ["xor-boundary.png", "xor-loss.png"]
    finally:
        subprocess.run(["rm", "-rf", str(target)], check=True)


def in_private_mount_namespace(script, tmp_path):
    """`script` (sh) as root in a mount namespace of its own: its mounts vanish with it."""
    env = dict(os.environ, PY=sys.executable, T=str(tmp_path))
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, cwd=ROOT
    )
    return proc.stdout


def test_out_on_a_mount_point(tmp_path):
    (tmp_path / "mnt").mkdir()
    script = (
        'mount -t tmpfs tmpfs "$T/mnt" && "$PY" -m rosetta compare xor -f numpy --steps 5 --out "$T/mnt" '
    )
    out = in_private_mount_namespace(script + '>/dev/null; echo "exit $?"; ls -a "$T/mnt"', tmp_path)
    assert out.split() == ["exit", "0", ".", "..", "xor-boundary.png", "xor-loss.png"]


def test_a_folder_named_like_a_plot_leaves_out_untouched(tmp_path, no_training, capsys):
    (tmp_path / "xor-boundary.png").mkdir()
    (tmp_path / "xor-loss.png").write_text("old")
    assert cli.main([*TRAIN, "--out", str(tmp_path)]) == 2
    assert "'xor-boundary.png' there is a folder, not a file" in capsys.readouterr().err
    assert (tmp_path / "xor-loss.png").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xor-boundary.png", "xor-loss.png"]


# ---- 3, 4: every output location checked before training; saved weights honour the umask ----


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["run", "xor", "--save", "{t}/missing/w.npz"],
            "--save '{t}/missing/w.npz': '{t}/missing' does not exist",
        ),
        (["run", "xor", "--save", "{t}/folder.npz"], "--save '{t}/folder.npz' is a folder"),
        (["run", "xor", "--save", "{t}/file/w.npz"], "--save '{t}/file/w.npz': '{t}/file' is not a folder"),
        (
            ["run", "xor", "--save", "{t}/w.txt"],
            "weight file '{t}/w.txt': expected a .safetensors or .npz file",
        ),
        ([*TRAIN, "--out", "{t}/file"], "--out '{t}/file' exists and is not a folder"),
        ([*TRAIN, "--out", "{t}/file/x"], "--out '{t}/file/x': '{t}/file' is not a folder"),
        ([*TRAIN, "--out", ""], "--out '' names no folder; give one, e.g. --out ."),
    ],
)
def test_output_locations_are_checked_before_training(tmp_path, no_training, capsys, argv, message):
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "file").write_text("keep")
    assert cli.main([a.format(t=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err == f"rosetta: error: {message.format(t=tmp_path)}\n"
    assert (tmp_path / "file").read_text() == "keep"


def test_read_only_and_full_filesystems(tmp_path):
    for name in ("ro", "full"):
        (tmp_path / name).mkdir()
    script = """
    mount -t tmpfs -o ro tmpfs "$T/ro" && mount -t tmpfs -o size=64k tmpfs "$T/full" || exit 9
    dd if=/dev/zero of="$T/full/filler" bs=4k 2>/dev/null
    "$PY" -m rosetta run xor --steps 2 --save "$T/ro/w.npz" 2>&1; echo "exit $?"
    "$PY" -m rosetta compare xor -f numpy --steps 2 --out "$T/ro/plots" 2>&1; echo "exit $?"
    "$PY" -m rosetta run xor --steps 2 --save "$T/full/w.npz" 2>&1; echo "exit $?"
    ls -a "$T/full"
    """
    lines = in_private_mount_namespace(script, tmp_path).splitlines()
    ro = f"'{tmp_path}/ro' is not writable (Read-only file system)"
    assert lines[:4] == [
        f"rosetta: error: --save '{tmp_path}/ro/w.npz': {ro}",
        "exit 2",
        f"rosetta: error: --out '{tmp_path}/ro/plots': {ro}",
        "exit 2",
    ]
    assert lines[4].startswith("rosetta: error: [Errno 28] No space left on device") and lines[5] == "exit 1"
    assert lines[6:] == [".", "..", "filler"]  # no temporary file left behind


def test_saved_weights_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        params.save(tmp_path / "w.npz", XOR.init_params(), XOR)
        params.save(tmp_path / "w.safetensors", XOR.init_params(), XOR)
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o640}


# ---- 5-8: the Python API, the same error in every framework ----


def layers(change):
    p = XOR.init_params()
    change(p)
    return p


P, (X, Y) = XOR.init_params(), XOR.data()
PS, (XS, YS) = SOFTMAX.init_params(), SOFTMAX.data()
CNN, LSTM = tasks.get("cnn"), tasks.get("lstm")
PC, (XC, _) = CNN.init_params(), CNN.data()
PL, (XL, _) = LSTM.init_params(), LSTM.data()
BAD_CALLS = {
    "one layer": (
        lambda fw: fw.forward(XOR, P[:1], X),
        ParamsError,
        "task 'xor' has 2 layers, weights have 1",
    ),
    "extra layer": (
        lambda fw: fw.forward(XOR, P + P[-1:], X),
        ParamsError,
        "task 'xor' has 2 layers, weights have 3",
    ),
    "bias on a bias-free layer": (
        lambda fw: fw.forward(XOR, layers(lambda p: p[0].update(b=np.zeros(4))), X),
        ParamsError,
        "layer 0: expected keys ['W'], got ['W', 'b']",
    ),
    "integer weights": (
        lambda fw: fw.forward(XOR, [{"W": (layer["W"] * 9).astype(int)} for layer in P], X),
        ParamsError,
        "layer 0 'W': expected dtype float64 or float32, got int64",
    ),
    "float16 weights": (
        lambda fw: fw.loss_and_grads(XOR, [{"W": layer["W"].astype(np.float16)} for layer in P], X, Y),
        ParamsError,
        "layer 0 'W': expected dtype float64 or float32, got float16",
    ),
    "weights not a dict": (
        lambda fw: fw.forward(XOR, [P[0], "W"], X),
        ParamsError,
        "layer 1: expected keys ['W'], got str",
    ),
    "targets (N,) for (N, 1)": (
        lambda fw: fw.loss_and_grads(XOR, P, X, Y.ravel()),
        ArgumentError,
        "y: expected half_sse targets of shape (4, 1) like the output, got float64 (4,)",
    ),
    "inputs of the wrong width": (
        lambda fw: fw.forward(XOR, P, X[:, :2]),
        ArgumentError,
        "x: expected shape (N, 3) for task 'xor', got (4, 2)",
    ),
    "NaN inputs": (lambda fw: fw.forward(XOR, P, X * np.nan), ArgumentError, "x: contains NaN or Inf"),
    "empty batch": (
        lambda fw: fw.loss_and_grads(XOR, P, X[:0], Y[:0]),
        ArgumentError,
        "x: an empty batch (0 rows); need at least one row",
    ),
    "label 5 of 3 classes": (
        lambda fw: fw.loss_and_grads(SOFTMAX, PS, XS, np.r_[YS[:-1], 5]),
        ArgumentError,
        "y: class labels must be in [0, 3), got 0 to 5",
    ),
    "label -1": (
        lambda fw: fw.loss_and_grads(SOFTMAX, PS, XS, np.r_[-1, YS[1:]]),
        ArgumentError,
        "y: class labels must be in [0, 3), got -1 to 2",
    ),
    "float labels": (
        lambda fw: fw.loss_and_grads(SOFTMAX, PS, XS, YS.astype(float)),
        ArgumentError,
        "y: softmax_ce expects integer class labels of shape (300,), got float64 (300,)",
    ),
    "steps -1": (
        lambda fw: fw.train(XOR, P, -1),
        ArgumentError,
        f"steps: expected a whole number from 1 to {MAX_STEPS:,}, got -1",
    ),
    "steps 2.5": (lambda fw: fw.train(XOR, P, 2.5), ArgumentError, "got 2.5"),
    "steps 10¹²": (lambda fw: fw.train(XOR, P, 10**12), ArgumentError, "got 1000000000000"),
    "a task that is not one": (
        lambda fw: fw.forward("xor", P, X),
        ArgumentError,
        "task: expected a rosetta.tasks.Task",
    ),
    "NCHW images for an NHWC net": (
        lambda fw: fw.forward(CNN, PC, XC.transpose(0, 3, 1, 2)),
        ArgumentError,
        "x: expected shape (N, 8, 8, 1) for task 'cnn', got (90, 1, 8, 8)",
    ),
    "a sequence without its feature axis": (
        lambda fw: fw.forward(LSTM, PL, XL[..., 0]),
        ArgumentError,
        "x: expected shape (N, 10, 1) for task 'lstm', got (200, 10)",
    ),
    "no {} for the pool and the flatten": (
        lambda fw: fw.forward(CNN, PC[:2] + PC[4:], XC),
        ParamsError,
        "task 'cnn' has 5 layers, weights have 3",
    ),
}


@pytest.mark.parametrize("case", BAD_CALLS)
@pytest.mark.parametrize("framework", ["numpy", "torch", "jax", "keras"])
def test_bad_api_calls_fail_alike_in_every_framework(framework, case):
    call, error, message = BAD_CALLS[case]
    with pytest.raises(error) as info:
        call(frameworks.load(framework))
    assert message in str(info.value)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: tasks.with_optimizer(XOR, lr=-1.0), "optimizer lr: expected a finite number > 0, got -1.0"),
        (
            lambda: tasks.with_optimizer(XOR, lr="fast"),
            "optimizer lr: expected a finite number > 0, got 'fast'",
        ),
        (
            lambda: tasks.with_optimizer(SOFTMAX, beta1=5),
            "optimizer beta1: expected a number in [0, 1), got 5",
        ),
        (
            lambda: tasks.with_optimizer(XOR, momentum=-0.9),
            "optimizer momentum: expected a finite number ≥ 0",
        ),
        (lambda: tasks.with_optimizer(XOR, nesterov=True), "optimizer nesterov: needs a momentum > 0"),
        (lambda: tasks.make((2, 3, 1), ["relu", "linear"], n=0), "n: expected a whole number ≥ 1, got 0"),
        (lambda: tasks.make((2, 0, 1), ["relu", "linear"]), "sizes: expected a whole number ≥ 1, got 0"),
        (lambda: tasks.make((2, -3, 1), ["relu", "linear"]), "sizes: expected a whole number ≥ 1, got -3"),
        (lambda: tasks.make((), []), "sizes: expected (n_in, ..., n_out), at least 2 numbers, got ()"),
        (
            lambda: tasks.make((2, 1), ["linear"], batch_size=0),
            "batch_size: expected a whole number ≥ 1, got 0",
        ),
        (lambda: tasks.make((2, 1), ["linear"], epochs=0), "epochs: expected a whole number ≥ 1, got 0"),
        (
            lambda: tasks.make((2, 1), ["linear"], loss="softmax_ce"),
            "softmax_ce needs at least 2 outputs (classes), the last layer has 1",
        ),
    ],
)
def test_bad_task_and_optimizer_settings_are_named(make, message):
    with pytest.raises(ArgumentError) as info:
        make()
    assert message in str(info.value)


def net(n_in, *layers, **settings):
    """A task with these layers (the data is never drawn)."""
    return tasks.Task("net", "a stack", n_in, layers, "mse", tasks.Optimizer(), lambda: None, **settings)


DENSE, CONV, FLAT = tasks.Layer(2), tasks.Conv2D(4), tasks.Flatten()


CONV_REPR = "Conv2D(filters=4, kernel=3, stride=1, padding='valid', activation='relu', alpha=0.0)"
BAD_STACKS = {
    "Dense on images": (
        lambda: net((8, 8, 1), DENSE),
        "layer 0 Layer(units=2, activation='linear', bias=True, alpha=0.0): a Dense layer takes a flat "
        "input (features,), got (8, 8, 1); put a Flatten() before it",
    ),
    "Conv2D on a sequence": (
        lambda: net((10, 1), CONV, FLAT, DENSE),
        f"layer 0 {CONV_REPR}: Conv2D takes images (H, W, C), got input shape (10, 1)",
    ),
    "Pool2D on features": (
        lambda: net(5, tasks.Pool2D(), DENSE),
        "layer 0 Pool2D(size=2, kind='max'): Pool2D takes images (H, W, C), got input shape (5,)",
    ),
    "Flatten on features": (
        lambda: net(5, FLAT, DENSE),
        "layer 0 Flatten(): Flatten takes images (H, W, C) or sequences (T, C), got (5,)",
    ),
    "LSTM after a conv": (
        lambda: net((8, 8, 1), CONV, FLAT, tasks.LSTM(4), DENSE),
        "layer 2 LSTM(units=4): a recurrent layer must read the input sequence (T, F), 'x'",
    ),
    "GRU on images": (
        lambda: net((6, 6, 1), tasks.GRU(3), DENSE),
        "layer 0 GRU(units=3): GRU takes sequences (T, F), got input shape (6, 6, 1)",
    ),
    "a Flatten head": (
        lambda: net((8, 8, 1), CONV, FLAT),
        "the last layer (the head) must be a Dense rosetta.tasks.Layer (or, with the mse loss, a Conv2D or "
        "Conv2DTranspose), got Flatten()",
    ),
    "an LSTM head": (lambda: net((10, 1), tasks.LSTM(4)), "the last layer (the head) must be a Dense"),
    "l2 with a conv": (
        lambda: net((8, 8, 1), CONV, FLAT, DENSE, l2=0.01),
        f"l2: the L2 penalty is for Dense layers only; set l2=0 or drop layer 0 {CONV_REPR}",
    ),
    "prelu on a conv": (
        lambda: tasks.Conv2D(4, activation="prelu"),
        "Conv2D activation 'prelu': a learned α per unit is for Dense layers only; expected one of linear, "
        "relu, leaky_relu, elu, sigmoid, tanh",
    ),
    "kernel wider than the image": (
        lambda: net((3, 3, 1), tasks.Conv2D(2, 5), FLAT, DENSE),
        "layer 0 Conv2D(filters=2, kernel=5, stride=1, padding='valid', activation='relu', alpha=0.0): "
        "a 5-wide window with 'valid' padding does not fit in size 3",
    ),
    "pool wider than the image": (
        lambda: net((3, 3, 1), tasks.Pool2D(4), FLAT, DENSE),
        "layer 0 Pool2D(size=4, kind='max'): a 4-wide window with 'valid' padding does not fit in size 3",
    ),
    "n_in of four axes": (
        lambda: net((8, 8, 1, 1), FLAT, DENSE),
        "n_in: expected features, (T,) for token ids, (T, F) for sequences or (H, W, C) for images, "
        "got (8, 8, 1, 1)",
    ),
    "n_in with a 0": (lambda: net((8, 0, 1), FLAT, DENSE), "n_in: expected a whole number ≥ 1, got 0"),
    "a string as a layer": (
        lambda: net(3, DENSE, "relu"),
        "layer 1: expected a rosetta.tasks Layer, Conv2D, Conv2DTranspose, Pool2D, GlobalAveragePooling2D, "
        "Flatten, BatchNorm, Activation, LSTM, GRU, Bidirectional, Add, Concatenate, Embedding, "
        "PositionEmbedding, LayerNorm, MultiHeadAttention, TiedOutput, got 'relu'",
    ),
    "0 filters": (lambda: tasks.Conv2D(0), "Conv2D filters: expected a whole number ≥ 1, got 0"),
    "stride 1.5": (
        lambda: tasks.Conv2D(4, stride=1.5),
        "Conv2D stride: expected a whole number ≥ 1, got 1.5",
    ),
    "pool size 0": (lambda: tasks.Pool2D(0), "Pool2D size: expected a whole number ≥ 1, got 0"),
    "0 LSTM units": (lambda: tasks.LSTM(0), "LSTM units: expected a whole number ≥ 1, got 0"),
    "True GRU units": (lambda: tasks.GRU(True), "GRU units: expected a whole number ≥ 1, got True"),
}


@pytest.mark.parametrize("case", BAD_STACKS)
def test_stacks_that_cannot_work_are_refused_naming_the_layer(case):
    make, message = BAD_STACKS[case]
    with pytest.raises(ArgumentError) as info:
        make()
    assert message in str(info.value)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: tasks.Pool2D(kind="min"), "unknown pooling kind 'min'; valid pooling kinds: avg, max"),
        (lambda: tasks.Conv2D(4, padding="full"), "unknown padding 'full'; valid paddings: same, valid"),
        (lambda: tasks.Conv2D(4, activation="swish"), "unknown activation 'swish'; valid activations: elu,"),
    ],
)
def test_unknown_layer_settings_list_the_valid_ones(make, message):
    with pytest.raises(UnknownNameError) as info:
        make()
    assert message in str(info.value)


def test_unknown_loss_lists_the_valid_losses():
    with pytest.raises(UnknownNameError, match="unknown loss 'l1'; valid losses: bce_logits, "):
        tasks.make((2, 1), ["linear"], loss="l1")


def test_valid_calls_still_agree():
    """The validation changes no number: every framework's loss on xor is the reference's."""
    losses = [
        frameworks.load(f).loss_and_grads(XOR, P, X.astype(int), Y)[0] for f in ("numpy", "torch", "jax")
    ]
    assert losses == pytest.approx([0.4951865354020256] * 3, rel=1e-12)


# ---- 9: workers die with their parent ----


def processes():
    """{pid: (parent pid, command line)} of the live (not zombie) processes, from /proc."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), cmdline)
    return found


def wait_for(condition, what, deadline=300):
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.1)


def start_compare(tmp_path):
    """`rosetta compare` with a torch run of about a minute, still running when the signal comes even on
    a loaded machine, and SIGINT handled as in a terminal (a shell's background job starts with it
    ignored); (the process, its worker's pid, its TMPDIR)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    argv = [sys.executable, "-m", "rosetta", "compare", "perceptron", "-f", "torch", "--steps", "200000"]
    env = dict(os.environ, TMPDIR=str(temp))
    proc = subprocess.Popen(
        [*argv, "--out", str(tmp_path / "out")],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def worker():
        return [
            pid for pid, (ppid, cmd) in processes().items() if ppid == proc.pid and "rosetta.runner" in cmd
        ]

    wait_for(lambda: worker() and any(temp.glob("rosetta-*")), "the worker to start")
    return proc, worker()[0], temp


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_compare_ends_its_worker_and_removes_its_temp_folder(tmp_path, sig):
    proc, worker, temp = start_compare(tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate()
    assert proc.returncode in (128 + sig, 130) and b"Traceback" not in err
    wait_for(lambda: worker not in processes(), "the worker to end")
    assert not list(temp.glob("rosetta-*"))  # torch may leave its own cache folder there


def test_the_worker_dies_when_its_parent_is_killed(tmp_path):
    proc, worker, temp = start_compare(tmp_path)
    proc.kill()  # SIGKILL: no clean-up in the parent; the kernel sends the worker SIGTERM
    proc.wait()
    wait_for(lambda: worker not in processes(), "the worker to end")
    assert not list(temp.glob("*/perceptron.pkl"))  # it ended mid-run, not at the end of its run


# ---- 10, 13: weight files ----


def npz_with_header(path, shape, descr="<f8"):
    """A .npz whose one member declares `shape` but holds no data: only its header can be read."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header.update(shape=shape, descr=descr)
    with zipfile.ZipFile(path, "w") as archive, archive.open("layers.0.W.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)


def test_npz_shapes_are_checked_from_the_headers(tmp_path):
    npz_with_header(tmp_path / "huge.npz", (20000, 10000))
    with pytest.raises(ParamsError, match=r"layer 0 'W': expected shape \(3, 1\), got \(20000, 10000\)"):
        params.load(tmp_path / "huge.npz", tasks.get("perceptron"))


def test_pickled_npz_members_are_refused_without_advice_to_load_them(tmp_path):
    np.savez(tmp_path / "objects.npz", **{"layers.0.W": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ParamsError, match="holds pickled Python objects, never loaded") as info:
        params.load(tmp_path / "objects.npz", tasks.get("perceptron"))
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "is a folder, not a weight file"),
        (lambda p: os.mkfifo(p), "is a FIFO, not a weight file"),
        (lambda p: p.symlink_to("/dev/null"), "is a device, not a weight file"),
        (lambda p: p.write_bytes(b"\x80\x04 not a zip"), "is not a .npz file (not a zip archive)"),
    ],
)
def test_init_names_what_the_file_is(tmp_path, make, message, capsys):
    make(tmp_path / "w.npz")
    assert cli.main(["run", "xor", "--init", str(tmp_path / "w.npz")]) == 2
    err = capsys.readouterr().err
    assert message in err and "allow_pickle" not in err


# ---- 11, 12, 14: the command line ----


def test_steps_are_bounded_and_the_help_says_so(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "xor", "-f", "jax", "--steps", str(MAX_STEPS + 1)])
    assert info.value.code == 2
    assert f"expected a whole number of steps from 1 to {MAX_STEPS:,}" in capsys.readouterr().err
    assert f"(1 to {MAX_STEPS:,})" in " ".join(rosetta("run", "--help")[1].split())


@pytest.mark.parametrize(
    "framework, env, message",
    [
        (
            "keras",
            {"KERAS_BACKEND": "nonsense"},
            "keras failed: ValueError: Unable to import backend : nonsense",
        ),
        (
            "jax",
            {"JAX_PLATFORMS": "nonsense"},
            "jax failed: RuntimeError: Unable to initialize backend 'nonsense'",
        ),
    ],
)
def test_start_up_failures_of_run_are_one_line(framework, env, message):
    code, _, err = rosetta("run", "xor", "-f", framework, "--steps", "1", env=env)
    assert message in one_line_error(code, err, 1)


def test_run_all_is_refused_with_a_pointer_to_compare(no_training):
    code, out, err = rosetta("run", "all")
    assert (
        one_line_error(code, err)
        == "rosetta: error: run trains one task; `rosetta compare all` runs every task\n"
    )
    assert "a task (rosetta list)" in rosetta("run", "--help")[1]


def test_a_framework_named_twice_runs_once():
    assert [run.label for run in runner.expand(["jax", "numpy", "jax"])[0]] == ["numpy", "jax"]


# ---- commands use what is installed ----


@pytest.fixture
def without_keras(monkeypatch):
    """find_spec as if keras and tensorflow were not installed (the workers still see them)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("keras", "tensorflow")
                        else real(name, *a))  # fmt: skip


def test_the_frameworks_that_import_run_and_the_others_are_named(without_keras, tmp_path, capsys):
    code = cli.main(["compare", "xor", "--steps", "2", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [line.split()[1] for line in out.splitlines()[2:5]] == ["numpy", "torch", "jax"]
    assert ("rosetta: not installed, skipped: keras-tensorflow, keras-jax, keras-torch "
            "(pip install 'nn-rosetta[keras]')\n") in err  # fmt: skip


@pytest.mark.parametrize("command", ["compare", "parity", "bench"])
def test_a_missing_framework_named_with_f_fails_before_training(without_keras, monkeypatch, command, capsys):
    monkeypatch.setattr(runner, "run_runs", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr(runner, "run_all", lambda *a, **k: pytest.fail("trained"))
    code = cli.main([command, "xor", "-f", "torch", "-f", "keras"])
    assert (code, capsys.readouterr().err) == (
        2,
        "rosetta: error: keras not installed: pip install 'nn-rosetta[keras]'\n",
    )


def test_a_closed_stdout_ends_quietly():
    """`rosetta list | head -1`, with the reader gone before the first line is written."""
    argv = [sys.executable, "-m", "rosetta", "list"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    proc.stdout.close()
    assert proc.stderr.read() == "" and proc.wait() == 1


def test_tensorflow_start_up_lines_stay_quiet():
    code, out, err = rosetta("run", "xor", "-f", "keras", "--steps", "1", env={"KERAS_BACKEND": "tensorflow"})
    assert code == 0 and out.startswith("xor with keras (float64): 1 steps") and err == ""
