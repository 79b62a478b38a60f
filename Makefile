# Two commands set everything up on a fresh machine:
#   make run    create .venv, install l2cli, run the default sweep
#   make test   create .venv, install l2cli with test extras, lint, run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv run lint test test-slow test-all bench bench-cluster bench-estimators bench-lbfgs startup clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/l2cli sweep

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# the whole suite, slow tests included: what CI runs
test-all: test test-slow

bench: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0 || echo "torch not available: benchmarks run without the PyTorch column"
	$(PY) bench/run.py

bench-cluster: $(STAMP)
	$(PY) bench/cluster.py

bench-estimators: $(STAMP)
	$(PY) bench/estimators.py

bench-lbfgs: $(STAMP)
	$(PY) bench/lbfgs.py

startup: $(STAMP)
	$(PY) bench/startup.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
