"""A progress bar on stderr for the long commands; silent for --json or when not on a terminal."""

import contextlib
import sys


@contextlib.contextmanager
def bar(total, quiet=False, description="training"):
    """Yields advance(label): call it once per finished unit of work."""
    if quiet or not sys.stderr.isatty():
        yield lambda label=None: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, transient=True, console=_stderr_console()) as progress:
        job = progress.add_task(description, total=total)
        yield lambda label=None: progress.update(job, advance=1, description=f"{description} {label or ''}")


def _stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr)
