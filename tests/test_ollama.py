"""The ollama backend through the official client, against a protocol double (see ollama_double.py),
plus a live test that runs only when a real server answers at OLLAMA_HOST."""

import os

import httpx
import numpy as np
import pytest

from agentkit.embeddings import load_embedder
from agentkit.errors import BackendUnavailableError, LLMTimeoutError, ModelNotFoundError
from agentkit.llm import GenerationParams, load_llm

from .conftest import free_port
from .ollama_double import OllamaDouble


def test_chat_generate_through_double():
    with OllamaDouble("The answer is 50.") as server:
        llm = load_llm(f"ollama://tiny?host={server.url}")
        c = llm.generate([{"role": "user", "content": "What is 20+30?"}], GenerationParams(max_tokens=64, temperature=0.2, seed=3, stop=("END",)))
        assert c.text == "The answer is 50."
        assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.finish_reason) == (11, 4, "stop")
        path, body = server.requests[-1]
        assert path == "/api/chat" and body["messages"][0]["content"] == "What is 20+30?"
        assert body["options"]["num_predict"] == 64 and body["options"]["temperature"] == 0.2
        assert body["options"]["seed"] == 3 and body["options"]["stop"] == ["END"]


def test_stream_and_length_finish():
    with OllamaDouble("one two three four five") as server:
        llm = load_llm(f"ollama://tiny?host={server.url}")
        assert list(llm.stream("x", GenerationParams(max_tokens=3))) == ["one", " two", " three"]
        assert llm.generate("x", GenerationParams(max_tokens=3)).finish_reason == "length"


def test_reasoning_removed():
    with OllamaDouble("<think>let me see</think> Paris") as server:
        c = load_llm(f"ollama://tiny?host={server.url}").generate("capital of France?")
        assert c.text == "Paris" and c.reasoning == "let me see"


def test_think_sent_only_to_models_that_can_think():
    """Ollama answers 400 to `think` on a model without the "thinking" capability; /api/show says which can."""
    with OllamaDouble("Paris.", thinking="The capital of France is Paris.") as server:
        plain = load_llm(f"ollama://tiny?host={server.url}")
        for _ in range(2):
            c = plain.generate("Capital of France?", GenerationParams(reasoning_effort="high"))
            assert c.text == "Paris." and c.reasoning == ""
        thinker = load_llm(f"ollama://thinker?host={server.url}")
        c = thinker.generate("Capital of France?", GenerationParams(reasoning_effort="low"))
        assert c.text == "Paris." and c.reasoning == "The capital of France is Paris."
        assert [p for p, _ in server.requests].count("/api/show") == 2  # asked once per model
        chats = [b for p, b in server.requests if p == "/api/chat"]
        assert [b.get("think") for b in chats] == [None, None, "low"]
        # A thinking model thinks by default; its thoughts land in reasoning, never in the answer.
        c = thinker.generate("Capital of France?")
        assert c.text == "Paris." and c.reasoning == "The capital of France is Paris." and "think" not in server.requests[-1][1]


def test_double_rejects_think_like_ollama():
    import ollama

    with OllamaDouble() as server:
        with pytest.raises(ollama.ResponseError) as e:
            ollama.Client(host=server.url).chat(model="tiny", messages=[{"role": "user", "content": "hi"}], think=True)
        assert e.value.status_code == 400 and e.value.error == '"tiny" does not support thinking'
        assert "thinking" in ollama.Client(host=server.url).show("thinker").capabilities


def test_host_from_env(monkeypatch):
    with OllamaDouble("ok") as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        assert load_llm("ollama://tiny").generate("hi").text == "ok"


def test_unknown_model_says_pull():
    with OllamaDouble() as server:
        with pytest.raises(ModelNotFoundError) as e:
            load_llm(f"ollama://missing?host={server.url}").generate("hi")
        assert "ollama pull missing" in str(e.value)


def test_server_down():
    with pytest.raises(BackendUnavailableError) as e:
        load_llm(f"ollama://tiny?host=http://127.0.0.1:{free_port()}").generate("hi")
    assert "ollama serve" in str(e.value)


def test_timeout():
    with OllamaDouble("a b c d e f g h", delay=0.3) as server:
        with pytest.raises(LLMTimeoutError):
            load_llm(f"ollama://tiny?host={server.url}").generate("hi", GenerationParams(timeout=0.5))


def test_embed_through_double():
    with OllamaDouble() as server:
        emb = load_embedder(f"ollama://embed?host={server.url}", cache=False)
        vectors = emb.embed(["a", "bb", "ccc"])
        assert vectors.shape == (3, 3)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
        assert server.requests[-1][0] == "/api/embed" and server.requests[-1][1]["input"] == ["a", "bb", "ccc"]


def _live_host() -> str | None:
    host = os.environ.get("OLLAMA_HOST")
    if not host:
        return None
    host = host if "://" in host else f"http://{host}"
    try:
        models = httpx.get(f"{host}/api/tags", timeout=2).json().get("models", [])
    except (httpx.HTTPError, ValueError):
        return None
    return host if models else None


@pytest.mark.live
@pytest.mark.skipif(_live_host() is None, reason="no Ollama server with a model answers at OLLAMA_HOST")
def test_live_ollama():
    host = _live_host()
    model = httpx.get(f"{host}/api/tags").json()["models"][0]["name"]
    c = load_llm(f"ollama://{model}?host={host}").generate("Say hello.", GenerationParams(max_tokens=16))
    assert c.text and c.usage.completion_tokens > 0
