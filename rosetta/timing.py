"""Steady-state seconds per training step, with the run's length chosen as timeit chooses its loop
count.

Every call of train pays a fixed cost before its steps: building the model, tracing, compiling. A
run that reads the clock inside itself (Keras's fit, at each execution's end) gives its steady state
directly: from the end of its first window of steps to the end of its last. Any other run is timed
whole, twice: its compiled code is cached by then (JAX compiles once per step count), and the first
run's extra time is the fixed cost. The step count grows until the steady state takes about TARGET
seconds, unless the caller says how many steps to run.
"""

import math
import time

from rosetta import history
from rosetta.validate import MAX_STEPS

TARGET = 1.0  # seconds of steady state
WINDOWS = 3  # windows of steps in the first run, at least


def steady(train, task, every, steps=None):
    """{"steps", "seconds"} of the steady state and "fixed", the seconds of one run less its steps',
    for train(n), which trains n steps in windows of `every` and returns what it read or None."""
    n = epochs(task, steps or WINDOWS * every)
    (k, seconds), whole = run(train, n, every)
    while steps is None and seconds < TARGET / 2 and n < MAX_STEPS:
        n = min(epochs(task, n * min(100.0, TARGET / max(seconds, TARGET / 100))), MAX_STEPS)
        (k, seconds), whole = run(train, n, every)
    if k == 0:  # one window, nothing between two clock readings: a second run, timed whole
        k, seconds = n, timed(train, n)
    seconds = max(seconds, 1e-9)  # a run too short for the clock
    return {"steps": k, "seconds": seconds, "fixed": max(whole - n * seconds / k, 0.0), "run": n}


def again(train, result, every):
    """The faster of `result` and one more run of its length: timeit's best of repeats."""
    (k, seconds), _ = run(train, result["run"], every)
    faster = k > 0 and seconds / k < result["seconds"] / result["steps"]
    return {**result, "steps": k, "seconds": seconds} if faster else result


def run(train, n, every):
    """((steps, seconds) of the steady state, seconds of the whole first run); (0, 0) when the run's
    clock saw one window only."""
    start = time.perf_counter()
    read = train(n)
    whole = time.perf_counter() - start
    if read is not None and "seconds" in read:  # a clock inside the run
        return clocked(read, n, every), whole
    return (n, timed(train, n)), whole


def clocked(read, n, every):
    """(steps, seconds) from the end of the run's first window of steps to the end of its last."""
    if "steps" in read:  # the run's own count
        return read["steps"], read["seconds"]
    ends = history.ends(n, every)
    return int(ends[-1] - ends[0]), read["seconds"][-1] - read["seconds"][0]


def timed(train, n):
    start = time.perf_counter()
    train(n)
    return time.perf_counter() - start


def epochs(task, steps):
    """`steps` rounded up to whole epochs (a stock fit runs whole epochs)."""
    return math.ceil(steps / task.steps_per_epoch) * task.steps_per_epoch
