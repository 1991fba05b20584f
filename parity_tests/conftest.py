import gc
import json
import os

import pytest
from hypothesis import HealthCheck, settings

# Deterministic everywhere: the same examples every run, no example database.
settings.register_profile(
    "rosetta",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("rosetta")


def pytest_configure(config):
    """`make test-one-thread` (ROSETTA_ONE_THREAD=1): torch's intra- and inter-op pools to one thread,
    which no environment variable sets; TensorFlow, XLA and OpenMP read theirs from the Makefile."""
    check_xla_flags(os.environ.get("XLA_FLAGS", ""))
    if os.environ.get("ROSETTA_ONE_THREAD") == "1":
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)


def check_xla_flags(flags):
    """XLA reads XLA_FLAGS up to its first word without "--" (a first word without it names a file of
    flags) and silently ignores the rest: the port-check runs' -O0 was lost that way."""
    stray = [word for word in flags.split()[1:] if not word.startswith("--")]
    if stray:
        raise pytest.UsageError(
            f"XLA_FLAGS: {stray[0]!r} is not a --flag, and XLA would ignore every flag after it"
        )


def pytest_collection_finish(session):
    """What the imports made (~550,000 objects with TensorFlow, Keras, JAX and torch) moved out of the
    cyclic collector's reach: its full passes during the run walk only what the tests made since."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Everything left frozen too, and Python's last collections at exit skip it: they walked ~850,000
    objects, 1.9 s of a TensorFlow process's end on this project's machine. Its memory goes back to the
    system all the same when the process ends."""
    gc.freeze()


def pytest_sessionfinish(session, exitstatus):
    """With ROSETTA_NO_SKIPS=1 (CI), any skipped test fails the run: a parity suite must not go
    green by skipping a framework."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("ROSETTA_NO_SKIPS") == "1" and skipped and session.exitstatus == 0:
        reporter.write_line(f"ROSETTA_NO_SKIPS: {len(skipped)} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    """The worst relative differences measured by the parity checks, for the README's table."""
    from parity_tests.harness import MEASURED

    if not MEASURED:
        return
    terminalreporter.section("worst relative difference from reference_numpy")
    for (framework, dtype, check), value in sorted(MEASURED.items()):
        terminalreporter.write_line(f"{framework:<22} {dtype:<8} {check:<24} {value:.2e}")
    path = os.environ.get("ROSETTA_PARITY_REPORT")
    if path:
        rows = [{"framework": f, "dtype": d, "check": c, "value": v} for (f, d, c), v in MEASURED.items()]
        with open(path, "w") as fh:
            json.dump(rows, fh, indent=1)
