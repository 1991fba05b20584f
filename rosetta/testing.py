"""A port-check as one line of a test: `assert_port(a, b, x)` (docs/porting.md, docs/examples/)."""

from rosetta.portcheck.report import table, verdict


def assert_port(a, b, x, y=None, loss=None, optimizer=None, steps=0):
    """rosetta.check(a, b, x, ...), raising AssertionError when the port diverges: its message is the
    first divergence and the hints, then the per-block table. Returns the Report when it is ok."""
    __tracebackhide__ = True  # pytest shows the failing line of the user's test, not this one
    from rosetta.portcheck import check

    report = check(a, b, x, y, loss, optimizer, steps)
    if not report.ok:
        raise AssertionError("\n".join(verdict(report) + [""] + table(report)))
    return report
