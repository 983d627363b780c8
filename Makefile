# Two commands a newcomer needs: `make demo` (set up + run the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,telemetry,spark

.PHONY: setup demo test lint typecheck check bench clean

$(BIN)/accord: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@touch $@

setup: $(BIN)/accord

demo: setup
	$(BIN)/accord demo

lint: setup
	$(BIN)/ruff check accord tests benchmarks
	$(BIN)/ruff format --check accord tests benchmarks

typecheck: setup
	$(BIN)/mypy

test: setup lint typecheck
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
