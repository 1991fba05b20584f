"""Port-checking: two live models, one comparison (DESIGN.md §8, docs/porting.md).

report = rosetta.check(a, b, x, y=None, loss=None, optimizer=None, steps=0)
mapping = rosetta.transfer(src, dst, x=None)
"""

from rosetta.portcheck.report import Divergence, Hint, Report
from rosetta.portcheck.run import InputError, check
from rosetta.portcheck.transfer import Mapping, TransferError, transfer

__all__ = ["Divergence", "Hint", "InputError", "Mapping", "Report", "TransferError", "check", "transfer"]
