# Two commands a newcomer needs: `make demo` (set up + run the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The demo needs the server and the verifiers it runs (torch, DuckDB); tests need every extra.
DEMO_EXTRAS ?= server,torch,provenance,telemetry
TEST_EXTRAS ?= dev,server,postgres,torch,provenance,location,telemetry,spark,guard,frameworks

.PHONY: setup demo walkthrough test lint typecheck check bench clean

# One stamp per set of extras: `make test` after `make demo` upgrades the same venv.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[$(DEMO_EXTRAS)]"
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[$(TEST_EXTRAS)]"
	@touch $@ $(VENV)/.demo-installed

# Everything: the `accord` command with every extra. Then `. .venv/bin/activate` puts
# `accord` on your PATH.
setup: $(VENV)/.test-installed

# The main job: the safeguards registry with a year of demonstration declarations, on
# SQLite under var/, at http://127.0.0.1:8000/ (Ctrl-C stops it).
demo: $(VENV)/.demo-installed
	$(BIN)/accord serve --demo --var var/demo

# The accounting walkthrough in the terminal (chips, shipments, a cluster, compute).
walkthrough: $(VENV)/.demo-installed
	$(BIN)/accord demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check accord tests benchmarks
	$(BIN)/ruff format --check accord tests benchmarks

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

# .ci/test.sh installs/starts PostgreSQL, Go, Chromium and Java when it can (root on
# Debian), runs pytest with the environment they need, and stops the PostgreSQL server it
# started (one already running is reused and left running).
test: $(VENV)/.test-installed lint typecheck
	PYTHON=$(BIN)/python bash .ci/test.sh

bench: $(VENV)/.test-installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
