# Two commands set everything up on a fresh machine with only Python 3.11+:
#   make run   - create .venv, install the core (no extras), run the main job (agentkit demo) on the embedded defaults
#   make test  - create/update .venv with every extra and the test tools, lint, run the whole suite offline, the
#                core-only check and the consumer conformance checks
#   make conformance - agentkit's fine-tuning exports read by the real tools (mlx-lm, LLaMA-Factory, TRL,
#                datasets, llama.cpp), each consumer in its own virtualenv under conformance/.venv/
# Sizes and times measured on a 2-core machine: docs/install.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where pip finds torch. Empty: your pip's index (on Linux, PyPI serves the CUDA build and ~19 GPU packages, several
# GB). For the CPU build:  make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# Models ship inside PyPI packages; nothing may be fetched from a model hub at run time, nor a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

CONF_VENV := conformance/.venv
CONF_ENV := AGENTKIT_PYTHON=$(abspath $(BIN)/python)

# pipefail: a pip that fails behind the progress filter still fails the build
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's whole output goes to $(PIP_LOG); the terminal gets one progress line per phase (packages resolved, wheels
# built, packages installed) and, when pip fails, the log's last lines.
PIP_LOG := $(VENV)/install.log
FULL_EXTRAS := .[all,test,bench]
define pip_install
	@echo "    pip install $(1)   (full log: $(PIP_LOG))"
	@if [ -t 1 ]; then tty=1; else tty=0; fi; step=$(VENV)/pip-step.log; \
	$(BIN)/pip install --progress-bar off $(1) > $$step 2>&1 & pid=$$!; \
	start=$$(date +%s); \
	while kill -0 $$pid 2>/dev/null; do \
	  sleep 2; s=$$(( $$(date +%s) - start )); n=$$(grep -cE '^(Collecting|Requirement already satisfied)' $$step); \
	  last=$$(grep -E '^(Collecting|Building wheel|Installing collected)' $$step | tail -n 1 | cut -c1-60); \
	  line="    $${s}s  $$n packages resolved  $$last"; \
	  if [ $$tty = 1 ]; then printf '\r%-100s' "$$line"; elif [ $$(( s % 30 )) -lt 2 ]; then echo "$$line"; fi; \
	done; \
	[ $$tty = 0 ] || printf '\r%-100s\r' ''; \
	wait $$pid; rc=$$?; cat $$step >> $(PIP_LOG); rm -f $$step; \
	[ $$rc = 0 ] || { echo "==> pip failed; the last lines of $(PIP_LOG):"; tail -n 25 $(PIP_LOG); exit 1; }; \
	echo "    done in $$(( $$(date +%s) - start ))s"
endef

.PHONY: install install-core prerequisites run test lint browser test-core bench bench-chunking bench-hw01 clean gguf-converter conformance conformance-consumers

# Checked before anything installs: Python >= 3.11 (an older one would spend minutes installing torch, then fail),
# free disk, and a C/C++ compiler for llama-cpp-python when pip has to build it from source.
prerequisites:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "agentkit needs Python >= 3.11; $(PYTHON) is " + sys.version.split()[0] + " (run: make run PYTHON=python3.11)")'
	@free=$$(df -Pk . | awk 'NR == 2 {print int($$4 / 1048576)}'); \
	  [ "$$free" -ge 2 ] || { echo "agentkit needs about 2 GB of disk for the core install (3 GB with every extra); $$free GB free here"; exit 1; }; \
	  [ "$$free" -ge 3 ] || echo "==> note: $$free GB free: enough for make run (2 GB), not for make test (3 GB)"
	@command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null \
	  || echo "==> note: no C++ compiler found; if pip has no llama-cpp-python wheel for this machine it must compile one (apt-get install build-essential cmake)"

$(BIN)/python: | prerequisites
	@echo "==> creating $(VENV) with $$($(PYTHON) -c 'import sys; print(sys.executable, sys.version.split()[0])')"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip > $(PIP_LOG) 2>&1 || { cat $(PIP_LOG); exit 1; }

# The core: what `make run` needs (torch CPU where the index serves it, llama-cpp-python, the embedded models,
# Chroma). About 2.0 GB and 131 packages; llama-cpp-python compiles from source the first time (~6 min on 2 cores,
# then pip's cache has the wheel).
$(VENV)/.core-installed: pyproject.toml | $(BIN)/python
	@echo "==> [1/2] installing torch 2.13.0$(if $(TORCH_INDEX), from $(TORCH_INDEX),) (the largest package: ~750 MB unpacked for the CPU build)"
	$(call pip_install,torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)))
	@# The distribution was called 'agentkit' before 0.2; two copies of the package would shadow each other.
	@$(BIN)/pip uninstall -q -y agentkit >/dev/null 2>&1 || true
	@echo "==> [2/2] installing agentkit-rag (core: about 130 packages; llama-cpp-python may compile for minutes)"
	$(call pip_install,-e .)
	@$(BIN)/python -c 'import torch, sys; cuda = torch.version.cuda; print(f"    torch {torch.__version__}: " + (f"CUDA {cuda} build (for the CPU build: make clean; make run TORCH_INDEX=https://download.pytorch.org/whl/cpu)" if cuda else "CPU build"))'
	@touch $@
	@echo "==> $(VENV) ready ($$(du -sh $(VENV) | cut -f1)). Use it: source $(VENV)/bin/activate, then: agentkit --help"

# Everything: every extra plus the test and benchmark tools (what `make test` needs).
$(VENV)/.installed: pyproject.toml $(VENV)/.core-installed
	@echo "==> installing every extra and the test tools (.[all,test,bench])"
	$(call pip_install,-e '$(FULL_EXTRAS)')
	@echo "==> fetching llama.cpp's HF→GGUF converter (from the llama-cpp-python sdist)"
	@$(BIN)/python -m agentkit.finetune.gguf install
	@touch $@ $(VENV)/.core-installed

install-core: $(VENV)/.core-installed

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

# The demo needs only the core install; `make test` adds the rest to the same .venv.
run: $(VENV)/.core-installed
	$(BIN)/agentkit demo

lint: install
	@echo "==> ruff"
	$(BIN)/ruff check src tests benchmarks examples conformance
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
	$(BIN)/agentkit chunking-eval --data ../shared/chunking_eval --splitter recursive --chunk-size 200 --chunk-overlap 0 --size-unit tokens --mode dense,bm25,hybrid --k 5

bench-hw01: install
	for p in naive rag rag-agent; do $(BIN)/agentkit hw01 run --questions ../shared/hw01/public.txt --out benchmarks/hw01/runs/$$p --pipeline $$p --source web --search-backend local://benchmarks/hw01/pages || exit 1; done
	$(BIN)/agentkit hw01 compare benchmarks/hw01/runs/naive benchmarks/hw01/runs/rag benchmarks/hw01/runs/rag-agent --gold ../shared/hw01/public.txt --chart benchmarks/hw01/compare.png

clean:
	rm -rf $(VENV) $(CORE_VENV) .agentkit $(CONF_VENV)
