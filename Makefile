# Two commands set everything up on a fresh machine with only Python 3.11+:
#   make run   - create .venv, install, run the main job (agentkit demo) on the embedded defaults
#   make test  - create/update .venv, run the whole suite offline, then the consumer conformance checks
#   make conformance - agentkit's fine-tuning exports read by the real tools (mlx-lm, LLaMA-Factory, TRL,
#                datasets, llama.cpp), each consumer in its own virtualenv under conformance/.venv/
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Models ship inside PyPI packages; nothing may be fetched from a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

CONF_VENV := conformance/.venv
CONF_ENV := AGENTKIT_PYTHON=$(abspath $(BIN)/python)

.PHONY: install run test bench bench-chunking bench-hw01 clean gguf-converter conformance conformance-consumers

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch is pinned first: the CPU build lies on local disk; an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench,langchain]'
	$(BIN)/python -m agentkit.finetune.gguf install
	touch $@

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

test: install
	$(BIN)/python -m pytest -q
	$(MAKE) conformance-consumers

bench: install
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/retrieval.py
	$(BIN)/python benchmarks/fetch.py

# The issue's "done when" configuration: recursive 200-token chunks, no overlap, MiniLM, all five corpora.
bench-chunking: install
	$(BIN)/agentkit chunking-eval --data ../shared/chunking_eval --splitter recursive --chunk-size 200 --chunk-overlap 0 --size-unit tokens --mode dense,bm25,hybrid

bench-hw01: install
	for p in naive rag rag-agent; do $(BIN)/agentkit hw01 run --questions ../shared/hw01/public.txt --out benchmarks/hw01/runs/$$p --pipeline $$p --source web --search-backend local:benchmarks/hw01/pages || exit 1; done
	$(BIN)/agentkit hw01 compare benchmarks/hw01/runs/naive benchmarks/hw01/runs/rag benchmarks/hw01/runs/rag-agent --gold ../shared/hw01/public.txt --chart benchmarks/hw01/compare.png

clean:
	rm -rf $(VENV) .agentkit $(CONF_VENV)
