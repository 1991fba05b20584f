"""rosetta.check on models as public example code writes them (parity_tests/zoo.py): the correct port
is ok with no hint in float64 and float32, with a loss, gradients and 3 optimizer steps; the planted
bug is found at its anchor with its hint."""

import pytest

import rosetta
from parity_tests.zoo import ZOO
from parity_tests.zoo_more import ZOO_MORE
from parity_tests.zoo_ports_flax import PORTS_FLAX
from parity_tests.zoo_ports_more import PORTS_MORE

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
# a pair with a Keras side runs once per backend (its id says keras), the others once
PORTS = {f"{port.model}-{port.original}-to-{port.framework}": port for port in PORTS_FLAX + PORTS_MORE}


def assert_correct(build, data, loss, optimizers, trains_apart, dtype, source):
    """The correct port is ok with no hint, or, where it trains apart, diverges first at step 1 of the
    named block with the named hint, forward, loss and gradients agreeing."""
    a, b = build(dtype)
    x, y = data(dtype)
    loss = loss if isinstance(loss, str) else loss(dtype)
    report = rosetta.check(a, b, x, y, loss=loss, optimizer=optimizers(dtype), steps=3)
    if trains_apart:
        block, hint = trains_apart
        d, kinds = report.first, [h.kind for h in report.hints]
        assert {d.stage for d in report.divergences} == {"step"} and (d.block, d.step) == (block, 1), str(
            report
        )
        assert kinds == [hint], str(report)
    else:
        assert report.ok and report.hints == [], f"{source}\n{report}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_zoo_correct_port_is_ok(name, dtype):
    e = ENTRIES[name]
    assert_correct(e.build, e.data, e.loss, e.optimizers, e.trains_apart, dtype, e.source)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", PORTS)
def test_zoo_second_port_is_ok(name, dtype):
    port = PORTS[name]
    e = ENTRIES[port.model]
    loss = e.loss if port.loss is None else port.loss
    assert_correct(port.build, e.data, loss, port.optimizers, port.trains_apart, dtype, e.source)


def test_every_zoo_model_has_two_ports():
    ports = {name: 1 for name in ENTRIES if name != "gpt-tied-flax"}  # nanoGPT's second port, tied
    ports["gpt"] += 1
    for port in PORTS.values():
        ports[port.model] += 1
    assert [name for name, count in ports.items() if count < 2] == []


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
