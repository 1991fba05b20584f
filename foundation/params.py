"""Canonical weights: validation, and save/load as .safetensors or .npz (keys layers.{i}.W/.U/.b/.alpha).

Canonical = a list with one dict per layer: {"W": (fan_in, fan_out), "b": (fan_out,)} per Dense layer,
"b" absent when the layer has no bias, "alpha": (fan_out,) present when its activation is PReLU;
Conv2D {"W": (kh, kw, in, out), "b": (out,)}; LSTM and GRU {"W", "U", "b"} (foundation.layouts); {} for
Pool2D and Flatten, which have no keys in a file. All arrays float64 or all float32, finite.
"""

import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from foundation import outdir
from foundation.errors import ParamsError, RosettaError, UsageError

SUFFIXES = (".safetensors", ".npz")
# a node's arrays: kernel, recurrent kernel, bias, PReLU's slopes; BatchNorm's scale, shift and running
# statistics; a Bidirectional node's backward-reading layer
KEYS = ("W", "U", "b", "alpha", "gamma", "beta", "moving_mean", "moving_variance", "W_r", "U_r", "b_r")


def expected_shapes(task):
    """[{"W": shape, "b": shape, ...}, ...] for the task's model, {} for a layer without weights."""
    return task.weight_shapes


def validate(task, params, dtype=None):
    """Check layer count, keys, shapes, one float dtype and finiteness; return the dtype.

    Every error names the layer and what was expected. The one check of weights, for files and the
    API alike (foundation.validate)."""
    shapes = expected_shapes(task)
    if not isinstance(params, (list, tuple)) or len(params) != len(shapes):
        got = len(params) if isinstance(params, (list, tuple)) else type(params).__name__
        raise ParamsError(f"task {task.name!r} has {len(shapes)} layers, weights have {got}")
    for i, (layer, shape, spec) in enumerate(zip(params, shapes, task.layers)):
        keys = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
        if keys != sorted(shape):
            raise ParamsError(f"{where(i, spec)}: expected keys {sorted(shape)}, got {keys}")
    i, key = first_array(params)
    dtype = np.dtype(dtype or np.asarray(params[i][key]).dtype)
    if dtype not in (np.float32, np.float64):
        raise ParamsError(f"layer {i} {key!r}: expected dtype float64 or float32, got {dtype}")
    for i, (layer, shape, spec) in enumerate(zip(params, shapes, task.layers)):
        for key, want in shape.items():
            _check_array(f"{where(i, spec)} {key!r}", np.asarray(layer[key]), want, dtype)
    return dtype


def where(i, spec):
    """How an error names layer i: layer 2, with the kind beyond Dense: layer 0 (LSTM)."""
    kind = type(spec).__name__
    return f"layer {i}" if kind == "Layer" else f"layer {i} ({kind})"


def first_array(params):
    """(layer index, key) of the first array in the weights: what their dtype is read from."""
    return next((i, key) for i, layer in enumerate(params) for key in layer)


def dtype_of(params):
    """The float dtype of canonical weights (of their first array: Pool2D and Flatten have none)."""
    i, key = first_array(params)
    return np.asarray(params[i][key]).dtype


def _check_array(where, value, shape, dtype):
    if value.shape != shape:
        raise ParamsError(f"{where}: expected shape {shape}, got {value.shape}")
    if value.dtype != dtype:
        raise ParamsError(f"{where}: expected dtype {dtype}, got {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ParamsError(f"{where}: contains NaN or Inf")


def to_flat(params):
    """[{"W", "b", "alpha"}, ...] -> {"layers.0.W": ..., "layers.0.b": ..., ...}"""
    return {
        f"layers.{i}.{k}": np.ascontiguousarray(v) for i, layer in enumerate(params) for k, v in layer.items()
    }


def from_flat(flat, task=None):
    """{"layers.0.W": ..., ...} -> canonical list; rejects keys outside the layout. A layer without
    weights (Pool2D, Flatten) has no keys: with the task, its index becomes {}."""
    layers = {}
    for name, value in flat.items():
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "layers" or not parts[1].isdigit() or parts[2] not in KEYS:
            raise ParamsError(
                f"unexpected key {name!r}; expected layers.{{i}}.{{key}}, key one of {', '.join(KEYS)}"
            )
        layers.setdefault(int(parts[1]), {})[parts[2]] = np.asarray(value)
    weightless = [] if task is None else [i for i, shapes in enumerate(task.weight_shapes) if not shapes]
    for i in weightless:
        layers.setdefault(i, {})
    if sorted(layers) != list(range(len(layers))):
        raise ParamsError(
            f"layer numbers must be 0..{len(layers) - 1}, got {sorted(layers)}"
            + ("" if task else " (a model with weightless layers: load it with its task)")
        )
    return [layers[i] for i in range(len(layers))]


def _suffix(path):
    suffix = Path(path).suffix
    if suffix not in SUFFIXES:
        raise ParamsError(f"weight file {str(path)!r}: expected a {' or '.join(SUFFIXES)} file")
    return suffix


def check_destination(path):
    """Raise UsageError now (before any training) if weights could not be saved at `path`."""
    _suffix(path)
    path = Path(os.path.realpath(path))
    if path.is_dir():
        raise UsageError(f"--save {str(path)!r} is a folder")
    problem = outdir.folder_problem(path.parent)
    if problem:
        raise UsageError(f"--save {str(path)!r}: {str(path.parent)!r} {problem}")


def save(path, params, task=None):
    """Write canonical weights atomically (a temporary file renamed into place), with the mode a
    new file gets from the umask."""
    suffix = _suffix(path)
    if task is not None:
        validate(task, params)
    with outdir.replaced(path) as tmp:
        if suffix == ".npz":
            np.savez(tmp, **to_flat(params))
        else:
            from safetensors.numpy import save_file

            save_file(to_flat(params), tmp)


HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def npz_headers(path):
    """{key: zero-stride array of the member's shape and dtype}, from the .npy headers alone: the
    shapes are checked before any data is decompressed, and no pickle is ever read."""
    if not zipfile.is_zipfile(path):
        raise ParamsError(f"weight file {str(path)!r} is not a .npz file (not a zip archive)")
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                read_header = HEADER_READERS.get(np.lib.format.read_magic(member))
                if read_header is None:
                    raise ParamsError(f"weight file {str(path)!r}: {name!r} is not a .npy version 1 or 2")
                shape, _, dtype = read_header(member)
            if dtype.hasobject:
                raise ParamsError(
                    f"weight file {str(path)!r}: {name!r} holds pickled Python objects, never loaded"
                )
            headers[name.removesuffix(".npy")] = np.broadcast_to(np.zeros((), dtype), shape)
    return headers


def _read(path, suffix):
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    from safetensors.numpy import load_file

    return load_file(path)


def _kind(path):
    """'does not exist', or what a path that is not a regular file is."""
    if not path.exists():
        return "does not exist"
    mode = path.stat().st_mode
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a device",
        stat.S_ISBLK: "a device",
    }
    kind = next((kind for test, kind in kinds.items() if test(mode)), "not a regular file")
    return f"is {kind}, not a weight file"


def load(path, task=None):
    """Read canonical weights; with a task, validate them against its model (for .npz from the
    headers first)."""
    suffix = _suffix(path)
    if not Path(path).is_file():
        raise ParamsError(f"weight file {str(path)!r} {_kind(Path(path))}")
    try:
        headers = npz_headers(path) if suffix == ".npz" else None
        if headers is not None and task is not None:
            validate(task, from_flat(headers, task))
        flat = _read(path, suffix)
    except RosettaError:
        raise
    except Exception as exc:  # zipfile, numpy's header and safetensors' own errors alike
        raise ParamsError(f"weight file {str(path)!r} is not a readable {suffix} file: {exc}") from exc
    params = from_flat(flat, task)
    if task is not None:
        validate(task, params)
    return params
