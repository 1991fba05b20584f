"""Canonical weights: validation, and save/load as .safetensors or .npz (keys layers.{i}.W/.b).

Canonical = a list with one {"W": (fan_in, fan_out), "b": (fan_out,)} per Dense layer, "b" absent
when the layer has no bias; all arrays float64 or all float32, finite.
"""

import os
import tempfile
from pathlib import Path

import numpy as np

from rosetta.errors import ParamsError

SUFFIXES = (".safetensors", ".npz")


def expected_shapes(task):
    """[{"W": (fan_in, fan_out), "b": (fan_out,)}, ...] for the task's model."""
    sizes = task.sizes
    shapes = []
    for i, layer in enumerate(task.layers):
        shape = {"W": (sizes[i], sizes[i + 1])}
        if layer.bias:
            shape["b"] = (sizes[i + 1],)
        shapes.append(shape)
    return shapes


def validate(task, params, dtype=None):
    """Check layer count, keys, shapes, one float dtype and finiteness; return the dtype.

    Every error names the layer and what was expected."""
    shapes = expected_shapes(task)
    if not isinstance(params, (list, tuple)) or len(params) != len(shapes):
        got = len(params) if isinstance(params, (list, tuple)) else type(params).__name__
        raise ParamsError(f"task {task.name!r} has {len(shapes)} layers, weights have {got}")
    dtype = np.dtype(dtype or np.asarray(params[0].get("W")).dtype)
    if dtype not in (np.float32, np.float64):
        raise ParamsError(f"layer 0 'W': expected dtype float64 or float32, got {dtype}")
    for i, (layer, shape) in enumerate(zip(params, shapes)):
        if set(layer) != set(shape):
            raise ParamsError(f"layer {i}: expected keys {sorted(shape)}, got {sorted(layer)}")
        for key, want in shape.items():
            _check_array(f"layer {i} {key!r}", np.asarray(layer[key]), want, dtype)
    return dtype


def _check_array(where, value, shape, dtype):
    if value.shape != shape:
        raise ParamsError(f"{where}: expected shape {shape}, got {value.shape}")
    if value.dtype != dtype:
        raise ParamsError(f"{where}: expected dtype {dtype}, got {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ParamsError(f"{where}: contains NaN or Inf")


def to_flat(params):
    """[{"W", "b"}, ...] -> {"layers.0.W": ..., "layers.0.b": ..., ...}"""
    return {
        f"layers.{i}.{k}": np.ascontiguousarray(v) for i, layer in enumerate(params) for k, v in layer.items()
    }


def from_flat(flat):
    """{"layers.0.W": ..., ...} -> canonical list; rejects keys outside the layout."""
    layers = {}
    for name, value in flat.items():
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "layers" or not parts[1].isdigit() or parts[2] not in ("W", "b"):
            raise ParamsError(f"unexpected key {name!r}; expected layers.{{i}}.W or layers.{{i}}.b")
        layers.setdefault(int(parts[1]), {})[parts[2]] = np.asarray(value)
    if sorted(layers) != list(range(len(layers))):
        raise ParamsError(f"layer numbers must be 0..{len(layers) - 1}, got {sorted(layers)}")
    return [layers[i] for i in range(len(layers))]


def _suffix(path):
    suffix = Path(path).suffix
    if suffix not in SUFFIXES:
        raise ParamsError(f"weight file {str(path)!r}: expected a {' or '.join(SUFFIXES)} file")
    return suffix


def save(path, params, task=None):
    """Write canonical weights atomically (a temporary file renamed into place)."""
    suffix = _suffix(path)
    if task is not None:
        validate(task, params)
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=Path(path).parent)
    os.close(fd)
    try:
        if suffix == ".npz":
            np.savez(tmp, **to_flat(params))
        else:
            from safetensors.numpy import save_file

            save_file(to_flat(params), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read(path, suffix):
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    from safetensors.numpy import load_file

    return load_file(path)


def load(path, task=None):
    """Read canonical weights; with a task, validate them against its model."""
    suffix = _suffix(path)
    if not Path(path).is_file():
        raise ParamsError(f"weight file {str(path)!r} does not exist")
    try:
        flat = _read(path, suffix)
    except Exception as exc:  # zipfile, pickle-refusal and safetensors' own errors alike
        raise ParamsError(f"weight file {str(path)!r} is not a readable {suffix} file: {exc}") from exc
    params = from_flat(flat)
    if task is not None:
        validate(task, params)
    return params
