"""The ``hf://`` backend's worker thread: an error there reaches the caller, a stalled stream times out; and no
model loading (hf:// or the embedded embedder) touches the caller's environment.

The models are real transformers models, tiny and randomly initialised (seeded), saved beside a real offline
tokenizer (the embedded MiniLM's WordPiece), so that they load through the same ``hf:///path`` route as any
local model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentkit.errors import BackendUnavailableError, LLMTimeoutError
from agentkit.llm import GenerationParams, load_llm
from tests.conftest import ROOT

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tiny_model(path: Path, vocab_size: int) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from agentkit.embeddings import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), model_input_names=["input_ids", "attention_mask"])
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, max_position_embeddings=8192, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working tiny model: its vocabulary covers the tokenizer's."""
    return _tiny_model(tmp_path_factory.mktemp("hf") / "tiny", 30522)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose embedding table is smaller than the tokenizer's ids: generate() raises IndexError."""
    return _tiny_model(tmp_path_factory.mktemp("hf") / "broken", 50)


def test_tiny_model_generates(tiny: Path) -> None:
    completion = load_llm(f"hf://{tiny}").generate("hello world", GenerationParams(max_tokens=12))
    assert completion.text and completion.usage.completion_tokens == 12 and completion.finish_reason == "length"


def test_error_in_the_worker_reaches_the_caller(broken: Path) -> None:
    llm = load_llm(f"hf://{broken}")
    outcome: dict[str, BaseException] = {}

    def call() -> None:
        try:
            llm.generate("hello world", GenerationParams(max_tokens=8, timeout=None))
        except BaseException as exc:
            outcome["error"] = exc

    # Before the fix the caller waited for ever on the streamer; run it aside so the test can tell.
    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(120)
    assert not caller.is_alive(), "generate() hung after the worker thread failed"
    error = outcome["error"]
    assert isinstance(error, BackendUnavailableError) and "IndexError" in error.message
    assert isinstance(error.__cause__, IndexError)


def test_a_stalled_stream_times_out(tiny: Path) -> None:
    """A call waiting behind another caller's long generation gives up at its timeout instead of waiting it out."""
    llm = load_llm(f"hf://{tiny}")
    llm.warm_up()
    started, stop = threading.Event(), threading.Event()

    def long_generation() -> None:
        for _ in llm.stream("hello world", GenerationParams(max_tokens=6000, timeout=None)):
            started.set()
            if stop.is_set():
                break

    first = threading.Thread(target=long_generation, daemon=True)
    first.start()
    assert started.wait(120)
    began = time.monotonic()
    try:
        with pytest.raises(LLMTimeoutError):
            llm.generate("hello again", GenerationParams(max_tokens=4, timeout=0.5))
        # Before the fix the second call waited until the first generation was over (6000 tokens).
        assert first.is_alive(), "the second call returned only after the first generation had finished"
    finally:
        stop.set()
        first.join(120)
    assert time.monotonic() - began < 60


# The third-party libraries are imported before the snapshot: scikit-learn (pulled in by sentence-transformers)
# sets KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK on import, which is theirs to answer for; what agentkit does
# while loading models is ours (it used to set HF_HUB_OFFLINE=1 for the whole process).
ENVIRONMENT_UNCHANGED = """
import json, os, sys
import sentence_transformers, transformers, peft
before = dict(os.environ)
from agentkit.embeddings import SentenceTransformerEmbedder
from agentkit.llm import load_llm

SentenceTransformerEmbedder().embed(["國立臺灣大學", "hello"])
load_llm("hf://" + sys.argv[1]).warm_up()
after = dict(os.environ)
print(json.dumps({k: [before.get(k), after.get(k)] for k in set(before) | set(after) if before.get(k) != after.get(k)}))
"""


def test_loading_models_leaves_the_environment_alone(tiny: Path) -> None:
    # A process without the offline switches; an unroutable local hub address catches any attempt to go online.
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    run = subprocess.run([sys.executable, "-c", ENVIRONMENT_UNCHANGED, str(tiny)], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {}
