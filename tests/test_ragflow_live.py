"""The RAGFlow knowledge base's behaviour as a user sees it, against a real server when RAGFLOW_BASE_URL and
RAGFLOW_API_KEY are set (see docs/ragflow.md, "Testing against a real RAGFlow"), and always against both releases of
the protocol double, so this module is known to run unchanged wherever it points.

Each test works in a dataset of its own, named ``agentkit-live-<random>``, and deletes it afterwards. A real server
must have a default embedding model configured; parsing there takes seconds to minutes, hence the long timeout.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from agentkit.errors import KnowledgeBaseError
from agentkit.retrievers.ragflow import RagflowKnowledgeBase
from tests.ragflow_double import API_KEY, VERSIONS, RagflowDouble

LIVE = bool(os.environ.get("RAGFLOW_BASE_URL") and os.environ.get("RAGFLOW_API_KEY"))


@dataclass(frozen=True)
class Server:
    base_url: str
    api_key: str
    poll: float
    parse_timeout: float


@pytest.fixture(params=[*VERSIONS, pytest.param("live", marks=[pytest.mark.live, pytest.mark.skipif(not LIVE, reason="no RAGFlow server: set RAGFLOW_BASE_URL and RAGFLOW_API_KEY")])])
def server(request) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    if request.param == "live":
        yield Server(os.environ["RAGFLOW_BASE_URL"].rstrip("/"), os.environ["RAGFLOW_API_KEY"], 1.0, 900.0)
        return
    with RagflowDouble(request.param) as double:
        yield Server(double.base_url, API_KEY, 0.001, 30.0)


@pytest.fixture
def dataset(server: Server) -> Iterator[str]:
    name = f"agentkit-live-{uuid.uuid4().hex[:10]}"
    yield name
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=f"{server.base_url}/api/v1", headers=headers, timeout=60, trust_env=False) as client:
        found = client.get("/datasets", params={"name": name}).json()
        ids = [d["id"] for d in found.get("data") or [] if d.get("name") == name]
        if ids:
            client.request("DELETE", "/datasets", json={"ids": ids})


def open_kb(server: Server, name: str) -> RagflowKnowledgeBase:
    return RagflowKnowledgeBase(server.base_url, name, api_key=server.api_key, similarity_threshold=0.0, vector_similarity_weight=0.3, parse_timeout=server.parse_timeout)


def test_ingest_twice_then_retrieve(server: Server, dataset: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for folder, text in (("en", "Jupiter is the largest planet.\n\nJupiter has 95 known moons."), ("zh", "玉山是臺灣最高的山。\n\n臺北是臺灣的首都。")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text(text, encoding="utf-8")  # same name, different folders
    kb = open_kb(server, dataset)
    first = kb.ingest([tmp_path / "en", tmp_path / "zh"], prune=True, poll=server.poll)
    assert first.documents == 2 and first.chunks_total >= 2 and first.chunks_total == kb.count()
    again = kb.ingest([tmp_path / "en", tmp_path / "zh"], prune=True, poll=server.poll)
    assert again.unchanged_documents == 2 and again.chunks_added == 0 and again.chunks_total == first.chunks_total
    assert kb.sources() == sorted(str((tmp_path / f / "README.md").resolve()) for f in ("en", "zh"))
    hits = kb.retrieve("How many moons does Jupiter have?", 3)
    assert hits and any("95" in h.text for h in hits)
    assert {h.source for h in kb.retrieve("臺灣最高的山", 3)} & {str((tmp_path / "zh" / "README.md").resolve())}
    assert kb.chunks() and {c.source for c in kb.chunks()} == set(kb.sources())


def test_same_size_edit_is_replaced_and_prune_removes(server: Server, dataset: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    a.write_text("Saturn has 146 known moons.", encoding="utf-8")
    b.write_text("Mars has two moons.", encoding="utf-8")
    kb = open_kb(server, dataset)
    kb.ingest([a, b], poll=server.poll)
    a.write_text("Saturn has 274 known moons.", encoding="utf-8")  # same size, new content
    report = kb.ingest([a], prune=True, poll=server.poll)
    assert report.unchanged_documents == 0 and report.chunks_added >= 1 and report.chunks_removed >= 2
    assert kb.sources() == [str(a.resolve())]
    assert any("274" in c.text for c in kb.chunks()) and not any("146" in c.text for c in kb.chunks())


def test_refusals_happen_before_upload(server: Server, dataset: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "guide.rst").write_text("Title\n=====", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"does not accept \.rst"):
        open_kb(server, dataset).ingest([tmp_path], poll=server.poll)
    with pytest.raises(KnowledgeBaseError, match="no dataset"):
        open_kb(server, dataset).count()  # nothing was created


def test_more_than_100_chunks(server: Server, dataset: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    facts = tmp_path / "facts.txt"
    facts.write_text("\n\n".join(f"Moon fact {i}: the moon number {i} of the catalogue orbits Jupiter." for i in range(130)), encoding="utf-8")
    kb = RagflowKnowledgeBase(server.base_url, dataset, api_key=server.api_key, similarity_threshold=0.0, parse_timeout=server.parse_timeout,
                              chunk_method="naive", parser_config={"chunk_token_num": 16, "delimiter": "\n"})
    kb.ingest([facts], poll=server.poll)
    if kb.count() <= 100:
        pytest.skip(f"the server made {kb.count()} chunks; this test needs more than 100")
    hits = kb.retrieve("moon fact catalogue Jupiter", 120)
    assert len(hits) > 100 and len({h.chunk_id for h in hits}) == len(hits)
