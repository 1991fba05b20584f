import sys

import reference_numpy
from rosetta import tutorial

sys.exit(tutorial.main(reference_numpy))
