# One command to set up and run, one to set up and test (see README "Quick start").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint typecheck unit bench clean

# compileall: an editable install leaves QTS uncompiled, and with PYTHONDONTWRITEBYTECODE set
# every process would compile ~300 modules again (~0.15 s); a file changed later is recompiled
# in memory until the next setup
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q src >/dev/null
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/qts run

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint typecheck unit

bench: setup
	$(BIN)/python benchmarks/backtest_throughput.py
	$(BIN)/python benchmarks/eteda_cycle.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
