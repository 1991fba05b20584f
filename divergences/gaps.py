"""What every divergence row measures, and the two ways the framework modules measure it: a
formula the framework has no switch for (formula_gap), a default whose output differs (forward_gap).
Each function of divergences/of_torch.py, of_keras.py and of_jax.py returns a Gap."""

from dataclasses import dataclass

import reference_numpy as ref
from foundation import tolerances


@dataclass(frozen=True)
class Gap:
    default: float
    setting: float
    limit: float


def formula_gap(train, task, steps, theirs, ours):
    """A formula the framework has no switch for. default: its optimizer made to follow the other
    framework's formula (`theirs`) against it as it is (`ours`), both trained `steps` on `task`;
    setting: the framework's train against the reference running the framework's own formula."""
    params = task.init_params()
    own = ref.train(task, params, steps)[0]
    return Gap(
        tolerances.rel_diff_params(theirs, ours),
        tolerances.rel_diff_params(train(task, params, steps)[0], own),
        tolerances.TRAJECTORY["float64"],
    )


def forward_gap(forward, task, params, x, naive):
    """Gap(a framework default's output `naive`, the framework's `forward`), each against the
    reference's forward pass on the same float64 weights."""
    reference = ref.forward(task, params, x)
    return Gap(
        tolerances.rel_diff(naive, reference),
        tolerances.rel_diff(forward(task, params, x), reference),
        tolerances.FORWARD["float64"],
    )
