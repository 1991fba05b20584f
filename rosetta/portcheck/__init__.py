"""Port-checking: two live models, one comparison (DESIGN.md §8, docs/porting.md).

report = rosetta.check(a, b, x, y=None, loss=None, optimizer=None, steps=0)
"""

from rosetta.portcheck.report import Divergence, Hint, Report
from rosetta.portcheck.run import InputError, check

__all__ = ["Divergence", "Hint", "InputError", "Report", "check"]
