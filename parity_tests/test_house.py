"""The house's plan, kept: every import points down README.md's layout picture, and no module
imports itself back through others (function-level imports included).

    foundation  <-  reference_numpy, impl_torch, impl_keras, impl_jax  <-  divergences  <-  rosetta

A framework package imports the foundation and itself only, never another framework package."""

import ast
import os

import pytest

from foundation import frameworks

ROOT = os.path.join(os.path.dirname(__file__), "..")
FRAMEWORK_PACKAGES = tuple(package for package, _ in frameworks.FRAMEWORKS.values())
PACKAGES = ("foundation", *FRAMEWORK_PACKAGES, "divergences", "rosetta")
MAY_IMPORT = {  # package -> the packages of this house it may import besides itself
    "foundation": set(),
    **{package: {"foundation"} for package in FRAMEWORK_PACKAGES},
    "divergences": {"foundation", *FRAMEWORK_PACKAGES},
    "rosetta": {"foundation", *FRAMEWORK_PACKAGES, "divergences"},
}


def modules():
    """{"foundation.tasks": path, ...} for every module of the house's packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for file in files:
                if file.endswith(".py"):
                    path = os.path.join(folder, file)
                    name = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
                    found[name.removesuffix(".__init__")] = path
    return found


def imports(path, known):
    """The house's modules a file imports, at any depth of the file (a lazy import counts);
    `from package import module` is an arrow to the module, not to the package's __init__."""
    with open(path) as fh:
        tree = ast.parse(fh.read())
    named = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            inside = {f"{node.module}.{alias.name}" for alias in node.names}
            named |= inside & known or {node.module}
            named |= {node.module} if inside - known else set()
    return named & known


MODULES = modules()
GRAPH = {name: imports(path, set(MODULES)) - {name} for name, path in MODULES.items()}


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_stands_below_it(package):
    upward = {
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in MAY_IMPORT[package] | {package}
    }
    assert not upward, sorted(upward)


def test_no_module_imports_itself_back():
    def reaches(start):
        seen, todo = set(), list(GRAPH[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(GRAPH[name])
        return seen

    circles = sorted(name for name in GRAPH if name in reaches(name))
    assert not circles, circles


def test_the_registry_is_the_one_list_of_frameworks():
    """foundation/frameworks.py registers a framework; what installs and packages it follows from that
    list: each extra it names is in pyproject.toml, and packages.find takes each package."""
    import fnmatch
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        project = tomllib.load(fh)
    extras = project["project"]["optional-dependencies"]
    named = {frameworks.EXTRA[module] for modules in frameworks.NEEDS.values() for module in modules}
    assert named | {extra for _, extra in frameworks.FRAMEWORKS.values() if extra} <= set(extras)
    assert {extra for _, extra in frameworks.FRAMEWORKS.values() if extra} <= set(
        extras["all"][0].split("[")[1].rstrip("]").split(",")
    )
    found = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in PACKAGES:
        assert any(fnmatch.fnmatch(package, pattern) for pattern in found), package
