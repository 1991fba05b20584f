"""`rosetta check A B --input X.npy ...` and `rosetta transfer SRC DST --out FILE`: the files, the
descriptions, and the exit code.

A .keras archive holds its architecture; a torch state_dict (.pt/.pth), a Flax NNX state (.msgpack, or
.safetensors with nnx keys) and canonical weights (.npz, or .safetensors with keys layers.{i}.W) take
a description: a JSON model spec (a file or inline) or `package.module:factory` returning the model.
Every bad input is a one-line UsageError (exit 2); nothing is unpickled beyond weights_only=True.
`transfer` writes DST's model, its weights SRC's, in DST's own format, whole or not at all.
"""

import importlib
import json
import sys
from pathlib import Path

import numpy as np

from foundation import outdir
from foundation.errors import UsageError
from rosetta.portcheck import html
from rosetta.portcheck.adapters import adapter
from rosetta.portcheck.layers import FUNCTIONS, NotSupported
from rosetta.portcheck.run import InputError, check

SUFFIXES = {".keras": "keras", ".pt": "torch", ".pth": "torch", ".msgpack": "flax", ".npz": "canonical"}
WRITTEN = {"keras": (".keras",), "torch": (".pt", ".pth"), "flax": (".msgpack", ".safetensors"),
           "canonical": (".npz", ".safetensors")}  # fmt: skip
REFUSED = (InputError, NotSupported, KeyError, ValueError, TypeError)  # what a model or x cannot do: exit 2


def one_line(exc):
    """The exception's message on one line (torch's load_state_dict names the tensors on later lines)."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return (text or type(exc).__name__)[:400]


def framework_of(path):
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(path, "numpy") as f:
            return (
                "canonical"
                if all(k.startswith("layers.") and k[-2:] in (".W", ".b") for k in f.keys())
                else "flax"
            )
    if path.suffix not in SUFFIXES:
        raise UsageError(
            f"{path}: unknown file type {path.suffix!r}; expected {', '.join([*SUFFIXES, '.safetensors'])}"
        )
    return SUFFIXES[path.suffix]


def description(text):
    """A JSON spec (inline or a file), a `module:factory` callable, or None."""
    if text is None:
        return None
    if not text.lstrip().startswith("{") and ":" in text and not Path(text).exists():
        module, _, name = text.partition(":")
        sys.path.insert(0, str(Path.cwd()))  # the user's own code, as uvicorn takes module:app
        return getattr(importlib.import_module(module), name)
    spec = json.loads(Path(text).read_text() if Path(text).exists() else text)
    return checked_spec(spec)


def checked_spec(spec):
    sizes, acts = spec.get("sizes"), spec.get("activations")
    if not isinstance(sizes, list) or not isinstance(acts, list) or len(acts) != len(sizes) - 1:
        raise UsageError(
            "a model description needs 'sizes' [n_in, ..., n_out] and one 'activations' entry per layer"
        )
    unknown = [a for a in acts if a not in FUNCTIONS]
    if unknown:
        raise UsageError(
            f"model description: unknown activation {unknown[0]!r}; valid: {', '.join(FUNCTIONS)}"
        )
    bias = spec.get("bias", True)
    return spec | {"bias": bias if isinstance(bias, list) else [bias] * len(acts)}


def load_model(path, spec_text):
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    framework, spec = framework_of(path), description(spec_text)
    module = adapter(framework)
    if framework == "keras":
        return module.load(path)
    if spec is None:
        raise UsageError(f"{path}: a {framework} weight file has no architecture; give --spec-a/--spec-b")
    if framework == "canonical":
        return module.load(path, spec)
    return module.load(path, spec if callable(spec) else lambda dtype: module.from_spec(spec, dtype))


def load_array(path, what):
    if path is None:
        return None
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # a missing file, a pickled array, a truncated one
        raise UsageError(f"{what} {path}: not a readable .npy array: {one_line(exc)}") from exc


def models(args):
    loaded = []
    for path, spec in ((args.a, args.spec_a), (args.b, args.spec_b)):
        try:
            loaded.append(load_model(path, spec))
        except UsageError:
            raise
        except Exception as exc:  # torch's UnpicklingError, Keras's safe_mode refusal, a truncated zip...
            raise UsageError(f"{path}: {refusal(exc)}") from exc
    return loaded


def refusal(exc):
    if type(exc).__name__ == "UnpicklingError":
        why = "it needs more than torch.load(weights_only=True) allows, so nothing was run"
        return f"refused: {why} ({one_line(exc)})"
    return one_line(exc)


def optimizers(args, a, b):
    from rosetta.portcheck.adapters import framework_of as native

    if not args.steps:
        return None
    return tuple(adapter(native(m)).make_optimizer(args.optimizer, args.lr) for m in (a, b))


def run(args):
    """The check of two files; 0 when equal within tolerance, 1 when not (errors: UsageError, 2)."""
    x, y = load_array(args.input, "--input"), load_array(args.target, "--target")
    if args.loss is None and (y is not None or args.steps):
        raise UsageError("--target and --steps need --loss")
    if args.html:
        outdir.check_file(args.html, "--html", (".html", ".htm"))
    a, b = models(args)
    try:
        report = check(a, b, x, y, args.loss, optimizers(args, a, b), args.steps or 0)
    except REFUSED as exc:
        raise UsageError(one_line(exc)) from exc
    print(json.dumps(report.to_dict()) if args.json else report)
    if args.plot:
        from rosetta.portcheck.plot import write

        write(report, args.plot)
    if args.html:
        html.write(report, args.html)
    return 0 if report.ok else 1


def run_transfer(args):
    """SRC's weights into DST's model (rosetta.transfer), written to --out in DST's own format, whole or
    not at all; the mapping printed. 0, or a UsageError (2) naming what could not be placed."""
    from rosetta.portcheck.adapters import framework_of as native
    from rosetta.portcheck.transfer import transfer

    x = load_array(args.input, "--input")
    a, b = models(args)
    framework = native(b)
    outdir.check_file(args.out, "--out", WRITTEN[framework])
    try:
        mapping = transfer(a, b, x)
    except REFUSED as exc:
        raise UsageError(one_line(exc)) from exc
    with outdir.replaced(args.out) as tmp:
        adapter(framework).save(b, tmp)
    print(json.dumps(mapping.to_dict()) if args.json else mapping)
    return 0
