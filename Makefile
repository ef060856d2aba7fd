# L2C — the first two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# `make test-pg` runs the suite against this PostgreSQL server (pytest-django creates test_<name>).
PG_URL ?= postgres://postgres@127.0.0.1:5432/l2c

.PHONY: run test test-pg install install-dev lint migrate demo serve worker e2e bench ci clean messages

## make run: install, migrate, load demo data on first run, serve on http://$(HOST):$(PORT) with a worker.
run: install
	$(BIN)/l2c migrate --no-input -v 1
	$(BIN)/l2c demo --if-empty
	$(BIN)/l2c serve --host $(HOST) --port $(PORT)

## make test: install the dev extra and run the whole suite (browser tests included) on SQLite.
test: install-dev
	$(BIN)/pytest

## make test-pg: the whole suite on PostgreSQL (PG_URL=postgres://user@host:port/name to change it).
test-pg: install-dev
	DATABASE_URL=$(PG_URL) $(BIN)/pytest

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

lint: install-dev
	$(BIN)/ruff check .

migrate: install
	$(BIN)/l2c migrate --no-input

demo: install
	$(BIN)/l2c demo

## serve / worker without the install and demo steps (the database must be migrated).
serve: install
	$(BIN)/l2c serve --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/l2c worker

e2e: install-dev
	$(BIN)/pytest -m e2e

## make bench: time `l2c demo` at 10k, 100k and 1M leads on SQLite and PostgreSQL (see docs/benchmarks.md).
bench: install
	$(BIN)/python bench/demo_bench.py

## make ci: what CI runs (.ci/run): both databases, ruff, migrations check, deploy check.
ci:
	.ci/run

messages: install
	cd l2c && ../$(BIN)/l2c compilemessages

clean:
	rm -rf $(VENV) var build *.egg-info
