import sys

import impl_jax
from foundation import tutorial

sys.exit(tutorial.main(impl_jax))
