import sys

import impl_torch
from foundation import tutorial

sys.exit(tutorial.main(impl_torch))
