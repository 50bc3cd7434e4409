# Two commands set everything up on a fresh machine with only Python 3.11+:
#   make run   - create .venv, install, run the main job (agentkit demo) on the embedded defaults
#   make test  - create/update .venv, lint, run the whole suite offline, the core-only check and the consumer
#                conformance checks
#   make conformance - agentkit's fine-tuning exports read by the real tools (mlx-lm, LLaMA-Factory, TRL,
#                datasets, llama.cpp), each consumer in its own virtualenv under conformance/.venv/
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where pip finds torch. Empty here (this machine's registry serves the CPU build); elsewhere on Linux use
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
# or pip resolves the CUDA build and ~19 GPU packages.
TORCH_INDEX ?=
# Models ship inside PyPI packages; nothing may be fetched from a model hub at run time, nor a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

CONF_VENV := conformance/.venv
CONF_ENV := AGENTKIT_PYTHON=$(abspath $(BIN)/python)

.PHONY: install run test lint browser test-core bench bench-chunking bench-hw01 clean gguf-converter conformance conformance-consumers

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
	@echo "==> fetching llama.cpp's HF→GGUF converter (from the llama-cpp-python sdist)"
	$(BIN)/python -m agentkit.finetune.gguf install
	@touch $@

install: $(VENV)/.installed

# llama.cpp's HF→GGUF converter ships in no wheel: fetched with pip from the llama-cpp-python sdist of the installed
# version, into $(VENV)/share/agentkit/ (part of install; this target re-runs it).
gguf-converter: install
	$(BIN)/python -m agentkit.finetune.gguf install

$(CONF_VENV)/mlx/.installed: conformance/requirements-mlx.txt
	$(PYTHON) -m venv $(CONF_VENV)/mlx
	$(CONF_VENV)/mlx/bin/pip install -q -r conformance/requirements-mlx.txt
	touch $@

# llamafactory goes in with --no-deps: its torchvision/torchaudio pins would pull a multi-GB CUDA torch. torchaudio's
# compiled ops are built for torch 2.11 and do not load beside the local CPU torch 2.13; LLaMA-Factory imports
# torchaudio at module level (data/mm_plugin.py) but calls it only for audio inputs, so the ops are removed.
$(CONF_VENV)/llamafactory/.installed: conformance/requirements-llamafactory.txt
	$(PYTHON) -m venv $(CONF_VENV)/llamafactory
	$(CONF_VENV)/llamafactory/bin/pip install -q -r conformance/requirements-llamafactory.txt
	$(CONF_VENV)/llamafactory/bin/pip install -q --no-deps llamafactory==0.9.5 torchaudio==2.11.0
	find $(CONF_VENV)/llamafactory -name '_torchaudio*.so' -delete
	touch $@

# Unsloth needs CUDA: its source is only read (the recipe's keywords against its signatures).
$(CONF_VENV)/unsloth-src/.installed: | $(BIN)/python
	mkdir -p $(CONF_VENV)/unsloth-src
	$(BIN)/pip download -q --no-deps unsloth==2026.10.9 -d $(CONF_VENV)/unsloth-src
	cd $(CONF_VENV)/unsloth-src && $(abspath $(BIN)/python) -m zipfile -e unsloth-2026.10.9-py3-none-any.whl .
	touch $@

conformance-consumers: install $(CONF_VENV)/mlx/.installed $(CONF_VENV)/llamafactory/.installed $(CONF_VENV)/unsloth-src/.installed
	$(BIN)/python -m pytest -q -p no:cacheprovider conformance/test_datasets.py conformance/test_trl.py conformance/test_unsloth_recipe.py
	$(CONF_ENV) $(CONF_VENV)/mlx/bin/python -m pytest -q -p no:cacheprovider conformance/test_mlx.py
	$(CONF_ENV) $(CONF_VENV)/llamafactory/bin/python -m pytest -q -p no:cacheprovider conformance/test_llamafactory.py

# + a fine-tuned model through GGUF answering in a pipeline (also part of the main suite).
conformance: conformance-consumers
	$(BIN)/python -m pytest -q tests/test_gguf.py

run: install
	$(BIN)/agentkit demo

lint: install
	@echo "==> ruff"
	$(BIN)/ruff check src tests benchmarks examples
	@echo "==> mypy"
	$(BIN)/mypy
	@echo "==> import layers"
	$(BIN)/lint-imports

# The rendering tests (tests/test_render.py) need a system Chromium: installed from the distribution when missing and
# this machine allows it (root and apt-get); otherwise one line says so and those tests skip with the reason. Only
# the distribution's package is used; nothing downloads a browser (Playwright's own download stays off).
BROWSERS := chromium chromium-browser google-chrome google-chrome-stable
browser:
	@if [ -n "$$AGENTKIT_CHROMIUM" ] && command -v "$$AGENTKIT_CHROMIUM" >/dev/null; then echo "==> browser: $$AGENTKIT_CHROMIUM"; \
	elif found=$$(for b in $(BROWSERS); do command -v $$b; done | head -n 1) && [ -n "$$found" ]; then echo "==> browser: $$found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "==> installing Chromium (apt-get install chromium) for the --render tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
	  || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } \
	  || echo "==> browser: apt-get could not install chromium; the --render tests will be skipped"; \
	else echo "==> browser: no Chromium, and this machine cannot install one (needs root and apt-get); the --render tests will be skipped"; fi

test: lint browser
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory test-core
	$(MAKE) --no-print-directory conformance-consumers

# The core install (no extras) must import and run ask/ingest/query; each missing extra is one clear line.
CORE_VENV ?= .venv-core
test-core:
	@echo "==> core-only install in $(CORE_VENV)"
	@test -x $(CORE_VENV)/bin/python || $(PYTHON) -m venv $(CORE_VENV)
	@$(CORE_VENV)/bin/python -m pip install -q --upgrade pip
	$(CORE_VENV)/bin/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(CORE_VENV)/bin/pip install -q . pytest
	AGENTKIT_CORE_ONLY=1 $(CORE_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/core_only

bench: install
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/retrieval.py
	$(BIN)/python benchmarks/fetch.py

# The issue's "done when" configuration: recursive 200-token chunks, no overlap, MiniLM, all five corpora.
bench-chunking: install
	$(BIN)/agentkit chunking-eval --data ../shared/chunking_eval --splitter recursive --chunk-size 200 --chunk-overlap 0 --size-unit tokens --mode dense,bm25,hybrid --k 5

bench-hw01: install
	for p in naive rag rag-agent; do $(BIN)/agentkit hw01 run --questions ../shared/hw01/public.txt --out benchmarks/hw01/runs/$$p --pipeline $$p --source web --search-backend local://benchmarks/hw01/pages || exit 1; done
	$(BIN)/agentkit hw01 compare benchmarks/hw01/runs/naive benchmarks/hw01/runs/rag benchmarks/hw01/runs/rag-agent --gold ../shared/hw01/public.txt --chart benchmarks/hw01/compare.png

clean:
	rm -rf $(VENV) $(CORE_VENV) .agentkit $(CONF_VENV)
