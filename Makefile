# Two entry points work on a fresh clone: `make run` and `make test`.
# `make test` runs everything (what CI runs); `make check` is the fast loop while editing: the
# same static checks and only the unit tests (no real processes, no real CLI, nothing slow; the
# `integration` and `slow` markers in pyproject.toml say which tests those are).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
UNIT   := not integration and not slow

.PHONY: run test check setup lint bench clean

$(BIN)/lagwatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/lagwatch

run: setup
	$(BIN)/lagwatch top

# Every static check: `test` and `check` both run them first.
lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint
	$(BIN)/python -m pytest -q -m "$(UNIT)" $(PYTEST_ARGS)

# `make bench` runs bench/sweep.py; `make bench BENCH=peers ARGS="--procs 1000,5000"` runs any
# other script in bench/ with its arguments (BENCHMARKS.md gives each section's command).
BENCH ?= sweep
bench: setup
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/$(BENCH).py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
