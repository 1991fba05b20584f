"""Progress on stderr for the long commands: a bar on a terminal, a line per finished unit of work
otherwise (a log, CI); silent for --json."""

import contextlib
import sys
import threading
import time


@contextlib.contextmanager
def bar(total, quiet=False, description="training"):
    """Yields advance(label): call it once per finished unit of work."""
    if quiet:
        yield lambda label=None: None
        return
    if not sys.stderr.isatty():
        yield lines(total, description)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, transient=True, console=_stderr_console()) as progress:
        job = progress.add_task(description, total=total)
        yield lambda label=None: progress.update(job, advance=1, description=f"{description} {label or ''}")


def _stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr)


def lines(total, description):
    """advance(label) printing "training 3/66 keras-torch xor (41.2 s)" on its own line."""
    start, done = time.perf_counter(), [0]
    lock = threading.Lock()  # runs finish in threads side by side

    def advance(label=None):
        with lock:
            done[0] += 1
            seconds = time.perf_counter() - start
            print(
                f"{description} {done[0]}/{total} {label or ''} ({seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    return advance
