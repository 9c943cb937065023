# Firebreak: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test lint typecheck pytest setup system-deps clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

## Debian packages the tests need (real PostgreSQL). Installed when missing and we may.
system-deps:
	@bash scripts/install-system-deps.sh

## Set up and run Firebreak on the embedded defaults (SQLite + local files + in-process worker).
run: setup
	$(BIN)/firebreak db upgrade
	$(BIN)/firebreak serve

## Set up and run the whole test suite: ruff, mypy (strict), pytest on SQLite and PostgreSQL.
test: system-deps setup lint typecheck pytest

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) var
