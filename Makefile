# The two commands a new user runs are `make demo` and `make test`; both set up
# everything they need from scratch (virtualenv, Python deps, Kafka jars, broker).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pytest-xdist workers for `make test` / `make unit` (each Kafka-test worker starts its own broker;
# the Kafka tests mostly wait on the broker, so three beat two on a 2-core machine).
WORKERS ?= 3
STAMP := $(VENV)/.installed

.PHONY: help venv browser demo test unit lint typecheck bench large chaos clean screenshots

help:
	@echo "make demo   - run the multi-agency demo end to end on a real local Kafka"
	@echo "make test   - lint, type-check and run the whole test suite against real Kafka"
	@echo "make unit   - only the tests that need no Kafka"
	@echo "make bench  - performance benchmark (broker bench)"
	@echo "make large  - streamed dossiers of 100,000 and 1,000,000 references and a 1 GiB attachment"
	@echo "make chaos  - long reliability scenarios (broker chaos)"
	@echo "make clean  - remove the virtualenv and local runtime state"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (need Python >= 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/broker demo

lint: $(STAMP)
	$(BIN)/ruff check broker tests
	$(BIN)/ruff format --check broker tests

typecheck: $(STAMP)
	$(BIN)/mypy

# Chromium from the distribution for the console's browser tests (idempotent; needs root
# to install, else the browser tests skip with the reason).
browser:
	@bash scripts/install-browser.sh

test: lint typecheck browser
	$(BIN)/broker local fetch
	$(BIN)/pytest -n $(WORKERS) --dist loadfile --durations=25

unit: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) -m "not kafka and not cluster"

# Screenshots of the console's main pages from the demo's state (docs/screenshots/).
screenshots: $(STAMP) browser
	$(BIN)/python -m tests.console.screenshots

bench: $(STAMP)
	$(BIN)/broker bench

# The 1,000,000-reference dossier and the 1 GiB attachment, end to end (minutes each).
large: $(STAMP)
	$(BIN)/broker local fetch
	$(BIN)/pytest -m large tests/network/test_streamed.py tests/network/test_streamed_large.py

chaos: $(STAMP)
	$(BIN)/broker chaos

clean:
	-$(BIN)/broker local down 2>/dev/null
	rm -rf $(VENV) state .pytest_cache .mypy_cache .ruff_cache
