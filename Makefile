# rbsim: two set-up commands (see README.md). Both work on a fresh Debian machine as root.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE ?= scenarios/comfortable.yaml

.PHONY: run test check lint install install-test system-deps bench clean notebook

## make run: install rbsim and simulate the example scenario
run: install
	$(BIN)/rbsim run $(EXAMPLE) --out out/

## make test: install everything the tests need (redis-server included) and run them
test: install-test
	$(BIN)/python -m pytest

## make check: the gate CI runs: ruff (lint, format) and mypy, then the tests (installs as make test does)
check: lint
	$(BIN)/python -m pytest

## make lint: only the static checks (configured in pyproject.toml)
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

install: $(VENV)/.rbsim-installed
install-test: system-deps $(VENV)/.rbsim-test-installed

$(VENV)/.rbsim-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[parquet,aws]'  # the README's --format parquet and profile elasticache://
	touch $@

$(VENV)/.rbsim-test-installed: pyproject.toml $(VENV)/.rbsim-installed
	$(BIN)/python -m pip install --quiet -e '.[test,parquet,aws]'
	touch $@

## system packages: Debian's redis-server for the harness tests, chromium to check the HTML report renders,
## podman and runc for the harness's container backend (--backend podman; ~15 s more on a fresh machine)
system-deps:
	@{ command -v redis-server && command -v chromium && command -v podman && command -v runc; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends redis-server chromium podman runc; }

## make bench: the speed figures (CLI start, sweep rate locally and on Dask, planner, simulation per scenario, profile sample)
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dask]'
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_plan.py
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_profile_sample.py

clean:
	rm -rf $(VENV) out build *.egg-info

## make notebook: Jupyter with the what-if notebook
notebook: install
	$(BIN)/python -m pip install --quiet -e '.[notebook]'
	$(BIN)/jupyter notebook $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/what-if.ipynb
