# Two commands a newcomer needs: `make demo` (set up + run the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,server,postgres,torch,provenance,location,telemetry,spark

.PHONY: setup demo walkthrough test lint typecheck check bench clean

$(BIN)/accord: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@touch $@

setup: $(BIN)/accord

# The main job: the safeguards registry with a year of demonstration declarations, on
# SQLite under var/, at http://127.0.0.1:8000/ (Ctrl-C stops it).
demo: setup
	$(BIN)/accord serve --demo --var var/demo

# The accounting walkthrough in the terminal (chips, shipments, a cluster, compute).
walkthrough: setup
	$(BIN)/accord demo

lint: setup
	$(BIN)/ruff check accord tests benchmarks
	$(BIN)/ruff format --check accord tests benchmarks

typecheck: setup
	$(BIN)/mypy

# .ci/services.sh installs/starts PostgreSQL, Go and Chromium when it can (root on Debian)
# and prints the environment the integration tests read; without them those tests skip.
test: setup lint typecheck
	bash .ci/services.sh > .test-env
	set -a && . ./.test-env && set +a && $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
