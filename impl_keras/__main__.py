import sys

import impl_keras
from rosetta import tutorial

sys.exit(tutorial.main(impl_keras))
