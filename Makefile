# Backstride: `make run` serves the demo, `make test` runs the suite. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PYTEST_ARGS ?=

.PHONY: run test test-future lint bench venv dev clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

venv: $(VENV)/.runtime
dev: $(VENV)/.dev

run: $(VENV)/.runtime
	$(FLASK) setup
	$(FLASK) serve

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The suite runs on SQLite; with TEST_DATABASE_URL set, the database-backed tests run again on
# PostgreSQL (the pure rules/integrations tests do not touch a database and run once), and the
# tests that start their own PostgreSQL server (pgserver) move to that run. The two
# pytest runs go at the same time (tests/suites.py), each into test-artifacts/pytest-<backend>.log,
# printed when it ends; either failing fails `make test`.
test: $(VENV)/.dev
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m tests.suites $(PYTEST_ARGS)

# The suite with the clock a year ahead: libfaketime (the PyPI package bundles the library) is
# preloaded, so every clock read in the tests, the app, its subprocesses and SQLite moves on;
# monotonic clocks (timeouts) stay real. PostgreSQL's own now() does not move, so tests pass
# times explicitly instead of comparing it with ours. FAKETIME can be overridden (e.g. +730d).
FAKETIME ?= +365d
FAKETIME_ENV = LD_PRELOAD="$$($(PY) -c 'import libfaketime, os; print(os.path.join(os.path.dirname(libfaketime.__file__), "vendor/libfaketime/src/libfaketime.so.1"))')" \
	FAKETIME="$(FAKETIME)" DONT_FAKE_MONOTONIC=1 FAKETIME_FORCE_MONOTONIC_FIX=0
test-future: $(VENV)/.dev
	@ahead=$$($(FAKETIME_ENV) $(PY) -c 'import time; print(int(time.time()))'); \
	if [ "$$ahead" -lt $$(( $$(date +%s) + 86400 )) ]; then echo "libfaketime did not move the clock"; exit 1; fi; \
	echo "== the suite with the clock at $$($(FAKETIME_ENV) date -u +%FT%TZ) =="
	$(FAKETIME_ENV) $(PY) -m tests.suites $(PYTEST_ARGS)

bench: $(VENV)/.dev
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache

# Until the first release, schema changes regenerate the initial migration from the models.
schema: $(VENV)/.dev
	$(PY) -c "from service import migrate; print(migrate.rebuild_initial())"
	$(VENV)/bin/ruff format -q service/migrations/versions
