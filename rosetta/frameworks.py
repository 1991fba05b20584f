"""The framework packages, imported only when asked for, each keeping DESIGN.md §2's contract."""

import importlib

from rosetta.errors import RosettaError, unknown

# name -> (package, the pip extra that installs it)
FRAMEWORKS = {
    "numpy": ("reference_numpy", None),
    "torch": ("impl_torch", "torch"),
    "keras": ("impl_keras", "keras"),
    "jax": ("impl_jax", "jax"),
}


def load(name):
    """The framework's package (forward, loss_and_grads, train); a clear error if not installed."""
    if name not in FRAMEWORKS:
        raise unknown("framework", name, FRAMEWORKS)
    package, extra = FRAMEWORKS[name]
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise RosettaError(
            f"framework {name!r} needs {exc.name!r}, which is not installed: "
            f"pip install 'nn-rosetta[{extra}]'"
        ) from exc
