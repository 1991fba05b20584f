"""The four framework folders mirror each other in every file kind: a concept has one name, in one
place in the order, in each folder, so that `diff reference_numpy/conv.py impl_jax/conv.py` shows
framework differences and no naming ones.

SHARED lists, for every file all four folders have (mlp.py with the graph code, conv.py, recurrent.py,
norm.py, optim.py, train.py, transformer.py), the functions each of them defines there, in order; the
list is complete (a function all four define is in it) and no file kind the four share is left out of
it. A function that only some folders need (the reference's backward pass `<layer>_backward`, the graph walk
`predict`/`layer_forward` of the reference and JAX, `node_layers`/`node_params` of torch and Keras,
Keras's keras_loss) sits where it serves; what two folders both define comes in the same order in both,
in every file the two have (stock.py too).
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
        "total_loss",
        "loss_and_grads",
    ],
    "conv.py": ["conv2d", "conv2d_transpose", "maxpool2d", "avgpool2d", "global_avgpool2d", "flatten"],
    "recurrent.py": ["lstm", "gru", "bidirectional"],
    "norm.py": ["batchnorm"],
    "optim.py": ["learning_rate", "sgd", "adam", "make"],
    "train.py": ["train"],
    "transformer.py": ["embedding", "position_embedding", "layernorm", "attention", "tied_output"],
}
PACKAGE_FILES = ("__init__.py", "__main__.py")  # the package's entry points, not a file kind


def files(folder):
    """The file kinds of folder: its .py files but __init__ and __main__."""
    return {f for f in os.listdir(os.path.join(ROOT, folder)) if f.endswith(".py") and f not in PACKAGE_FILES}


PAIRS = [  # (file, a, b) for every file two folders both have
    (file, a, b) for a, b in itertools.combinations(FOLDERS, 2) for file in sorted(files(a) & files(b))
]


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


def test_every_file_kind_the_folders_share_is_in_the_shared_list():
    """A file all four folders have is checked: a new file kind cannot pass unlisted."""
    assert set.intersection(*(files(folder) for folder in FOLDERS)) == set(SHARED)


@pytest.mark.parametrize("file, a, b", PAIRS)
def test_functions_two_folders_share_come_in_the_same_order(file, a, b):
    names_a, names_b = public_functions(a, file), public_functions(b, file)
    assert [f for f in names_a if f in names_b] == [f for f in names_b if f in names_a]
