"""rosetta.testing.assert_port on canonical pairs (NumPy only). docs/examples/test_my_port.py, the example
users copy, is collected by pytest itself (pyproject's testpaths) and runs on the torch-Keras pair."""

import numpy as np
import pytest

from parity_tests.ports import build, data
from rosetta.portcheck import InputError, Report
from rosetta.testing import assert_port


def test_a_correct_port_returns_its_report():
    x, y = data()
    a, b = build("canonical", head=None), build("canonical", head=None)
    report = assert_port(a, b, x, y, loss="softmax_ce")
    assert isinstance(report, Report) and report.ok and report.loss is not None


def test_a_wrong_port_fails_with_the_verdict_first_then_the_table():
    x, _ = data()
    with pytest.raises(AssertionError) as failure:
        assert_port(build("canonical"), build("canonical", bug="transpose"), x)
    lines = str(failure.value).splitlines()
    assert lines[0] == "FIRST DIVERGENCE: weights at block 1 (linear): weights transposed"
    assert lines[1].startswith("hint [transpose] block 1: ") and lines[2] == ""
    assert lines[3].startswith("canonical vs canonical, float64 tolerances")
    assert any(line.startswith("> 1     transposed") for line in lines)


def test_inputs_the_models_cannot_take_are_errors_not_failed_ports():
    x, _ = data()
    with pytest.raises(InputError, match="NaN"):
        assert_port(build("canonical"), build("canonical"), np.full_like(x, np.nan))
