# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# An editable install leaves our own modules uncompiled; where Python writes no bytecode
# (PYTHONDONTWRITEBYTECODE, as on CI machines) every command then compiled them again: 30-50 ms
# of each process's start-up. Compiled here as pip compiles an installed package; a module
# edited later is compiled from its source again (Python checks each .pyc against it).
COMPILE := $(BIN)/python -m compileall -q crawler storage scheduler newsarchive

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(COMPILE)
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(COMPILE)
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
