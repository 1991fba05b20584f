"""`rosetta.tasks`, the catalog's public name: the node kinds, Task and make (foundation/tasks.py),
the catalog's get and names (foundation/catalog.py), in one namespace."""

from foundation.catalog import BENCHMARKS, CATALOG, get, names  # noqa: F401
from foundation.tasks import *  # noqa: F401, F403
