# L2C — the first two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install install-dev lint migrate demo serve worker e2e clean messages

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

## make run: install, migrate, load demo data on first run, serve on http://$(HOST):$(PORT) with a worker.
run: install
	$(BIN)/l2c migrate --no-input
	$(BIN)/l2c demo --if-empty
	$(BIN)/l2c serve --host $(HOST) --port $(PORT)

## make test: install the dev extra and run the whole suite (browser tests included).
test: install-dev
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .

migrate: install
	$(BIN)/l2c migrate --no-input

demo: install
	$(BIN)/l2c demo

messages: install
	cd l2c && ../$(BIN)/l2c compilemessages

clean:
	rm -rf $(VENV) var build *.egg-info
