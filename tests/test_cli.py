"""The CLI as a user runs it: a subprocess, real embedded model, exit codes and one-line errors."""

import json

import pytest

from .conftest import free_port, run_cli

pytestmark = pytest.mark.slow


def test_ask_json_with_embedded_model():
    r = run_cli("ask", "What is 20+30?", "--json", "--max-tokens", "24")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data["answer"], str) and data["answer"].strip()
    assert data["sources"] == [] and isinstance(data["timings"], dict) and data["timings"]["total"] > 0
    assert data["trace"][0]["name"] == "answer"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["ask", "hi", "--llm", "gpt5://x"], "unknown LLM backend"),
        (["ask", "hi", "--llm", "llama-cpp"], "names no model"),
        (["ask", "hi", "--llm", "llama-cpp:///no/such.gguf"], "GGUF file not found"),
        (["ask", "   "], "question is empty"),
        (["ask", "hi", "--llm", "openai://127.0.0.1:{port}/v1#m"], "cannot reach"),
        (["ask", "hi", "--llm", "ollama://m?host=http://127.0.0.1:{port}"], "cannot reach Ollama"),
        (["ask", "hi", "--pipeline", "rag"], "--pipeline rag retrieves context, but there is nothing to retrieve from"),
        (["ask", "hi", "--pipeline", "nope"], "unknown pipeline"),
        (["ask", "word " * 3000, "--llm", "llama-cpp://default?n_ctx=512"], "window"),
    ],
)
def test_user_errors_are_one_line(args, needle):
    port = str(free_port())
    r = run_cli(*[a.replace("{port}", port) for a in args])
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_demo_prints_answers_and_sources(tmp_path):
    r = run_cli("demo", "--kb", str(tmp_path / "kb"))
    assert r.returncode == 0, r.stderr
    assert "solar_system.md" in r.stdout and "Mars" in r.stdout and "embedded" in r.stdout
