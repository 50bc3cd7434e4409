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

.PHONY: install run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch is pinned first: the CPU build lies on local disk; an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench]'
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

clean:
	rm -rf $(VENV) .agentkit
