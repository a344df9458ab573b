# paybridge: `make run` to start it, `make test` to test it. Both set themselves up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
WORKERS ?= 2
HUBSPOT_PORT ?= 8765

.PHONY: setup run test bench check format clean chromium screenshots fake-hubspot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/paybridge dev --port $(PORT) --workers $(WORKERS)

# The HubSpot look-alike the demo delivers to (README, "Try it without HubSpot").
fake-hubspot: $(STAMP)
	$(BIN)/python -m tests.fake_hubspot --port $(HUBSPOT_PORT) --token pat-demo

test: $(STAMP) chromium
	$(BIN)/python -m pytest

# The console's browser tests drive Debian's Chromium (Playwright's own download is not used).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

screenshots: $(STAMP) chromium
	PAYBRIDGE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/console/test_browser.py

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
