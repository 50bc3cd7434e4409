"""The llama-cpp backend against the real embedded SmolLM2-135M (weak: assert on shape, not wisdom)."""

import asyncio
import json
import subprocess
import sys

import pytest

from agentkit.errors import ContextOverflowError, LLMTimeoutError
from agentkit.llm import GenerationParams, embedded_model_path, load_llm

pytestmark = pytest.mark.slow


def test_embedded_model_ships_in_package():
    path = embedded_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_generate_shape(embedded_llm):
    c = embedded_llm.generate("What is the capital of France?", GenerationParams(max_tokens=24))
    assert isinstance(c.text, str) and c.text
    assert 0 < c.usage.completion_tokens <= 24 and c.usage.prompt_tokens > 5
    assert c.finish_reason in ("stop", "length") and c.model == "llama-cpp://default"


def test_max_tokens_limits_output(embedded_llm):
    c = embedded_llm.generate("Write a long story about a dragon.", GenerationParams(max_tokens=8))
    assert c.usage.completion_tokens <= 8 and c.finish_reason == "length"
    assert embedded_llm.count_tokens(c.text) <= 10


def test_deterministic_at_temperature_zero(embedded_llm):
    p = GenerationParams(max_tokens=20, temperature=0.0)
    assert embedded_llm.generate("Name three colors.", p).text == embedded_llm.generate("Name three colors.", p).text


def test_stop_sequence_cuts_output(embedded_llm):
    p = GenerationParams(max_tokens=40)
    free = embedded_llm.generate("Count from 1 to 10, separated by commas.", p).text
    assert "," in free
    stopped = embedded_llm.generate("Count from 1 to 10, separated by commas.", p.replace(stop=(",",))).text
    assert "," not in stopped and free.startswith(stopped.strip())


def test_stream_matches_generate(embedded_llm):
    p = GenerationParams(max_tokens=16)
    pieces = list(embedded_llm.stream("Say hello.", p))
    assert len(pieces) > 1 and "".join(pieces).strip() == embedded_llm.generate("Say hello.", p).text


def test_async_generate_and_stream(embedded_llm):
    p = GenerationParams(max_tokens=12)

    async def go():
        c = await embedded_llm.agenerate("Say hi.", p)
        pieces = [x async for x in embedded_llm.astream("Say hi.", p)]
        return c, pieces

    c, pieces = asyncio.run(go())
    assert c.text and "".join(pieces).strip() == c.text


def test_count_tokens_uses_model_tokenizer(embedded_llm):
    assert embedded_llm.count_tokens("hello world") == 2
    assert embedded_llm.count_tokens("臺灣大學") >= 2


def test_prompt_longer_than_window():
    small = load_llm("llama-cpp://default?n_ctx=256")
    with pytest.raises(ContextOverflowError) as e:
        small.generate("word " * 400)
    assert "n_ctx" in str(e.value)


def test_timeout(embedded_llm):
    with pytest.raises(LLMTimeoutError):
        embedded_llm.generate("Write a very long essay about oceans.", GenerationParams(max_tokens=200, timeout=0.05))


# Two pipelines, each with its own LlamaCppLLM on llama-cpp://default, run from two threads at once. They share
# one llama.cpp context (one copy of the weights per process); with a lock per instance both used it at once
# and the process died with a segmentation fault (6 runs out of 6 before the fix).
CONCURRENT_PIPELINES = """
import json, threading
from agentkit import pipeline
from agentkit.llm import load_llm

questions = ["Name three colors.", "What is the capital of France?"]
llms = [load_llm("llama-cpp://default?n_threads=1") for _ in questions]
assert llms[0] is not llms[1] and llms[0].model is llms[1].model
pipes = [pipeline.build("naive", llm, max_tokens=24) for llm in llms]
start = threading.Barrier(2)
answers, errors = [[], []], []

def work(i):
    start.wait()
    try:
        for _ in range(3):
            answers[i].append(pipes[i].run(questions[i]).answer)
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"errors": errors, "answers": answers}))
"""


def test_two_instances_on_one_context_run_concurrently():
    run = subprocess.run([sys.executable, "-c", CONCURRENT_PIPELINES], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert [len(a) for a in report["answers"]] == [3, 3] and all(text.strip() for a in report["answers"] for text in a)
