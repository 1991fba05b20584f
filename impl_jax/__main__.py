import sys

import impl_jax
from rosetta import tutorial

sys.exit(tutorial.main(impl_jax))
