# The verbs a newcomer types. Everything installs into .venv at the repository root.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STRATEGY ?= strategy
HOST     ?= 127.0.0.1
PORT     ?= 8000

.PHONY: install run test lint typecheck docs docs-serve bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tietotie validate --strategy $(STRATEGY)
	$(BIN)/tietotie serve --strategy $(STRATEGY) --host $(HOST) --port $(PORT) --demo 500

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/tietotie docs build --strategy $(STRATEGY)

docs-serve: $(STAMP)
	$(BIN)/tietotie docs serve --strategy $(STRATEGY)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'  # the peers it measures against
	$(BIN)/python bench/run.py $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')  # e.g. DATABASE_URL=postgresql://root@127.0.0.1:5432/test

clean:
	rm -rf $(VENV) build site var .pytest_cache .mypy_cache .ruff_cache
