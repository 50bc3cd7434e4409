"""The web as a retriever: search → fetch → chunk → rank, fenced as untrusted in the QA prompt."""

from __future__ import annotations

import json

import pytest

from agentkit import pipeline
from agentkit.llm.scripted import ScriptedLLM
from agentkit.sources.select import build_retriever
from agentkit.sources.web import MultiRetriever, WebRetriever
from agentkit.tools import Fetcher, Politeness
from agentkit.tools.search import SearxngSearch
from tests.conftest import run_cli
from tests.web_site import INJECTION


@pytest.fixture
def pages(tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "ntu.html").write_text("<html><head><title>國立臺灣大學</title></head><body><p>國立臺灣大學的現任校長是陳文章，於2023年就任。</p></body></html>", encoding="utf-8")
    (folder / "jupiter.md").write_text("# Jupiter\nJupiter is the largest planet. It has 95 known moons.\n\nSaturn has rings.", encoding="utf-8")
    (folder / "urls.json").write_text(json.dumps({"ntu.html": "https://www.ntu.edu.tw/president"}), encoding="utf-8")
    return folder


def test_local_web_retriever_spans_and_untrusted(pages) -> None:  # type: ignore[no-untyped-def]
    chunks = WebRetriever(f"local://{pages}").retrieve("臺大校長是誰", 3)
    top = chunks[0]
    assert top.source == "https://www.ntu.edu.tw/president" and "陳文章" in top.text
    assert top.metadata["untrusted"] is True and top.metadata["title"] == "國立臺灣大學"
    assert top.label.startswith("https://www.ntu.edu.tw/president (chars")


def test_fetched_pages_ranked_and_injection_never_reaches_prompt(web_site) -> None:  # type: ignore[no-untyped-def]
    search = SearxngSearch(web_site.url("/searxng"), politeness=Politeness(min_interval=0, retries=0))
    retriever = WebRetriever(search, fetcher=Fetcher(allow_private=True), n_results=3)
    chunks = retriever.retrieve("how many moons does jupiter have", 4)
    sources = [c.source for c in chunks]
    assert web_site.url("/utf8.html") in sources and web_site.url("/hidden.html") in sources
    # the 404 page contributes its engine snippet instead of nothing
    assert any(c.text == "a snippet that survives a 404" for c in chunks)
    for c in chunks:
        assert INJECTION not in c.text
        if c.source == web_site.url("/utf8.html"):
            assert c.text == retriever.fetcher.fetch(c.source).text[c.start:c.end]

    llm = ScriptedLLM(["95 moons."])
    result = pipeline.create("rag", llm, retriever=retriever, k=4).run("How many moons does Jupiter have?")
    prompt = llm.calls[0][-1].content
    assert "untrusted web page" in prompt and web_site.url("/utf8.html") in prompt
    assert INJECTION not in prompt and result.answer == "95 moons."


def test_per_page_cap(pages) -> None:  # type: ignore[no-untyped-def]
    (pages / "long.md").write_text("\n\n".join(f"Jupiter fact number {i}: Jupiter is a gas giant." for i in range(40)), encoding="utf-8")
    chunks = WebRetriever(f"local://{pages}", max_chunks_per_page=2).retrieve("jupiter gas giant", 6)
    per_source: dict[str, int] = {}
    for c in chunks:
        per_source[c.source] = per_source.get(c.source, 0) + 1
    assert max(per_source.values()) <= 2


def test_both_sources_fused(pages, tmp_path, hash_embedder) -> None:  # type: ignore[no-untyped-def]
    from agentkit.retrievers import KnowledgeBase

    kb_dir = tmp_path / "kb"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "saturn.md").write_text("Saturn's rings are made of ice.", encoding="utf-8")
    KnowledgeBase(kb_dir, embedder=hash_embedder).ingest([docs])
    both = MultiRetriever({"kb": KnowledgeBase(kb_dir, embedder=hash_embedder), "web": WebRetriever(f"local://{pages}")})
    sources = {c.source.rsplit("/", 1)[-1] for c in both.retrieve("saturn rings jupiter", 4)}
    assert "saturn.md" in sources and "jupiter.md" in sources


def test_build_retriever_errors() -> None:
    from agentkit.errors import ConfigError

    with pytest.raises(ConfigError, match="knowledge base"):
        build_retriever("kb")
    with pytest.raises(ConfigError, match="unknown source"):
        build_retriever("internet")


@pytest.mark.slow
def test_cli_ask_rag_agent_with_web_source(pages) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("ask", "臺大的校長是誰？", "--pipeline", "rag-agent", "--source", "web", "--search-backend", f"local://{pages}", "--max-tokens", "32", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [s["name"] for s in data["trace"]] == ["extract_question", "extract_keywords", "retrieve", "answer"]
    assert data["answer"].strip() and any(s["source"] == "https://www.ntu.edu.tw/president" for s in data["sources"])


def test_malformed_urls_and_charsets_do_not_sink_the_pipeline(web_site) -> None:  # type: ignore[no-untyped-def]
    """Search results with 'http://a..b/', 'http://[::1', 'http://xn--/', a lone surrogate in a host name and codec
    charsets beside one good page: the failures are skipped (their snippets kept), the good page is read, and the
    pipeline answers."""
    search = SearxngSearch(web_site.url("/searxng-bad"), politeness=Politeness(min_interval=0, retries=0))
    retriever = WebRetriever(search, fetcher=Fetcher(allow_private=True, timeout=10), n_results=7)
    chunks = retriever.retrieve("how many moons does jupiter have", 8)
    assert any(c.source == web_site.url("/utf8.html") and "95 known moons" in c.text for c in chunks)
    assert any(c.text == "snippet 0" and c.source == "http://a..b/" for c in chunks)
    llm = ScriptedLLM(["95 moons."])
    result = pipeline.create("rag", llm, retriever=retriever, k=8).run("How many moons does Jupiter have?")
    assert result.answer == "95 moons." and "95 known moons" in llm.calls[0][-1].content
