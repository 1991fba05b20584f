"""The `rosetta` command: its outputs, exit codes and error messages, on short schedules."""

import json
import subprocess
import sys

import numpy as np
import pytest

from foundation import catalog, frameworks, outdir, params, tolerances
from rosetta import cli, tasks

ALL_RUNS = ["numpy", "torch", "jax", "keras-tensorflow", "keras-jax", "keras-torch"]


def rosetta(*argv):
    """Run the command in a fresh process, as a user would; (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "rosetta", *argv], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def labels(rows):
    return [frameworks.label(r["framework"], r["backend"]) for r in rows]


def test_list_imports_no_framework():
    code = "import sys; from rosetta.cli import main; main(['list']); main.__module__; " \
           "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'jax', 'keras', " \
           "'tensorflow', 'matplotlib', 'rich'}))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert all(name in out for name in tasks.names())
    assert out.strip().splitlines()[-1] == "[]"


def test_list_json_describes_every_task(capsys):
    assert cli.main(["list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [row["task"] for row in doc] == tasks.names()
    xor = doc[tasks.names().index("xor")]
    assert xor["sizes"] == [3, 4, 1] and xor["activations"] == ["sigmoid"] * 2 and xor["steps"] == 60000


def test_every_command_takes_json():
    """The README says so."""
    commands = cli.parser()._subparsers._group_actions[0].choices
    assert all("--json" in command.format_help() for command in commands.values()), sorted(commands)


def test_compare_json_every_framework_from_the_same_weights(tmp_path):
    code, out, err = rosetta("compare", "xor", "--steps", "20", "--json", "--out", str(tmp_path / "plots"))
    assert code == 0, err
    doc = json.loads(out)
    assert labels(doc["rows"]) == ALL_RUNS
    for row in doc["rows"]:
        assert row["steps"] == 20 and row["dtype"] == "float64" and row["task"] == "xor"
        assert max(row["diff_forward"], row["diff_grads"]) <= tolerances.FORWARD["float64"]
        assert row["diff_weights"] <= tolerances.TRAJECTORY["float64"]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["xor-boundary.png", "xor-loss.png"]


def test_compare_table_and_regression_plots(tmp_path):
    code, out, err = rosetta("compare", "hard-tanh", "-f", "numpy", "--steps", "5", "--out", str(tmp_path))
    assert code == 0, err
    assert out.splitlines()[2].split()[:2] == ["hard-tanh", "numpy"]
    assert err.startswith("training 1/1 numpy hard-tanh (")  # not a terminal: a line per finished run
    assert {p.name for p in tmp_path.iterdir()} == {"hard-tanh-loss.png", "hard-tanh-fit.png"}


def test_all_is_every_catalog_task():
    assert [task.name for task in cli.selected_tasks("all")] == tasks.names()


def test_parity_json_reports_every_pair():
    """One task in every run (all of them: 6 runs × every task, minutes of imports and compiles)."""
    code, out, err = rosetta("parity", "softmax", "--steps", "3", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] and [m["task"] for m in doc["tasks"]] == ["softmax"]
    (softmax,) = doc["tasks"]
    assert softmax["labels"] == ALL_RUNS + ["numpy[keras]"]
    cell = {(c["row"], c["column"]): c for c in softmax["cells"]}
    assert cell["keras-jax", "numpy[keras]"]["status"] == "pass"
    assert cell["keras-jax", "numpy"]["status"] == "variant"
    assert cell["torch", "jax"]["status"] == "pass"


def test_bench_json_has_ratios_and_gflops():
    """Two runs (the reference comes with any -f), each in its own worker: every run goes the same way."""
    code, out, err = rosetta("bench", "xor", "--steps", "2", "-f", "jax", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["machine"]["matmul_gflops"] > 0 and doc["machine"]["cores"] >= 1
    rows = {(r["task"], labels([r])[0]): r for r in doc["rows"]}
    assert set(rows) == {(t, fw) for t in ["xor", "mlp-large"] for fw in ["numpy", "jax"]}
    assert rows["xor", "jax"]["steps"] == 2
    assert rows["xor", "numpy"]["speedup_vs_numpy"] == 1.0
    assert all(r["gflops"] > 0 for (t, _), r in rows.items() if t == "mlp-large")


# ---- errors: messages and exit codes ----


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "nope"], "unknown task 'nope'; valid tasks: "),
        (
            ["run", "xor", "-f", "mxnet"],
            "invalid choice: 'mxnet' (choose from 'numpy', 'torch', 'jax', 'keras')",
        ),
        (["run", "xor", "--steps", "-3"], "expected a whole number of steps from 1 to 1,000,000, got '-3'"),
        (["bench", "--json", "softmaxx"], "unknown task 'softmaxx'"),
    ],
)
def test_usage_errors_exit_2(argv, message):
    code, out, err = rosetta(*argv)
    assert code == 2 and message in err and out == ""


def test_bad_weight_file_names_the_layer(tmp_path, capsys):
    bad = tasks.get("xor").init_params()
    bad[1]["W"] = bad[1]["W"].T
    np.savez(tmp_path / "w.npz", **params.to_flat(bad))
    assert cli.main(["run", "xor", "--init", str(tmp_path / "w.npz")]) == 2
    assert "layer 1 'W': expected shape (4, 1), got (1, 4)" in capsys.readouterr().err


def test_init_and_save_round_trip(tmp_path, capsys):
    first, second = tmp_path / "a.safetensors", tmp_path / "b.npz"
    assert cli.main(["run", "xor", "--steps", "7", "--save", str(first)]) == 0
    assert (
        cli.main(["run", "xor", "--steps", "5", "--init", str(first), "--save", str(second), "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 5
    task = tasks.get("xor")
    expected = frameworks.load("numpy").train(task, task.init_params(), 12)[0]
    assert tolerances.rel_diff_params(params.load(second, task), expected) == 0.0


def test_missing_framework_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(frameworks.FRAMEWORKS, "torch", ("impl_not_installed", "torch"))
    assert cli.main(["run", "xor", "-f", "torch"]) == 2
    assert "pip install 'nn-rosetta[torch]'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_diverging_run_exits_1(monkeypatch, capsys):
    monkeypatch.setitem(catalog.CATALOG, "line", tasks.with_optimizer(tasks.get("line"), lr=10.0))
    assert cli.main(["run", "line"]) == 1
    assert "task 'line' diverged" in capsys.readouterr().err


def test_out_that_is_a_file_is_a_usage_error(tmp_path):
    target = tmp_path / "plots"
    target.write_text("keep me")
    code, _, err = rosetta("compare", "xor", "-f", "numpy", "--steps", "2", "--out", str(target))
    assert code == 2 and "is not a folder" in err and target.read_text() == "keep me"


def test_out_is_untouched_when_a_step_fails(tmp_path):
    with pytest.raises(RuntimeError), outdir.staged(tmp_path / "out") as stage:
        (stage / "half.png").write_bytes(b"...")
        raise RuntimeError("plotting failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name, plot",
    [("moons", "boundary"), ("multitask", "boundary"), ("sin-cos", "fit"), ("cybenko", "fit"),
     ("autoencoder", "codes")],
)  # fmt: skip
def test_compare_plots_the_new_heads(tmp_path, name, plot):
    """Issue 14's tasks: a decision boundary (logit 0 / class columns), one panel per output, the codes."""
    code, out, err = rosetta("compare", name, "-f", "numpy", "--steps", "3", "--out", str(tmp_path))
    assert code == 0, err
    assert {p.name for p in tmp_path.iterdir()} == {f"{name}-loss.png", f"{name}-{plot}.png"}
