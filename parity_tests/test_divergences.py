"""Every entry of docs/divergences.md: (a) the default gap is real and the size the doc quotes,
(b) the documented setting closes it to the tolerance policy — or, where no setting can, the
framework matches the reference's variant of its own formula."""

import os

import pytest

from rosetta import divergences

ROWS = [pytest.param(d, id=d.key) for d in divergences.rows()]  # Keras rows of this process's backend


@pytest.mark.parametrize("entry", ROWS)
def test_divergence(entry):
    gap = entry.run()
    assert gap.setting <= gap.limit, f"{entry.key}: {gap.setting:.2e} left with '{entry.fix}'"
    assert gap.default > max(100 * gap.limit, 1e-9), f"{entry.key}: default gap {gap.default:.2e} is not real"
    assert gap.default == pytest.approx(entry.documented, rel=0.1), (
        f"{entry.key}: the doc quotes another size"
    )


def test_catalog_keys_are_unique_and_documented():
    keys = [d.key for d in divergences.CATALOG]
    assert len(keys) == len(set(keys))
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "divergences.md")).read()
    missing = [key for key in keys if f"`{key}`" not in doc]
    assert not missing, f"entries without a section in docs/divergences.md: {missing}"
