"""RAGFlow knowledge base against a protocol double of its HTTP API (tests/ragflow_double.py), driven through
the real ragflow-sdk and httpx; plus a live test when RAGFLOW_BASE_URL and RAGFLOW_API_KEY are set."""

from __future__ import annotations

import json
import os

import pytest

from agentkit import pipeline
from agentkit.errors import BackendUnavailableError, ConfigError, KnowledgeBaseError
from agentkit.llm.scripted import ScriptedLLM
from agentkit.retrievers.ragflow import RagflowKnowledgeBase, run_state
from tests.conftest import free_port, run_cli
from tests.ragflow_double import API_KEY, RagflowDouble


@pytest.fixture
def ragflow():  # type: ignore[no-untyped-def]
    with RagflowDouble() as double:
        yield double


@pytest.fixture
def docs(tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "jupiter.md").write_text("Jupiter is the largest planet.\n\nJupiter has 95 known moons.", encoding="utf-8")
    (folder / "taiwan.md").write_text("臺北是臺灣的首都。\n\n玉山是臺灣最高的山。", encoding="utf-8")
    return folder


def kb_for(double: RagflowDouble, dataset: str = "planets", **kw) -> RagflowKnowledgeBase:  # type: ignore[no-untyped-def]
    return RagflowKnowledgeBase.from_spec(f"ragflow://{double.base_url.split('://')[1]}/{dataset}?api_key={API_KEY}&similarity_threshold=0.1", **kw)


def test_spec_parsing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kb = RagflowKnowledgeBase.from_spec("ragflows://rag.example:9380/my-docs?api_key=k&top_k=64&keyword=1&chunk_token_num=256")
    assert kb.base_url == "https://rag.example:9380" and kb.dataset_name == "my-docs" and kb.top_k == 64 and kb.keyword
    assert kb.parser_config == {"chunk_token_num": 256}
    with pytest.raises(ConfigError, match="unknown RAGFlow option"):
        RagflowKnowledgeBase.from_spec("ragflow://h:1/d?api_key=k&colour=red")
    with pytest.raises(ConfigError, match="API key"):
        monkeypatch.delenv("RAGFLOW_API_KEY", raising=False)
        RagflowKnowledgeBase.from_spec("ragflow://h:1/d")
    assert [run_state(x) for x in ("3", "DONE", "fail", 1)] == ["DONE", "DONE", "FAIL", "RUNNING"]


def test_ingest_parse_and_retrieve(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    seen = []
    report = kb.ingest([docs], progress=lambda done, total: seen.append((done, total)), poll=0.01)
    assert report.documents == 2 and report.chunks_added == 4 and report.chunks_total == 4
    assert seen[-1] == (2, 2)
    again = kb_for(ragflow).ingest([docs], poll=0.01)
    assert again.unchanged_documents == 2 and again.chunks_added == 0  # idempotent by name and size
    hits = kb.retrieve("how many moons does Jupiter have", 2)
    assert hits[0].text == "Jupiter has 95 known moons." and hits[0].source == "jupiter.md"
    assert set(hits[0].scores) == {"similarity", "vector_similarity", "term_similarity"} and hits[0].metadata["highlight"]
    raw = kb.search("Jupiter", 1)
    assert raw["total"] == 2 and len(raw["chunks"]) == 1 and raw["doc_aggs"][0]["doc_name"] == "jupiter.md"  # what the SDK drops
    assert kb.retrieve("   ", 3) == []
    assert [c.text for c in kb.chunks()][:2] == ["Jupiter is the largest planet.", "Jupiter has 95 known moons."]


def test_changed_file_is_replaced_and_prune(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.01)
    (docs / "jupiter.md").write_text("Jupiter has 95 moons.\n\nIo is volcanic.\n\nEuropa has ice.", encoding="utf-8")
    report = kb.ingest([docs / "jupiter.md"], prune=True, poll=0.01)
    assert report.chunks_removed == 2 + 2 and report.chunks_added == 3 and kb.sources() == ["jupiter.md"]


def test_parse_failure_leaves_nothing_behind(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "will-fail.md"
    bad.write_text("content", encoding="utf-8")
    kb = kb_for(ragflow, "fresh")
    with pytest.raises(KnowledgeBaseError, match="could not parse 1 of 1.*will-fail.md.*Can't parse"):
        kb.ingest([bad], poll=0.01)
    assert ragflow.state.documents == {} and ragflow.state.datasets == {}  # the dataset it created is gone too
    kept = kb_for(ragflow, "keep")
    with pytest.raises(KnowledgeBaseError):
        kept.ingest([bad], poll=0.01, keep_failed=True)
    assert len(ragflow.state.documents) == 1


def test_parse_timeout_cancels(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slow = tmp_path / "slow.md"
    slow.write_text("never finishes", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="longer than"):
        kb_for(ragflow).ingest([slow], poll=0.01, parse_timeout=0.2)
    assert ("DELETE", next(p for m, p in ragflow.state.requests if p.endswith("/chunks") and m == "DELETE")) in ragflow.state.requests


def test_errors_are_one_line(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    wrong = RagflowKnowledgeBase(ragflow.base_url, "planets", api_key="wrong")
    with pytest.raises(KnowledgeBaseError, match="API key is invalid") as info:
        wrong.ingest([docs])
    assert "RAGFLOW_API_KEY" in info.value.hint
    with pytest.raises(KnowledgeBaseError, match="no dataset 'missing'"):
        kb_for(ragflow, "missing").retrieve("x", 3)
    with pytest.raises(BackendUnavailableError, match="unreachable"):
        RagflowKnowledgeBase(f"http://127.0.0.1:{free_port()}", "d", api_key="k").retrieve("x", 1)
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.01)
    kb.dataset().id = "not-a-dataset"  # a dataset deleted behind our back: HTTP 200 with code 102
    with pytest.raises(KnowledgeBaseError, match="error 102: You don't own the dataset"):
        kb.retrieve("Jupiter", 2)


def test_pagination_of_documents(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(105):
        (folder / f"doc{i:03d}.md").write_text(f"Fact number {i}.", encoding="utf-8")
    kb = kb_for(ragflow, "many")
    assert kb.ingest([folder], poll=0.001).chunks_total == 105
    assert len(kb.sources()) == 105


def test_rag_agent_over_ragflow(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.01)
    llm = ScriptedLLM(["How many moons does Jupiter have?", "Jupiter, moons", "95 moons."])
    result = pipeline.create("rag-agent", llm, retriever=kb, k=2).run("Tell me: how many moons does Jupiter have?")
    assert result.answer == "95 moons." and result.sources[0].source == "jupiter.md"
    assert "Jupiter has 95 known moons." in llm.calls[-1][-1].content


def test_cli_ingest_and_query(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    spec = f"ragflow://{ragflow.base_url.split('://')[1]}/cli?api_key={API_KEY}&similarity_threshold=0.1"
    proc = run_cli("ingest", str(docs), "--kb", spec, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["chunks_total"] == 4
    found = run_cli("query", "玉山", "--kb", spec, "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["text"] == "玉山是臺灣最高的山。"
    bad = run_cli("query", "x", "--kb", spec.replace(API_KEY, "nope"))
    assert bad.returncode == 2 and "API key is invalid" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.live
@pytest.mark.skipif(not (os.environ.get("RAGFLOW_BASE_URL") and os.environ.get("RAGFLOW_API_KEY")), reason="no RAGFlow server: set RAGFLOW_BASE_URL and RAGFLOW_API_KEY")
def test_live_ragflow(docs) -> None:  # type: ignore[no-untyped-def]
    kb = RagflowKnowledgeBase(os.environ["RAGFLOW_BASE_URL"], "agentkit-live-test")
    kb.ingest([docs])
    assert kb.retrieve("Jupiter moons", 3)
