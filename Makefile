# The two quick-start commands are `make demo` and `make test`; both set up what they need.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench bench-quick redis-server clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/outbox demo

redis-server:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server (the tests start private ones)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

test: $(STAMP) redis-server
	# Two workers: one per core here. Every test starts its own servers on free ports or sockets.
	$(BIN)/pytest -rs -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/function_length.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BENCHMARKS := benchmarks.writer benchmarks.relay benchmarks.stream benchmarks.provisioner \
	benchmarks.watch benchmarks.partitions benchmarks.cli benchmarks.tracing benchmarks.api

# Every benchmark runs even after one misses its target; the status says whether any did.
bench: $(STAMP) redis-server
	@status=0; for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python -m $$b || status=1; done; \
	[ $$status -eq 0 ] || { echo "make bench: a benchmark missed its target or failed"; exit 1; }

# Tiny sizes, one round: proves each benchmark still runs (CI), says nothing about timing.
bench-quick: $(STAMP) redis-server
	@for b in $(BENCHMARKS); do echo "== $$b --quick"; $(BIN)/python -m $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
