# `make test` and `make demo` set everything up on a fresh machine with Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test test-tensorflow test-jax-torch test-one-thread demo lint study

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

# The --html page's test opens it in a headless Chromium: Debian's package, installed where the suite
# runs (as root, or with sudo); on this project's machine the package lists and the install took 30 s.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

setup: $(STAMP) $(CHROMIUM)

# Keras fixes its backend at import: the suite runs on tensorflow (Keras's default), and the Keras tests
# run again on jax and on torch, each in its own process; the two streams share the two cores, the
# second one also taking SECOND (the files with no Keras in them, and a few that run on Keras's default
# backend there, tensorflow, and three small ones with no Keras) so that both end about together: 389 s
# and 375 s of tests in CI's last clean clone, 6:44 to 7:46 with the venv ready (the second stream has
# four processes to start and end).
test: $(STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	rm -rf $(JAX_CACHE)
	$(MAKE) --no-print-directory -j2 --output-sync=target test-tensorflow test-jax-torch
	rm -rf $(JAX_CACHE)

SECOND := parity_tests/test_study.py parity_tests/test_study_pages.py parity_tests/test_cli.py \
	parity_tests/test_core.py parity_tests/test_before_graph.py parity_tests/test_reference_graph.py
CHECK_TESTS := $(filter-out $(SECOND),$(sort $(wildcard parity_tests/test_check*.py)))
KERAS_PARITY := parity_tests/test_contract.py parity_tests/test_keras.py parity_tests/test_divergences.py

# Two streams on two cores: each library in each stream on one thread. With their default pools (a
# thread per core in torch, TensorFlow, XLA and OpenMP, in both streams) the small ops of these tests
# wait on each other: 78 trajectory tests took 406 s wall and 202 s of CPU, on one thread each 77 s and
# 86 s, on this project's 2-core machine with a second job running. The arithmetic moves at rounding
# level only, which the tests must stand anyway (test-one-thread, below, takes one core further).
THREADS := ROSETTA_ONE_THREAD=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
# XLA_FLAGS: --flags only. XLA stops reading at the first word without "--" and ignores the rest
# silently: the common recipe's "intra_op_parallelism_threads=1", once here, dropped QUICK_XLA's -O0
# below from every port-check run.
test-tensorflow test-jax-torch: export XLA_FLAGS += --xla_cpu_multi_thread_eigen=false

# XLA compiles the same small programs in several of the suite's processes (Flax's and Keras-on-jax's ops,
# impl_jax's steps): JAX's persistent cache, empty at the start of each `make test` and removed at its
# end, compiles each once for the run (a cached program is the same executable; nothing numeric moves).
# Every program, however quick to compile.
JAX_CACHE := $(CURDIR)/.jax-cache
test-tensorflow test-jax-torch: export JAX_COMPILATION_CACHE_DIR = $(JAX_CACHE)
test-tensorflow test-jax-torch: export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS = 0
test-tensorflow test-jax-torch: export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES = 0

# Flax's and Keras-on-jax's initializers draw from JAX's PRNG, one compiled program per weight shape, and
# no test relies on the numbers drawn: parity overwrites them with the task's weights, port-check copies
# an original's random weights into its port. Philox (philox4x32: a 64-bit key, as the default
# threefry2x32's, which Keras's seed generator expects) compiles them 3–4× faster.
test-tensorflow test-jax-torch: export JAX_DEFAULT_PRNG_IMPL = philox4x32

# The port-check's tests compile hundreds of small XLA programs (Flax's initializers, Keras-on-jax's
# ops) and run each a few times: for them LLVM's backend optimizations are off, which cuts their time
# by a quarter. The parity tests of impl_jax and impl_keras compile as a user's run does.
QUICK_XLA := XLA_FLAGS="$$XLA_FLAGS --xla_backend_optimization_level=0"

test-tensorflow: $(STAMP) $(CHROMIUM)
	$(THREADS) KERAS_BACKEND=tensorflow $(PY) -m pytest $(addprefix --ignore=,$(SECOND) $(CHECK_TESTS))
	$(THREADS) KERAS_BACKEND=tensorflow $(QUICK_XLA) $(PY) -m pytest $(CHECK_TESTS)

# On jax and torch, the port-check's correct ports in float64 only (the dtype whose tolerances are
# measured per block, where these backends compute some ops in float32), and the zoo's first ports
# only: its planted bugs are found from captured values by the same NumPy re-runs on every backend,
# and each backend's capture is proven by the correct ports. Tensorflow runs all of them. Of transfer's
# tests, the ones whose writes differ by backend: Keras's writes read back, an MLP in every direction.
OTHER_BACKENDS := -k "keras and not (float32 and (correct or is_ok)) and not planted_bug and not second_port \
	and (not test_check_transfer or mlp or keras_writes)"

test-jax-torch: $(STAMP) $(CHROMIUM)
	$(THREADS) KERAS_BACKEND=jax $(PY) -m pytest $(OTHER_BACKENDS) $(KERAS_PARITY)
	$(THREADS) KERAS_BACKEND=jax $(QUICK_XLA) $(PY) -m pytest $(OTHER_BACKENDS) $(CHECK_TESTS)
	$(THREADS) KERAS_BACKEND=torch $(PY) -m pytest $(OTHER_BACKENDS) $(KERAS_PARITY) $(CHECK_TESTS)
	$(THREADS) $(PY) -m pytest $(SECOND)

# The same suite with other arithmetic and the same code: both streams on one core (each library already
# on one thread, THREADS above) and TensorFlow's oneDNN kernels off. Rounding-level numbers move; nothing
# the tests assert may. Not in CI (one core takes about twice as long); run it when a change touches
# tolerances or divergence rows.
test-one-thread: $(STAMP)
	TF_ENABLE_ONEDNN_OPTS=0 taskset -c 0 $(MAKE) --no-print-directory test-tensorflow test-jax-torch

demo: $(STAMP)
	$(VENV)/bin/rosetta compare all

# One page per family: its network written natively in NumPy, JAX, torch and Keras, side by side, proven
# equal in the same run (rosetta study).
study: $(STAMP)
	$(VENV)/bin/rosetta study all --out out/study

lint: $(STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
