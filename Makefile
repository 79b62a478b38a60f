# Two commands set everything up on a fresh machine:
#   make run    create .venv, install l2cli, run the default sweep
#   make test   create .venv, install l2cli with test extras, lint, run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.installed-run
STAMP      := $(VENV)/.installed-test

.PHONY: venv run lint test test-slow test-all bench bench-cluster bench-estimators bench-lbfgs bench-side-by-side bench-curvature bench-memory bench-path bench-report \
	startup clean docs

$(PY):
	$(PYTHON) -m venv $(VENV)

# editable_mode=compat: the checkout goes on sys.path as a plain path entry, so `import l2cli` finds this
# package from any directory, even from the clone's parent, where the clone's own folder `l2cli/` would
# otherwise be taken for an empty namespace package.
# make run installs what the command needs (and matplotlib for l2cli plot); make test adds the test extras
# (pytest, ruff, hypothesis, Dask, and PyTorch as the optimizers' reference).
$(RUN_STAMP): setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[plot]' --config-settings editable_mode=compat
	touch $(RUN_STAMP)

$(STAMP): setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP) $(RUN_STAMP)

venv: $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/l2cli sweep

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# the default suite on two worker processes (pytest-xdist; two whatever the machine's cores, so that no test's
# outcome depends on the count): 43 s here where one process takes 78 s. The slow suite runs in one process:
# some of its tests time commands, and must have the machine to themselves.
test: lint
	$(PY) -m pytest -n 2

# the reference pages of docs/reference, made from the code (tests/test_docs.py fails when one is stale)
docs: $(STAMP)
	$(PY) -m l2cli.cli.reference docs/reference

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# the whole suite, slow tests included: what CI runs
test-all: test test-slow

bench: $(STAMP)
	$(PY) bench/run.py

bench-cluster: $(STAMP)
	$(PY) bench/cluster.py

bench-estimators: $(STAMP)
	$(PY) bench/estimators.py

bench-lbfgs: $(STAMP)
	$(PY) bench/lbfgs.py

bench-side-by-side: $(STAMP)
	$(PY) bench/side_by_side.py

bench-curvature: $(STAMP)
	$(PY) bench/curvature.py

# memory against the data's size (add --before REF to measure an earlier commit beside, --big for a 2 GB table)
bench-memory: $(STAMP)
	$(PY) bench/memory.py --big

bench-path: $(STAMP)
	$(PY) bench/path.py

# the default run's report: its size, its time after imports, the same bytes from process to process
bench-report: $(STAMP)
	$(PY) bench/report.py

startup: $(STAMP)
	$(PY) bench/startup.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
