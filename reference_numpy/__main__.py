import sys

import reference_numpy
from foundation import tutorial

sys.exit(tutorial.main(reference_numpy))
