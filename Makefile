# pacer developer entry points. Quick start (as root on a fresh Debian 12):
#   make demo     # Debian packages + .venv, then a real failover in a 3-host lab
#   make test     # Debian packages + .venv, then ruff and pytest (5,000 faultsim seeds)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful editable install; rebuilt when pyproject.toml changes.
STAMP := $(VENV)/.pacer-installed

.PHONY: help venv deps test demo conformance bench lint clean

help:
	@echo "targets: deps venv test demo conformance bench lint clean"

deps:
	@bash scripts/install-debs.sh

venv: $(STAMP)

# Order-only on deps: Debian's python3 needs python3-venv for `python3 -m venv`.
# A .venv without pip (made while python3-venv was missing) is made again.
$(STAMP): pyproject.toml | deps
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

# Fault-simulation seeds `make test` runs (tests/test_faultsim_run.py::test_many_seeds),
# on one worker per CPU. Fewer for a quick run: make test FAULTSIM_SEEDS=12
FAULTSIM_SEEDS ?= 5000
FAULTSIM_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Runs pytest even when ruff complains, so one run reports both; fails if either fails.
test: deps venv
	@status=0; \
	echo "$(BIN)/ruff check pacer tests bench"; \
	$(BIN)/ruff check pacer tests bench || status=1; \
	echo "PACER_FAULTSIM_SEEDS=$(FAULTSIM_SEEDS) PACER_FAULTSIM_JOBS=$(FAULTSIM_JOBS) $(BIN)/pytest -q --durations=10"; \
	PACER_FAULTSIM_SEEDS=$(FAULTSIM_SEEDS) PACER_FAULTSIM_JOBS=$(FAULTSIM_JOBS) \
		$(BIN)/pytest -q --durations=10 || status=1; \
	exit $$status

lint: venv
	$(BIN)/ruff check pacer tests bench

# A real failover in the network-namespace lab (root); without root, a simulated one.
demo: deps venv
	@if [ "$$(id -u)" -eq 0 ]; then \
		$(BIN)/python -m pacer.lab.demo $(ARGS); \
	else \
		echo "make demo: the lab needs root (network namespaces); simulating instead:"; \
		$(BIN)/pacer simulate examples/demo.yaml --node-down node1; \
	fi

# Extra options: make conformance ARGS="--tiers 0-3 --verbose"
conformance: venv
	$(BIN)/python bench/conformance.py $(ARGS)

# Extra options: make bench ARGS="--sizes 500,2000 --json reports/bench.json"
bench: deps venv
	$(BIN)/python bench/scheduler.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache bench/.cache
