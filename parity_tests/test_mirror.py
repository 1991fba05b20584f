"""The four framework folders mirror each other: the same public functions, in the same order, in
each file, so that `diff reference_numpy/mlp.py impl_jax/mlp.py` shows framework differences.

A function that only some folders need (the reference's backward pass, Keras's keras_loss) sits
where it serves; what two folders both define comes in the same order in both.
"""

import ast
import itertools
import os

import pytest

from foundation import frameworks

ROOT = os.path.join(os.path.dirname(__file__), "..")
FOLDERS = tuple(package for package, _ in frameworks.FRAMEWORKS.values())  # the registry's packages
SHARED = {  # what every folder's file defines, in order
    "mlp.py": [
        "activation",
        "build",
        "get_params",
        "forward",
        "loss_value",
        "named_loss",
        "multitask",
        "l2_penalty",
        "loss_and_grads",
    ],
    "optim.py": ["learning_rate", "sgd", "adam", "make"],
    "train.py": ["train"],
}


def public_functions(folder, file):
    """The top-level `def`s of folder/file not starting with "_", in file order."""
    with open(os.path.join(ROOT, folder, file)) as fh:
        tree = ast.parse(fh.read())
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name[0] != "_"]


@pytest.mark.parametrize("file", SHARED)
def test_every_folder_defines_the_shared_functions_in_order(file):
    order = {folder: [f for f in public_functions(folder, file) if f in SHARED[file]] for folder in FOLDERS}
    assert all(names == SHARED[file] for names in order.values()), order


@pytest.mark.parametrize("file", SHARED)
def test_the_shared_list_is_complete(file):
    """A function all four folders define is in SHARED: the list cannot fall behind the code."""
    common = set.intersection(*(set(public_functions(folder, file)) for folder in FOLDERS))
    assert common == set(SHARED[file])


@pytest.mark.parametrize("file", SHARED)
@pytest.mark.parametrize("a, b", list(itertools.combinations(FOLDERS, 2)))
def test_functions_two_folders_share_come_in_the_same_order(file, a, b):
    names_a, names_b = public_functions(a, file), public_functions(b, file)
    assert [f for f in names_a if f in names_b] == [f for f in names_b if f in names_a]
