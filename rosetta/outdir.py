"""Write a folder's files all or nothing: a staging folder beside it, moved in at the end."""

import contextlib
import shutil
import tempfile
from pathlib import Path

from rosetta.errors import UsageError


@contextlib.contextmanager
def staged(out):
    """Yields a staging Path; on success its files move into `out` (created if needed), on any
    error the staging folder is removed and `out` is left as it was."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        yield stage
        out.mkdir(exist_ok=True)
        for path in stage.iterdir():
            path.replace(out / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
