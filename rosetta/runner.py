"""Run tasks in one framework and collect canonical NumPy results.

Every framework runs in worker processes of its own (`python -m rosetta.runner`), per framework and
Keras backend: Keras fixes its backend at import, JAX's x64 flag is process-wide, a crash in one
framework must not take the others with it, and two NumPy runs side by side as threads of one process
would wait on each other's GIL (the reference's small steps hold it: bench read softmax at 1990 µs a
step, 530 in two workers).
"""

import collections
import contextlib
import ctypes
import functools
import importlib
import importlib.util
import inspect
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from foundation import frameworks, history
from foundation.errors import MissingFrameworkError, RosettaError
from rosetta import plotdata, tasks, timing

PARENT = "ROSETTA_PARENT_PID"  # tells a worker whose death it must not outlive
LIVE = set()  # the worker processes now running, which run_runs ends if it is interrupted


@dataclass(frozen=True)
class Run:
    """One column of a comparison: a framework, and for Keras its backend."""

    framework: str
    backend: str | None = None

    @property
    def label(self):
        return frameworks.label(self.framework, self.backend)


def expand(names, explicit=False):
    """Framework names -> (runs, skipped): the runs whose packages are installed, Keras once per
    backend, the reference always first; and one line naming the others and how to install them.
    A name given explicitly (-f) whose packages are missing is an error, before anything trains."""
    runs, missing = [Run("numpy")], {}
    for name in dict.fromkeys(names):  # -f jax -f jax: once
        frameworks.check(name)
        backends = frameworks.KERAS_BACKENDS if name == "keras" else (None,)
        for run in [Run(name, backend) for backend in backends] if name != "numpy" else []:
            lacking = frameworks.lacking(run.framework, run.backend)
            if lacking:
                missing[run.label] = lacking
            else:
                runs.append(run)
    absent = [name for name in names if name != "numpy" and not any(r.framework == name for r in runs)]
    if explicit and absent:
        raise MissingFrameworkError(f"{', '.join(absent)} not installed: {_hint(missing)}")
    return runs, f"not installed, skipped: {', '.join(missing)} ({_hint(missing)})" if missing else None


def _hint(missing):
    return frameworks.install_hint([module for lacking in missing.values() for module in lacking])


def run_task(fw, task, dtype, steps, params0=None):
    """Everything the tables and plots need from one framework on one task. The run's loss history is
    one figure per window of history.every(steps) steps: Keras then runs that many steps per call."""
    params0 = task.init_params(dtype) if params0 is None else params0
    x, y = task.data()
    loss0, grads0 = fw.loss_and_grads(task, params0, x, y)
    out0 = fw.forward(task, params0, x)
    steps = task.steps if steps is None else steps
    every = history.every(steps)
    start = time.perf_counter()
    params, losses = fw.train(task, params0, steps, every)
    seconds = time.perf_counter() - start
    final_loss, _ = fw.loss_and_grads(task, params, x, y)
    grid = plotdata.inputs(task)
    return {
        "forward0": out0, "loss0": loss0, "grads0": grads0, "params": params,
        "history": np.asarray(losses["loss"]), "steps": steps, "every": every, "seconds": seconds,
        "final_loss": final_loss,
        "metric_value": task.evaluate(fw.forward(task, params, x), y),
        "plot": None if grid is None else fw.forward(task, params, grid),
    }  # fmt: skip


def run_here(label, compute):
    """compute() in this process; a framework that fails to start or crashes (a bad KERAS_BACKEND or
    JAX_PLATFORMS) is one line, as a worker's failure is."""
    try:
        return compute()
    except RosettaError:
        raise
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        raise RosettaError(f"{label} failed: {type(exc).__name__}: {lines[0] if lines else ''}") from exc


def bench_task(fw, task, dtype, steps, params0=None):
    """Steady-state time per step of the framework's train, as compare runs it (rosetta.timing), in a
    worker that has warmed up (warm_up)."""
    params0 = task.init_params(dtype) if params0 is None else params0
    every = history.every(task.steps if steps is None else steps)
    stops = "until" in inspect.signature(fw.train).parameters  # Keras: one build, stopped after a second
    recompiles = fw.__name__ in RECOMPILES
    return timing.steady(_own(fw, task, params0, every), task, _short(fw, every), steps, stops, recompiles)


RECOMPILES = ("impl_jax",)  # the whole schedule one program, compiled once per step count


def stock_task(fw, task, dtype, steps, params0=None, repeats=2):
    """bench_task, and beside it the same for the framework's stock idiom (impl_*/stock.py; the
    NumPy reference has none); then each the best of `repeats` more runs, taken in turns."""
    params0 = task.init_params(dtype) if params0 is None else params0
    own = bench_task(fw, task, dtype, steps, params0)
    if importlib.util.find_spec(f"{fw.__name__}.stock") is None:
        return own
    stock = importlib.import_module(f"{fw.__name__}.stock")
    every = history.every(task.steps if steps is None else steps)
    trains = (_own(fw, task, params0, every), lambda n: stock.train(task, params0, n))
    results = [own, timing.steady(trains[1], task, _short(fw, history.LONGEST), steps)]  # stock: 500 a run
    for _ in range(repeats):
        results = [timing.again(train, result) for train, result in zip(trains, results)]
    return {**results[0], "stock": results[1]}


def _own(fw, task, params0, every):
    """train(n): n steps on compare's path, returning what the run read (Keras: its clock)."""
    return lambda n, **stop: fw.train(task, params0, n, every, **stop)[1]  # stop: Keras's until=


def _short(fw, every):
    """Three executions: Keras reads its clock once per execution (impl_keras.steps_per_execution)."""
    return 3 * getattr(fw, "steps_per_execution", lambda every: 1)(every)


def warm_up(fw, dtype):
    """One short run before a bench worker's first job: the first call pays imports and set-up no later
    call does."""
    xor = tasks.get("xor")
    fw.train(xor, xor.init_params(dtype), 1)


MODES = {"compare": run_task, "bench": bench_task, "stock": stock_task}


READY = "ready"  # a worker's first line: its framework imported, and warmed up for a bench


def worker(framework, mode, dtype, out_dir, jobs, said):
    """The worker process: READY on `said` (its stdout, which only these lines reach), then for each
    job ("task:steps", a line each) one pickle in out_dir, and the job on `said` when done."""
    fw = frameworks.load(framework)
    if mode != "compare":
        warm_up(fw, dtype)
    print(READY, file=said, flush=True)
    for job in jobs:
        name, steps = job.strip().split(":")
        result = MODES[mode](fw, tasks.get(name), dtype, int(steps) if steps else None)
        with open(os.path.join(out_dir, f"{name}.pkl"), "wb") as fh:
            pickle.dump(result, fh)
        print(name, file=said, flush=True)


# A worker beside others takes one thread: torch's OpenMP pool spins against the other worker's, and
# Keras's torch backend then takes 20 ms a step instead of 3.5 (hard-deep, two workers on two cores).
# TensorFlow's two pools likewise: Keras on TensorFlow, xor 124 µs a step with them, 78 on one thread.
SIDE_BY_SIDE = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def run_runs(runs, jobs, dtype, mode="compare", on_done=lambda label: None, workers=None):
    """{run label: {task name: result}} for every run over jobs, `workers` processes side by side
    (default: one per core), one thread each. Each run has two workers taking its jobs from one queue,
    the longest first, so that no single run (Keras's torch backend: ~2 ms a step) holds one core while
    the other is idle, and both end within a job of each other."""
    ordered = sorted(
        runs, key=lambda run: SLOWEST_FIRST.index(run.label) if run.label in SLOWEST_FIRST else 9
    )
    queues = {run: collections.deque(sorted(jobs, key=LONGEST_FIRST[mode])) for run in ordered}
    units = collections.deque(run for run in ordered for _ in range(min(2, len(jobs))))
    results, failed = {run.label: {} for run in runs}, threading.Event()

    def work():
        for run in taken(units):
            if failed.is_set():  # no worker starts after a failure
                return
            done = functools.partial(lambda run, name: on_done(f"{run.label} {name}"), run)
            try:
                results[run.label].update(run_all(run, queues[run], dtype, mode, done, SIDE_BY_SIDE))
            except BaseException:
                failed.set()
                raise

    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(workers) as pool:
        threads = [pool.submit(work) for _ in range(workers)]
        try:
            for thread in as_completed(threads):
                thread.result()  # a worker's error is raised here, as soon as it happens
        except BaseException:  # Ctrl-C, SIGTERM, a failed run: every worker ends now, not when its run does
            failed.set()
            for proc in list(LIVE):
                proc.kill()
            raise
    return {label: {name: by_task[name] for name, _ in jobs} for label, by_task in results.items()}


# µs a step on this project's 2-core machine, slowest first (rosetta bench): they start first
SLOWEST_FIRST = ("keras-torch", "keras-tensorflow", "torch", "numpy", "keras-jax", "jax")


def job_steps(job):
    name, steps = job
    return tasks.get(name).steps if steps is None else steps


# A compare's job takes time in proportion to its steps; a bench's about a second each, plus building
# and compiling its model, the longest for the nets that train the fewest steps (the transformer).
LONGEST_FIRST = {"compare": lambda job: -job_steps(job), "bench": job_steps, "stock": job_steps}


def run_all(run, jobs, dtype, mode="compare", on_done=lambda name: None, env=None):
    """{task name: result} for one run over jobs [(task name, steps or None)], or the jobs it takes from
    a deque that other workers take from too; in a worker process, with `env` added to its environment."""
    jobs = jobs if isinstance(jobs, collections.deque) else collections.deque(jobs)
    if not jobs:  # the other workers have taken them all
        return {}
    return _run_worker(run, jobs, dtype, mode, on_done, env or {})


def taken(jobs):
    """The jobs of a deque, one at a time, until it is empty (deque.popleft is thread-safe)."""
    while True:
        try:
            yield jobs.popleft()
        except IndexError:
            return


def run_alone(runs, jobs, dtype, mode="bench", on_done=lambda name: None):
    """{run label: {task name: result}}: each run's jobs with the machine to itself (its libraries'
    default thread pools), one run after another. Their workers start together, and the first job is
    sent once every one is ready: six imports and first calls (1–5 s each, mostly on one core) took
    8 s side by side on this project's 2-core machine, 15 s one after another."""
    with contextlib.ExitStack() as stack:
        workers = [_start(stack, run, dtype, mode, {}) for run in runs]
        for worker in workers:
            if not _ready(worker):  # it ended: its error, now
                _finish(worker, [])
        return {w.run.label: _finish(w, _feed(w.proc, collections.deque(jobs), on_done)) for w in workers}


def _run_worker(run, jobs, dtype, mode, on_done, extra_env):
    with contextlib.ExitStack() as stack:
        worker = _start(stack, run, dtype, mode, extra_env)
        return _finish(worker, _feed(worker.proc, jobs, on_done) if _ready(worker) else [])


Worker = collections.namedtuple("Worker", "run proc out_dir err")


def _start(stack, run, dtype, mode, extra_env):
    """A worker process for `run`, with `extra_env` added to its environment, killed when `stack`
    closes: Ctrl-C, SIGTERM (rosetta.cli turns it into SystemExit), any error; no orphan."""
    env = dict(os.environ, **extra_env)
    env["KERAS_BACKEND"] = run.backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    env[PARENT] = str(os.getpid())
    out_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="rosetta-"))
    err = stack.enter_context(open(os.path.join(out_dir, "stderr"), "w+"))
    cmd = [sys.executable, "-m", "rosetta.runner", run.framework, mode, dtype, out_dir]
    proc = subprocess.Popen(
        cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
    )
    LIVE.add(proc)
    stack.callback(_end, proc)
    return Worker(run, proc, out_dir, err)


def _end(proc):
    proc.kill()
    proc.wait()
    LIVE.discard(proc)


def _ready(worker):
    """Whether the worker has imported its framework and made its first call. If not (it has ended,
    or said something else), it is ended now, and _finish raises its error."""
    if worker.proc.stdout.readline().strip() == READY:
        return True
    worker.proc.kill()
    return False


def _finish(worker, done):
    """{task name: result} for the jobs done, once the worker has ended; its failure is raised with
    the last line of its stderr."""
    if worker.proc.wait() != 0:
        worker.err.seek(0)
        lines = worker.err.read().strip().splitlines()
        last = lines[-1] if lines else f"exit code {worker.proc.returncode}"
        raise RosettaError(f"{worker.run.label} failed: {last}")
    return {name: _load(os.path.join(worker.out_dir, f"{name}.pkl")) for name in done}


def _feed(proc, jobs, on_done):
    """The names of the jobs the worker did: each job on its stdin when it has done the one before, until
    the deque is empty or the worker has ended (its error is on its stderr)."""
    done = []
    try:
        for name, steps in taken(jobs):
            proc.stdin.write(f"{name}:{'' if steps is None else steps}\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                break
            done.append(name)
            on_done(line.strip())
        proc.stdin.close()
    except BrokenPipeError:  # it ended before reading its job
        pass
    return done


def _load(path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def die_with_parent(parent):
    """End this worker when the process that started it ends, however it ends: on Linux the kernel
    sends SIGTERM (prctl PR_SET_PDEATHSIG = 1); elsewhere a thread polls the parent id."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    else:
        threading.Thread(target=_poll_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it ended before the prctl call
        sys.exit("rosetta: the parent process has ended")


def _poll_parent(parent):
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


if __name__ == "__main__":
    framework, mode, dtype, out_dir = sys.argv[1:]
    if PARENT in os.environ:
        die_with_parent(int(os.environ[PARENT]))
    said, sys.stdout = sys.stdout, sys.stderr  # a library's print goes to stderr, not into the protocol
    try:
        worker(framework, mode, dtype, out_dir, sys.stdin, said)
    except RosettaError as exc:
        sys.exit(str(exc))  # the parent reports the last line of stderr
