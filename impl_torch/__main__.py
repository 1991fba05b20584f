import sys

import impl_torch
from rosetta import tutorial

sys.exit(tutorial.main(impl_torch))
