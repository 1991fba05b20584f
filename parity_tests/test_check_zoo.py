"""rosetta.check on models as public example code writes them (parity_tests/zoo.py): the correct port
is ok with no hint in float64 and float32, with a loss, gradients and 3 optimizer steps; the planted
bug is found at its anchor with its hint."""

import pytest

import rosetta
from parity_tests.zoo import ZOO
from parity_tests.zoo_more import ZOO_MORE

pytest.importorskip("torch")
keras = pytest.importorskip("keras")

if keras.backend.backend() == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 Keras weights on jax need it

ENTRIES = {entry.name: entry for entry in ZOO + ZOO_MORE}
WITHOUT_KERAS = (
    "flax-nnx-mlp",
    "flax-nnx-cnn",
    "flax-minigpt",
    "unet-parts",
    "gpt-tied-flax",
)  # Flax against torch: run once, not per backend
NAMES = [pytest.param(name, id=name if name in WITHOUT_KERAS else f"{name}-keras") for name in ENTRIES]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_zoo_correct_port_is_ok(name, dtype):
    entry = ENTRIES[name]
    a, b = entry.build(dtype)
    x, y = entry.data(dtype)
    loss = entry.loss if isinstance(entry.loss, str) else entry.loss(dtype)
    report = rosetta.check(a, b, x, y, loss=loss, optimizer=entry.optimizers(dtype), steps=3)
    if entry.trains_apart:  # forward, loss and gradients agree; the first step is named with its cause
        block, hint = entry.trains_apart
        d, kinds = report.first, [h.kind for h in report.hints]
        assert {d.stage for d in report.divergences} == {"step"} and (d.block, d.step) == (block, 1), str(
            report
        )
        assert kinds == [hint], str(report)
    else:
        assert report.ok and report.hints == [], f"{entry.source}\n{report}"


@pytest.mark.parametrize("name", NAMES)
def test_zoo_planted_bug_is_found_at_its_anchor(name):
    entry = ENTRIES[name]
    a, b = entry.build("float64", entry.bug)
    x, y = entry.data("float64")
    report = rosetta.check(
        a, b, x, y, loss=entry.loss if isinstance(entry.loss, str) else entry.loss("float64")
    )
    d = report.first
    assert (d.stage, d.block) == entry.found[:2] and entry.found[2] in [h.kind for h in report.hints], str(
        report
    )
