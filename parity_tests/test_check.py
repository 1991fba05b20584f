"""rosetta.check on correct ports and on ports with one classic bug planted, in several framework pairs.

Keras runs on the backend of the process (KERAS_BACKEND); `make test` runs this file on all three."""

import itertools

import pytest

import rosetta
from parity_tests.ports import BUILD, data, weights

FRAMEWORKS = ("torch", "keras", "flax", "canonical")
PAIRS = list(itertools.permutations(FRAMEWORKS, 2))


def build(framework, dtype="float64", **kw):
    return BUILD[framework](weights(dtype), **kw)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fa,fb", PAIRS)
def test_a_correct_port_is_ok_forward(fa, fb, dtype):
    x, _ = data()
    report = rosetta.check(build(fa, dtype), build(fb, dtype), x.astype(dtype))
    assert report.ok, str(report)
    assert report.first is None and report.hints == []
    assert [row["weights"] for row in report.blocks] == ["equal"] * 3


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fa,fb", PAIRS)
def test_a_correct_port_is_ok_with_loss_and_gradients(fa, fb, dtype):
    x, y = data()
    a, b = build(fa, dtype, head=None), build(fb, dtype, head=None)
    report = rosetta.check(a, b, x.astype(dtype), y, loss="softmax_ce")
    assert report.ok, str(report)
    assert report.hints == [] and report.loss["rel"] <= report.tolerance["forward"]
    assert all(row["grad"] <= report.tolerance["forward"] for row in report.blocks)
    assert set(report.to_dict()) >= {"ok", "first", "hints", "blocks", "loss"}


def kinds(report):
    return [hint.kind for hint in report.hints]


def where(report):
    d = report.first
    return d.stage, d.block, d.part


@pytest.mark.parametrize("fa,fb", [("keras", "torch"), ("flax", "torch"), ("torch", "canonical")])
def test_a_square_layer_copied_without_its_transpose(fa, fb):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, bug="transpose"), x)
    assert not report.ok and where(report) == ("weights", 1, "linear")
    assert [row["weights"] for row in report.blocks] == ["equal", "transposed", "equal"]
    assert kinds(report) == ["transpose"]


@pytest.mark.parametrize("fa,fb", [("keras", "torch"), ("canonical", "flax")])
def test_missing_bias(fa, fb):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, bug="missing-bias"), x)
    assert where(report) == ("structure", 0, "linear") and kinds(report) == ["missing-bias"]


@pytest.mark.parametrize("fa,fb", [("torch", "keras"), ("flax", "canonical")])
def test_a_different_activation(fa, fb):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, act="relu"), x)
    assert where(report) == ("structure", 0, "activation") and "activation" in kinds(report)


@pytest.mark.parametrize("fa,fb,slope", [("torch", "keras", 0.3), ("torch", "flax", 0.2), ("canonical", "keras", 0.3)])
def test_a_leaky_relu_slope(fa, fb, slope):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, slope=slope), x)
    assert where(report) == ("forward", 0, "activation") and kinds(report) == ["activation-slope"]
    assert "0.01" in report.hints[0].message and f"{slope:g}" in report.hints[0].message
