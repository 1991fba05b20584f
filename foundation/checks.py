"""The two checks every argument goes through: a whole number in a range, a finite real number
meeting a condition. Tasks use them when they are made, validate when a framework is called."""

import math
import numbers

from foundation.errors import ArgumentError


def whole(name, value, low=1, high=None):
    """`value` as an int in [low, high]; bools and 2.5 are refused."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f"from {low:,} to {high:,}" if high is not None else f"≥ {low}"
        raise ArgumentError(f"{name}: expected a whole number {bound}, got {value!r}")
    return int(value)


def number(name, value, condition, expected):
    """A finite real `value` for which condition(value) holds; else an error saying `expected`."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not condition(value):
        raise ArgumentError(f"{name}: expected {expected}, got {value!r}")
    return value
