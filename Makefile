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

bench: setup
	$(BIN)/python bench/sweep.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
