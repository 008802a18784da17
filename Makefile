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

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
