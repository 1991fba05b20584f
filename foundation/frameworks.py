"""The framework packages, imported only when asked for, each keeping DESIGN.md §2's contract."""

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import tempfile

from foundation.errors import MissingFrameworkError, unknown

KERAS_EPSILON = 1e-7  # keras.optimizers.Adam's default ε̂ (keras/src/optimizers/adam.py)

# name -> (package, the pip extra that installs it)
FRAMEWORKS = {
    "numpy": ("reference_numpy", None),
    "torch": ("impl_torch", "torch"),
    "jax": ("impl_jax", "jax"),
    "keras": ("impl_keras", "keras"),
}
NAMES = list(FRAMEWORKS)
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
# the modules a run imports -> the pip extra that installs each
NEEDS = {"torch": ("torch",), "jax": ("jax", "optax"), "keras": ("keras",)}
EXTRA = {"torch": "torch", "jax": "jax", "optax": "jax", "keras": "keras", "tensorflow": "keras"}


def check(name):
    if name not in FRAMEWORKS:
        raise unknown("framework", name, FRAMEWORKS)


def load(name):
    """The framework's package (forward, loss_and_grads, train); a clear error if not installed."""
    check(name)
    package, extra = FRAMEWORKS[name]
    try:
        with start_up_lines_dropped():
            return importlib.import_module(package)
    except ImportError as exc:
        raise MissingFrameworkError(
            f"framework {name!r} needs {exc.name!r}, which is not installed: "
            f"pip install 'nn-rosetta[{extra}]'"
        ) from exc


# TensorFlow's C++ start-up lines, which some builds print at import whatever TF_CPP_MIN_LOG_LEVEL says
# (the oneDNN notice is logged through absl before its logging is initialized)
START_UP = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+ +\d+ (port|cpu_feature_guard)\.cc:\d+\] .*"
    r"|To enable the following instructions: .*)$"
)


@contextlib.contextmanager
def start_up_lines_dropped():
    """Whatever the C++ side writes to stderr meanwhile is written again afterwards, less
    TensorFlow's start-up lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not START_UP.match(line.rstrip("\n"))]
            sys.stderr.write("".join(kept))


def lacking(framework, backend=None):
    """The modules a run needs that are not installed (Keras also needs its backend's), found
    without importing them."""
    needs = NEEDS.get(framework, ()) + ((backend,) if backend else ())
    return [module for module in needs if importlib.util.find_spec(module) is None]


def install_hint(modules):
    extras = ",".join(dict.fromkeys(EXTRA[m] for m in modules))
    return f"pip install 'nn-rosetta[{extras}]'"


def keras_backend():
    """The backend Keras takes in this process: KERAS_BACKEND, fixed at import (default tensorflow)."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def backend(name):
    """Keras's backend when `name` is keras, else None."""
    return keras_backend() if name == "keras" else None


def label(framework, backend=None):
    """A run's name in tables and results: "torch", "keras-jax"."""
    return f"{framework}-{backend}" if backend else framework


def formula(framework, task):
    """The settings the reference needs to follow `framework` on `task` ({} = as is; apply them with
    tasks.with_formula).

    Where no setting makes a framework follow torch/optax's formula (DESIGN.md §5), it is judged
    against the reference running its own: Keras's Adam puts ε̂ outside the bias correction
    (impl_keras uses Keras's default ε̂ = 1e-7 when a task asks for the torch form), and Keras's
    velocity v = μv − lr·g parts from torch's buffer once the learning rate changes; torch's
    BatchNorm moves its running variance toward the batch's unbiased variance, ·n/(n − 1)."""
    unbiased = framework == "torch"  # torch's running variance is the unbiased one; Keras's and JAX's not
    if any(getattr(spec, "unbiased_var", unbiased) != unbiased for spec in task.layers):
        return {"unbiased_var": unbiased} | optimizer_formula(framework, task)
    return optimizer_formula(framework, task)


def optimizer_formula(framework, task):
    opt = task.optimizer
    if framework != "keras" or opt.form == "keras":
        return {}
    if opt.name == "adam":
        return {"form": "keras", "eps": KERAS_EPSILON}
    if opt.momentum and opt.lr_drops:
        return {"form": "keras"}
    return {}
