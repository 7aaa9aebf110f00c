# Two set-up commands: `make demo` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test test-all lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cellode demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# The default suite keeps a bounded version of every heavy check; `slow` marks the long ones.
# Test files are spread over $(WORKERS) processes (pytest-xdist); each file stays in one process
# so its module-scoped compiled fixtures are built once.
WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -m "not slow" -n $(WORKERS) --dist loadfile

# Ray (~20 s to install) is used only by a `slow` test, so only the whole suite installs it.
test-all: lint
	$(BIN)/python -m pip install --quiet -e ".[test,ray]"
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/simulate.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
