"""A retriever over the web: search → fetch the hits → chunk each page → rank the chunks for the query.

Chunks keep exact spans into the page's extracted text and are marked ``untrusted`` so the QA prompt
fences them as data with their URL. Each page contributes at most ``max_chunks_per_page`` chunks, and the
answer step fits the total to the model's window.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from agentkit.chunking import make_splitter
from agentkit.chunking.base import Splitter
from agentkit.retrievers.base import RetrievedChunk
from agentkit.retrievers.bm25 import BM25Index
from agentkit.tools.cache import WebCache
from agentkit.tools.fetch import Fetcher
from agentkit.tools.search import SearchBackend, SearchResult, load_search

log = logging.getLogger(__name__)


class WebRetriever:
    """``WebRetriever("local://./pages")``, ``WebRetriever(GoogleSearch(lang="zh-TW"), fetcher=Fetcher(timeout=5))``.

    ``n_results`` pages are read per query (the HW01 notebook reads the top 3 of 2x over-fetched hits).
    """

    def __init__(
        self,
        search: SearchBackend | str,
        fetcher: Fetcher | None = None,
        n_results: int = 3,
        splitter: Splitter | None = None,
        max_chunks_per_page: int = 3,
        cache: WebCache | None = None,
    ) -> None:
        self.search = load_search(search, cache) if isinstance(search, str) else search
        self.fetcher = fetcher or Fetcher(cache=cache)
        self.n_results = n_results
        self.splitter = splitter or make_splitter("recursive", chunk_size=600, chunk_overlap=60)
        self.max_chunks_per_page = max_chunks_per_page

    def to_dict(self) -> dict[str, Any]:
        search = self.search.inner if hasattr(self.search, "inner") else self.search
        spec = getattr(search, "spec", None) or search.name
        f = self.fetcher
        return {"type": "web", "search": spec, "n_results": self.n_results, "max_chunks_per_page": self.max_chunks_per_page,
                "fetcher": {"timeout": f.timeout, "total_timeout": f.total_timeout, "max_bytes": f.max_bytes, "allow_private": f.allow_private, "render": f.render}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebRetriever:
        return cls(data["search"], Fetcher(**data.get("fetcher", {})), data.get("n_results", 3), max_chunks_per_page=data.get("max_chunks_per_page", 3))

    def pages(self, query: str) -> list[tuple[SearchResult, str, str]]:
        """(result, page text, title) for each hit that yielded text; a page that failed (a malformed URL, a refused
        address, a timeout, a hostile charset: ``Page.error``) is logged and skipped, keeping the engine's snippet."""
        results = self.search.search(query, self.n_results)
        to_fetch = [r for r in results if not r.text]
        fetched = dict(zip((r.url for r in to_fetch), self.fetcher.fetch_many([r.url for r in to_fetch]))) if to_fetch else {}
        out = []
        for r in results:
            if r.text:
                out.append((r, r.text, r.title))
                continue
            page = fetched[r.url]
            if page.ok and page.text.strip():
                out.append((r, page.text, page.title or r.title))
            else:
                log.info("skipped %s: %s", r.url, page.error or "no text")
                if r.snippet:  # the engine's snippet is still evidence
                    out.append((r, r.snippet, r.title))
        return out

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]:
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        for result, text, title in self.pages(query):
            for chunk in self.splitter.split(text):
                # surrogatepass: a URL from a search engine's JSON may hold a lone surrogate ("\ud800")
                ids.append(hashlib.sha256(f"{result.url}\0{chunk.start}\0{chunk.text}".encode("utf-8", "surrogatepass")).hexdigest()[:32])
                texts.append(chunk.text)
                metas.append({"source": result.url, "start": chunk.start, "end": chunk.end, "title": title, "rank": result.rank, "untrusted": True, "backend": result.backend})
        if not ids:
            return []
        ranked = BM25Index(ids, texts, metas).search(query, len(ids))
        seen = {c.chunk_id for c in ranked}
        # Chunks with no query term still beat nothing: append them by search rank, then position.
        rest = sorted((i for i in range(len(ids)) if ids[i] not in seen), key=lambda i: (metas[i]["rank"], metas[i]["start"]))
        ranked += [RetrievedChunk(texts[i], metas[i]["source"], metas[i]["start"], metas[i]["end"], 0.0, ids[i], metas[i], {"bm25": 0.0}) for i in rest]
        return _cap_per_source(ranked, self.max_chunks_per_page, k)


def _cap_per_source(chunks: Sequence[RetrievedChunk], per_source: int, k: int) -> list[RetrievedChunk]:
    counts: dict[str, int] = {}
    out = []
    for c in chunks:
        if counts.get(c.source, 0) < per_source:
            counts[c.source] = counts.get(c.source, 0) + 1
            out.append(c)
            if len(out) == k:
                break
    return out


class MultiRetriever:
    """Several retrievers fused by weighted reciprocal rank (``--source both``: knowledge base + web)."""

    def __init__(self, retrievers: dict[str, Any], weights: dict[str, float] | None = None) -> None:
        self.retrievers = retrievers
        self.weights = weights

    def to_dict(self) -> dict[str, Any]:
        return {"type": "multi", "retrievers": {name: r.to_dict() for name, r in self.retrievers.items()}, "weights": self.weights}

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]:
        from agentkit.retrievers.fusion import reciprocal_rank_fusion

        rankings = {name: r.retrieve(query, k) for name, r in self.retrievers.items()}
        return reciprocal_rank_fusion(rankings, self.weights)[:k]
