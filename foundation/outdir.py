"""Output locations: checked before any training, and a folder's files written all or nothing.

The files are written into a hidden staging folder inside the target folder itself, so that moving
them in is a rename within one filesystem (a rename cannot cross a mount: a Docker volume, a symlink
to /dev/shm), and moved in only once every one was written and none would land on a folder.
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from foundation.errors import UsageError


def folder_problem(folder):
    """Why files cannot be created in `folder`, or None: probed by creating one."""
    folder = Path(folder)
    if not folder.is_dir():
        return "is not a folder" if folder.exists() else "does not exist"
    try:
        fd, probe = tempfile.mkstemp(prefix=".rosetta-probe-", dir=folder)
    except OSError as exc:
        return f"is not writable ({exc.strerror})"
    os.close(fd)
    os.unlink(probe)
    return None


def check_file(path, option, suffixes):
    """Raise UsageError now, before any work, if a file could not be written at `path`: a folder there,
    a suffix not in `suffixes`, a folder that cannot take it."""
    path = Path(os.path.realpath(path))
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a folder")
    if path.suffix not in suffixes:
        raise UsageError(f"{option} {str(path)!r}: expected a {' or '.join(suffixes)} file")
    problem = folder_problem(path.parent)
    if problem:
        raise UsageError(f"{option} {str(path)!r}: {str(path.parent)!r} {problem}")


def check(out, names=()):
    """Raise UsageError now if `out` could not receive files `names`: it is not a folder, a folder
    on its way cannot be created, or one of the names is a folder inside it."""
    out = Path(os.path.realpath(out))
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    ancestor = next(p for p in [out, *out.parents] if p.exists() or p == p.parent)
    problem = folder_problem(ancestor)
    if problem:
        raise UsageError(f"--out {str(out)!r}: {str(ancestor)!r} {problem}")
    for name in names:
        if (out / name).is_dir() and not (out / name).is_symlink():
            raise UsageError(f"--out {str(out)!r}: {name!r} there is a folder, not a file")


@contextlib.contextmanager
def staged(out):
    """Yields a staging Path; on success its files replace their namesakes in `out` (created if
    needed), on any error the staging folder and the folders created for it are removed."""
    out = Path(os.path.realpath(out))
    check(out)
    created = [p for p in [out, *out.parents] if not p.exists()][::-1]  # outermost first
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".rosetta-stage-", dir=out))
    try:
        yield stage
        names = sorted(path.name for path in stage.iterdir())
        check(out, names)  # nothing moved yet: a folder in the way leaves `out` as it was
        for name in names:
            os.replace(stage / name, out / name)
        created = []
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def replaced(path):
    """Yields a temporary file beside `path` (its suffix) to write; on success it replaces `path`, with
    the mode a new file gets from the umask, on any error it is removed: `path` is never half-written."""
    path = Path(os.path.realpath(path))  # the temporary file beside the target, not the symlink
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600 (safetensors too)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
