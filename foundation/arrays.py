"""The NumPy side of every framework package's boundary: data in the dtype of the weights."""

import numpy as np

from foundation.params import dtype_of


def as_dtype(x, params):
    """Inputs and float targets in the dtype of the weights; integer class labels as they are."""
    x = np.asarray(x)
    return x if x.dtype.kind in "iu" else x.astype(dtype_of(params), copy=False)
