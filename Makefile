# `make test` and `make demo` set everything up on a fresh machine with Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test test-tensorflow test-jax-torch demo lint

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

setup: $(STAMP)

# Keras fixes its backend at import: the whole suite runs on tensorflow (Keras's default), and the Keras
# tests run again on jax and on torch, each in its own process; the two streams share the two cores.
test: $(STAMP)
	$(PY) -m ruff check .
	$(MAKE) --no-print-directory -j2 --output-sync=target test-tensorflow test-jax-torch

test-tensorflow: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest

test-jax-torch: $(STAMP)
	KERAS_BACKEND=jax $(PY) -m pytest -k keras parity_tests/test_keras.py parity_tests/test_divergences.py
	KERAS_BACKEND=torch $(PY) -m pytest -k keras parity_tests/test_keras.py parity_tests/test_divergences.py

demo: $(STAMP)
	$(VENV)/bin/rosetta compare all

lint: $(STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
