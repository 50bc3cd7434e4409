"""Every sync API called from inside a running event loop, as in a Jupyter or Colab cell (where HW01 students work).

A notebook cell runs inside the kernel's loop, so a sync API that calls ``asyncio.run`` there fails with
"asyncio.run() cannot be called from a running event loop". Each test wraps the sync call in
``asyncio.run(main())`` with an async ``main`` that calls it directly, the way a cell does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from agentkit import pipeline
from agentkit.llm import GenerationParams, load_llm
from agentkit.llm.scripted import ScriptedLLM
from agentkit.retrievers import KnowledgeBase
from agentkit.sources.web import WebRetriever
from agentkit.tools import Fetcher, Politeness
from agentkit.tools.search import SearxngSearch
from tests.ollama_double import OllamaDouble
from tests.web_site import INJECTION

T = TypeVar("T")


def in_a_cell(call: Callable[[], T]) -> T:
    """Run ``call`` the way a notebook cell does: synchronously, while an event loop is running."""

    async def main() -> T:
        asyncio.get_running_loop()  # the premise: a loop is running here
        return call()

    return asyncio.run(main())


def test_fetcher_fetch(web_site: Any) -> None:
    page = in_a_cell(lambda: Fetcher(allow_private=True).fetch(web_site.url("/utf8.html")))
    assert page.ok and "Jupiter is the largest planet" in page.text


def test_fetcher_fetch_many(web_site: Any) -> None:
    pages = in_a_cell(lambda: Fetcher(allow_private=True).fetch_many([web_site.url("/utf8.html"), web_site.url("/big5.html"), web_site.url("/status/404")]))
    assert [p.ok for p in pages] == [True, True, False]
    assert "陳文章" in pages[1].text and "404" in pages[2].error


def _searxng(web_site: Any) -> SearxngSearch:
    return SearxngSearch(web_site.url("/searxng"), politeness=Politeness(min_interval=0, retries=0))


def test_web_retriever_retrieve(web_site: Any) -> None:
    retriever = WebRetriever(_searxng(web_site), fetcher=Fetcher(allow_private=True), n_results=3)
    chunks = in_a_cell(lambda: retriever.retrieve("how many moons does jupiter have", 4))
    assert web_site.url("/utf8.html") in {c.source for c in chunks}
    assert all(INJECTION not in c.text for c in chunks)


def test_pipeline_run_and_run_many_with_a_web_source(web_site: Any) -> None:
    llm = ScriptedLLM(["95 moons."])
    pipe = pipeline.build("rag", llm, source="web", search=f"searxng:{web_site.url('/searxng')}", allow_private=True, k=3)
    result = in_a_cell(lambda: pipe.run("How many moons does Jupiter have?"))
    assert result.answer == "95 moons." and web_site.url("/utf8.html") in {s.source for s in result.sources}
    results = in_a_cell(lambda: pipe.run_many(["How many moons does Jupiter have?", "Which planet has rings?"], concurrency=2))
    assert [r.answer for r in results] == ["95 moons.", "95 moons."] and all(r.sources for r in results)


def test_knowledge_base_ingest_and_retrieve(tmp_path: Any, hash_embedder: Any) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ntu.md").write_text("國立臺灣大學的現任校長是陳文章。", encoding="utf-8")
    (docs / "mars.md").write_text("Mars is red because of iron oxide.", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    in_a_cell(lambda: kb.ingest([docs]))
    chunks = in_a_cell(lambda: kb.retrieve("臺大校長是誰", 1))
    assert chunks[0].source.endswith("ntu.md") and "陳文章" in chunks[0].text


def test_llm_generate_over_http() -> None:
    with OllamaDouble("Paris.") as server:
        llm = load_llm(f"ollama://tiny?host={server.url}")
        assert in_a_cell(lambda: llm.generate("Capital of France?")).text == "Paris."
        assert in_a_cell(lambda: ScriptedLLM(["ok"]).generate("hi")).text == "ok"


@pytest.mark.slow
def test_llm_generate_embedded(embedded_llm: Any) -> None:
    completion = in_a_cell(lambda: embedded_llm.generate("Say hello.", GenerationParams(max_tokens=8)))
    assert completion.text and completion.usage.completion_tokens > 0
