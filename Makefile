# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

## Crawl the bundled offline demo site into ./newsarchive.db and show the result.
demo: install
	$(BIN)/newsarchive demo

## Run the whole test suite (storage tests on SQLite and PostgreSQL).
test: dev
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
