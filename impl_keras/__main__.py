import sys

import impl_keras
from foundation import tutorial

sys.exit(tutorial.main(impl_keras))
