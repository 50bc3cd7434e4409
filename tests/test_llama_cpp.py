"""The llama-cpp backend against the real embedded SmolLM2-135M (weak: assert on shape, not wisdom)."""

import asyncio

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
