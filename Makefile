# paybridge: `make run` to start it, `make test` to test it. Both set themselves up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench check format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/paybridge dev

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m tests.bench

check: $(STAMP)
	$(BIN)/ruff format --check engine sandbox transforms worker tests
	$(BIN)/ruff check engine sandbox transforms worker tests
	$(BIN)/mypy engine sandbox transforms worker

format: $(STAMP)
	$(BIN)/ruff format engine sandbox transforms worker tests
	$(BIN)/ruff check --fix engine sandbox transforms worker tests

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
