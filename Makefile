# Two commands set everything up on a fresh machine with only Python 3.11+:
#   make run   - create .venv, install, run the main job (agentkit demo) on the embedded defaults
#   make test  - create/update .venv, lint, run the whole suite offline, then the core-only check
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where pip finds torch. Empty here (this machine's registry serves the CPU build); elsewhere on Linux use
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
# or pip resolves the CUDA build and ~19 GPU packages.
TORCH_INDEX ?=
# Models ship inside PyPI packages; nothing may be fetched from a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install install-run run test lint test-core bench bench-chunking bench-hw01 clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "agentkit needs Python >= 3.11; this is " + sys.version.split()[0] + " (set PYTHON=python3.11)")'
	@echo "==> creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip

# torch is pinned first so pip takes the CPU build; llama-cpp-python compiles from source once (~6 min on 2 cores,
# then pip's cache has the wheel).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> installing torch (CPU build)"
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	@# The distribution was called 'agentkit' before 0.2; two copies of the package would shadow each other.
	@$(BIN)/pip uninstall -q -y agentkit 2>/dev/null || true
	@echo "==> installing agentkit-rag with every extra and the test tools (llama-cpp-python may compile for minutes)"
	$(BIN)/pip install -q -e '.[all,test,bench]'
	@touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/agentkit demo

lint: install
	@echo "==> ruff"
	$(BIN)/ruff check src tests benchmarks examples
	@echo "==> mypy"
	$(BIN)/mypy
	@echo "==> import layers"
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory test-core

# The core install (no extras) must import and run ask/ingest/query; each missing extra is one clear line.
CORE_VENV ?= .venv-core
test-core:
	@echo "==> core-only install in $(CORE_VENV)"
	@test -x $(CORE_VENV)/bin/python || $(PYTHON) -m venv $(CORE_VENV)
	@$(CORE_VENV)/bin/python -m pip install -q --upgrade pip
	$(CORE_VENV)/bin/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(CORE_VENV)/bin/pip install -q . pytest
	AGENTKIT_CORE_ONLY=1 $(CORE_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/core_only

# Every side-by-side comparison of benchmarks/README.md, each printing its own table (paste-ready). QUICK=1 runs the
# small subsets (minutes instead of about an hour on 2 cores); RUNS sets the fresh processes per side.
QUICK ?=
RUNS ?= 3
BENCH_FLAGS := $(if $(QUICK),--quick)
bench: install
	$(BIN)/python benchmarks/splitting.py $(BENCH_FLAGS) --runs $(RUNS)
	$(BIN)/python benchmarks/embedders.py $(BENCH_FLAGS) --runs $(RUNS)
	$(BIN)/python benchmarks/retrieval.py $(BENCH_FLAGS) --runs $(RUNS) --plot benchmarks/scaling.png
	$(BIN)/python benchmarks/distill.py $(BENCH_FLAGS) --runs $(if $(QUICK),1,2)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/fetch.py

# The issue's "done when" configuration: recursive 200-token chunks, no overlap, MiniLM, all five corpora.
bench-chunking: install
	$(BIN)/agentkit chunking-eval --data ../shared/chunking_eval --splitter recursive --chunk-size 200 --chunk-overlap 0 --size-unit tokens --mode dense,bm25,hybrid

bench-hw01: install
	for p in naive rag rag-agent; do $(BIN)/agentkit hw01 run --questions ../shared/hw01/public.txt --out benchmarks/hw01/runs/$$p --pipeline $$p --source web --search-backend local://benchmarks/hw01/pages || exit 1; done
	$(BIN)/agentkit hw01 compare benchmarks/hw01/runs/naive benchmarks/hw01/runs/rag benchmarks/hw01/runs/rag-agent --gold ../shared/hw01/public.txt --chart benchmarks/hw01/compare.png

clean:
	rm -rf $(VENV) $(CORE_VENV) .agentkit
