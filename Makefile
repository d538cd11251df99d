# Developer entry points. `make demo` and `make test` are the README's quickstart.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install compile demo test lint tools stop bench

$(BIN)/ascolto: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "ascolto needs Python 3.11 or newer: set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/ascolto compile

## The hot enrichers compiled to C by mypyc (streams/enrichers/native.py), rebuilt when their sources
## changed. Without a C compiler it says so and the enrichers run from source (CI must compile).
compile: $(BIN)/ascolto
	@$(BIN)/ascolto compile || [ "$${CI:-}" != true ]

## Everything at once on the local embedded stack: Kafka, Elasticsearch, a worker, a generator.
demo: install
	$(BIN)/ascolto demo

## Lint and type-check, then every test: unit (no server) and integration (the real local stack,
## started here if needed). pytest's summary counts the results per marker.
test: lint tools
	$(BIN)/ascolto stack up
	$(BIN)/pytest -q

## ruff, mypy over all product code, and the import layers (all configured in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## kcat, promtool and Chromium, which some tests use; says in one sentence what to install if it cannot.
tools:
	@deploy/local/install-test-tools.sh $(BIN)

stop: install
	$(BIN)/ascolto stack down

## Throughput, latency and CPU per post of each process through the real stack, next to the machine's
## limits (prints a table, keeps a history in bench/results/, asserts nothing). Options go in
## BENCH_ARGS, e.g. make bench BENCH_ARGS="--posts 50000 --baseline ../main --label 'after batching'".
BENCH_ARGS ?=
bench: install
	$(BIN)/ascolto stack up
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)
