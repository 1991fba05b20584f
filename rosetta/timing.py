"""Steady-state seconds per training step, with the run's length chosen as timeit chooses its loop
count.

Every call of train pays a fixed cost before its steps: building the model, tracing, compiling. A
run that reads the clock inside itself (Keras's fit, at each execution's end) gives its steady state
directly: from the end of its first execution to the end of its last, within each fit call (a later
call's set-up stays out as the first's does); one that can also stop itself
(train(n, until=seconds): Keras's) runs once, up to LONG steps, until its steady state has taken TARGET
seconds, so that its model is built and compiled once. A run compiled anew for each step count (JAX's
whole schedule, one program) keeps one count, the task's own schedule where that is long enough: its
first run's extra time is the fixed cost, and its cached runs are repeated up to TARGET. Any other run
is timed whole; the step count grows until the steady state takes about TARGET seconds (a steady state
read from the clock, or from a second run, predicts the next count to a few percent), unless the
caller says how many steps to run.
"""

import functools
import math
import time

import numpy as np

from foundation.validate import MAX_STEPS

TARGET = 1.0  # seconds of steady state
SHORT = 8  # steps of the first run, at least
LONG = 50_000  # steps of a run that stops itself, at most: 1.3 s at Keras's fastest here (jax, xor: 27 µs)
now = time.perf_counter  # the clock (a test's own, in a test)


def steady(train, task, short, steps=None, stops=False, recompiles=False):
    """{"steps", "seconds"} of the steady state, "fixed", the seconds of one run less its steps', and
    "run", its steps, for train(n), which trains n steps and returns None or what it read: {"clock":
    (steps done, seconds) at each execution's end}. The first run has `short` steps, at least (three
    executions of a clocked run); with `stops`, train(n, until=TARGET) is run, up to LONG steps; with
    `recompiles`, see compiled_once."""
    if recompiles:
        return compiled_once(train, task, steps)
    if stops and steps is None:
        train, short = functools.partial(train, until=TARGET), max(short, LONG)
    n = epochs(task, steps or max(SHORT, short))
    (k, seconds), whole, n = run(train, n)
    while steps is None and seconds < TARGET / 2 and n < MAX_STEPS:
        per_step = seconds / max(k, 1)
        n = min(epochs(task, n * min(1000.0, TARGET / max(seconds, TARGET / 1000))), MAX_STEPS)
        (k, seconds), whole, n = run(train, n, expected=n * per_step)
    if k == 0:  # one clock reading, nothing between two: a second run, timed whole
        k, seconds = n, timed(train, n)[0]
    seconds = max(seconds, 1e-9)  # a run too short for the clock
    return {"steps": k, "seconds": seconds, "fixed": max(whole - n * seconds / k, 0.0), "run": n}


def compiled_once(train, task, steps=None):
    """steady for a train(n) compiled anew for each n: runs of one step count, the first timed whole
    (its extra time is the fixed cost, compiling), the next ones from the cache, repeated until they add
    up to TARGET. The count: `steps`, run twice; else the task's own schedule (compare's run, one
    program), unless its run takes under TARGET/20: then a count predicted to take TARGET/10 a run,
    compiled once more. A run of TARGET/20 holds the call's own overhead (building the model and the
    schedule, copying the history back: under 0.5 ms on this project's 2-core machine) to 1 %."""
    n = epochs(task, steps or max(SHORT, task.steps))
    whole, seconds = timed(train, n)[0], timed(train, n)[0]
    fixed = max(whole - seconds, 0.0)
    while steps is None and seconds < TARGET / 20 and n < MAX_STEPS:
        n = min(epochs(task, n * min(1000.0, TARGET / 10 / max(seconds, 1e-9))), MAX_STEPS)
        timed(train, n)  # compiles
        seconds = timed(train, n)[0]
    k, seconds = (n, seconds) if steps else repeated(train, n, n, seconds)
    return {"steps": k, "seconds": max(seconds, 1e-9), "fixed": fixed, "run": n}


def repeated(train, n, k, seconds):
    """(steps, seconds) of runs of n steps, the first (k, seconds), until they add up to TARGET."""
    while seconds < TARGET:
        k, seconds = k + n, seconds + timed(train, n)[0]
    return k, seconds


def again(train, result):
    """The faster of `result` and one more run of its length: timeit's best of repeats."""
    (k, seconds), _, _ = run(train, result["run"])
    faster = k > 0 and seconds / k < result["seconds"] / result["steps"]
    return {**result, "steps": k, "seconds": seconds} if faster else result


def run(train, n, expected=None):
    """((steps, seconds) of the steady state, seconds of the whole first run, its steps): from the
    run's clock (within), the steps to its last reading; or the run itself, timed whole, when it took
    at most 10% more than `expected` (nothing compiled); else a second run of n steps."""
    whole, read = timed(train, n)
    if read is not None and "clock" in read:
        return within(read["clock"]), whole, int(read["clock"][-1][0])
    if expected is not None and whole <= 1.1 * expected:
        return (n, whole), whole, n
    return (n, timed(train, n)[0]), whole, n


def within(clock):
    """(steps, seconds) from the first reading to the last of each fit call, summed, for a clock of rows
    (steps done, seconds[, call]): a later call's set-up and first execution stay out as the first's
    do. (0, 0) with one reading a call."""
    clock = np.asarray(clock, dtype=float)
    calls = clock[:, 2] if clock.shape[1] > 2 else np.zeros(len(clock))
    spans = [clock[calls == call] for call in np.unique(calls)]
    return int(sum(s[-1, 0] - s[0, 0] for s in spans)), float(sum(s[-1, 1] - s[0, 1] for s in spans))


def timed(train, n):
    """(seconds, what the run returned)."""
    start = now()
    read = train(n)
    return now() - start, read


def epochs(task, steps):
    """`steps` rounded up to whole epochs (a stock fit runs whole epochs)."""
    return math.ceil(steps / task.steps_per_epoch) * task.steps_per_epoch
