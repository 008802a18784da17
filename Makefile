# Two commands do all set-up: `make example` and `make test`. Each creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

.PHONY: install example test bench
install: $(STAMP)

example: $(STAMP)
	$(BIN)/evalkit run evals/support_triage.yaml --offline
	$(BIN)/evalkit packet reports/support_triage/latest --baseline base --candidate tuned \
		--with prompted,rag --monthly-volume 20000 --allow-unverified \
		--out reports/support_triage/latest/packet

# The checks run first, in this order, and each must pass: lint, types, import contracts, then the tests.
test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy src
	$(BIN)/lint-imports
	$(BIN)/pytest

# The benchmark measures a user's install (`pip install .`, no development tools) in
# .venv-bench: the development environment holds more (selenium brings trio, which httpcore
# imports whenever it is installed), and a user's start-up does not pay for it.
BENCH_VENV := .venv-bench

bench: $(STAMP)
	test -d $(BENCH_VENV) || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q .
	$(BENCH_VENV)/bin/pip install -q --no-deps --force-reinstall .
	$(BIN)/python benchmarks/run.py --python $(BENCH_VENV)/bin/python
