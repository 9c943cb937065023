# Firebreak: the two commands are `make run` and `make test`.
# Firebreak runs on Python 3.11 (requires-python in pyproject.toml). PYTHON is python3.11 when there is one, else a
# python3 that is 3.11; set PYTHON=/path/to/python3.11 to choose another.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || { command -v python3 >/dev/null 2>&1 && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null && command -v python3; })
VENV ?= .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | sha256sum | cut -c1-12)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(HASH)

.PHONY: run test lint typecheck pytest setup setup-dev system-deps clean bench python catalogs

## Fails with a clear message when no Python 3.11 is found.
python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: Firebreak needs Python 3.11, and neither python3.11 nor a python3 of version 3.11 was found." >&2; \
	  echo "       Install it (Debian/Ubuntu: apt-get install python3.11 python3.11-venv) or run" >&2; \
	  echo "       make run PYTHON=/path/to/python3.11" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "error: $(PYTHON) is Python %d.%d; Firebreak needs 3.11 (make run PYTHON=/path/to/python3.11)" % sys.version_info[:2])'
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "error: $(PYTHON) cannot create virtual environments (Debian/Ubuntu: apt-get install python3.11-venv)" >&2; exit 1; }

$(VENV)/bin/python: | python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Serving needs only Firebreak's own dependencies; the test tools come with `make test`.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	@rm -f $(VENV)/.installed-run-* && touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-dev-* $(VENV)/.installed-run-* && touch $@ $(RUN_STAMP)

setup: $(RUN_STAMP)
setup-dev: $(DEV_STAMP)

## Debian packages the tests need (real PostgreSQL, Chromium). Installed when missing and we may.
system-deps:
	@bash scripts/install-system-deps.sh

## Set up and run Firebreak on the embedded defaults (SQLite + local files + in-process worker).
run: setup
	$(BIN)/firebreak db upgrade
	$(BIN)/firebreak serve

## Set up and run the whole test suite: ruff, mypy (strict), pytest on SQLite and PostgreSQL.
test: system-deps setup-dev lint typecheck pytest

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest

## Extract the texts marked for translation and update every catalog (then translate what is new or fuzzy).
## A new language: make catalogs NEW_LANG=de
catalogs: setup-dev
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project Firebreak \
	  --msgid-bugs-address "" --copyright-holder "" -o src/firebreak/locales/firebreak.pot .
	@if [ -n "$(NEW_LANG)" ]; then $(BIN)/pybabel init -D firebreak -i src/firebreak/locales/firebreak.pot \
	  -d src/firebreak/locales -l $(NEW_LANG); fi
	$(BIN)/pybabel update -D firebreak -i src/firebreak/locales/firebreak.pot -d src/firebreak/locales \
	  --no-wrap --ignore-obsolete

clean:
	rm -rf $(VENV) var
