"""The study files (<package>/study/<family>.py), each a framework's own idiom with no interpreter behind
it, against the reference interpreter: forward, loss, gradients, then the trajectory the parity tests
run (≤ 200 steps; float32 Adam: 30), at the project's tolerances. The four folders mirror each other."""

import ast
import itertools

import pytest

from foundation import tolerances
from rosetta import study

FLOAT32 = ("xor", "softmax")  # float32 where it is cheap: SGD and Adam on an MLP; every family in float64
CASES = [
    (family, fw, dtype)
    for family in study.FAMILIES
    for fw in study.COLUMNS
    for dtype in ("float64", "float32")
    if dtype == "float64" or family in FLOAT32
]


@pytest.mark.parametrize("family, fw, dtype", CASES, ids=["-".join(case) for case in CASES])
def test_the_native_file_computes_what_the_reference_does(family, fw, dtype):
    figures = study.measure(fw, family, dtype)
    assert set(figures) == set(study.CHECKS)
    beyond = {check: value for check, value in figures.items() if value > study.limit(check, dtype)}
    assert not beyond, figures


def public_functions(source):
    tree = ast.parse(source)
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name[0] != "_"]


@pytest.mark.parametrize("family", study.FAMILIES)
def test_the_four_files_mirror_each_other(family):
    """The same sections in the same order, the functions the four share in the same order, the study's
    contract (build, get_params, forward, grads, train, load) in every file, and no import of the
    interpreters: only foundation, and only for the data (and of the standard library only math)."""
    sources = {fw: study.path(fw, family).read_text() for fw in study.COLUMNS}
    assert len({tuple(study.sections(source)) for source in sources.values()}) == 1
    names = {fw: public_functions(source) for fw, source in sources.items()}
    shared = set.intersection(*map(set, names.values()))
    assert {"build", "get_params", "forward", "loss", "grads", "optimizer", "train", "load"} <= shared
    for a, b in itertools.combinations(names.values(), 2):  # what two files both define: the same order
        assert [n for n in a if n in b] == [n for n in b if n in a], names
    for fw, source in sources.items():
        assert imports(source) <= ALLOWED, fw


ALLOWED = {"math", "numpy", "torch", "keras", "tensorflow", "jax", "optax", "foundation"}  # math: erf


def imports(source):
    """The top-level packages a file imports, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module.split(".")[0])
    return found


# ---- the check can fail: a planted bug in a native file shows far above the tolerance ----


def test_a_wrong_learning_rate_shows_in_the_trajectory(monkeypatch):
    monkeypatch.setattr(study.native("torch", "regression"), "LR", 0.02)
    figures = study.measure("torch", "regression")
    assert figures["forward"] <= tolerances.FORWARD["float64"]
    assert figures["trajectory params"] > 1e3 * tolerances.TRAJECTORY["float64"]


@pytest.fixture
def jax_softmax():
    """The JAX softmax file; its jitted functions forget what they traced, before and after (λ is a global
    that jit reads once)."""
    module = study.native("jax", "softmax")
    module.value_and_grad.clear_cache()
    module.update.clear_cache()
    yield module
    module.value_and_grad.clear_cache()
    module.update.clear_cache()


def test_a_missing_l2_term_shows_in_the_loss_and_gradients(jax_softmax, monkeypatch):
    monkeypatch.setattr(jax_softmax, "L2", 0.0)
    figures = study.measure("jax", "softmax")
    assert figures["loss"] > 1e3 * tolerances.FORWARD["float64"]
    assert figures["grads"] > 1e3 * tolerances.FORWARD["float64"]


def test_keras_against_torchs_adam_is_a_real_gap(monkeypatch):
    """The Keras file is judged against the reference's Keras form of Adam (ε̂); against torch's form it
    is far outside the tolerance: the difference is Keras's formula, not rounding."""
    monkeypatch.setattr(study.frameworks, "formula", lambda framework, task: {})
    figures = study.measure("keras", "softmax")
    assert figures["trajectory params"] > 1e3 * tolerances.TRAJECTORY["float64"]
