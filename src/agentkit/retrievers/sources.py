"""Pick the retriever a pipeline reads from: the knowledge base, the web, or both fused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentkit.errors import ConfigError
from agentkit.tools.cache import WebCache
from agentkit.tools.fetch import Fetcher

SOURCES = ("kb", "web", "both")
DEFAULT_SEARCH = "google"


def open_knowledge_base(spec: str | Any, **kwargs: Any) -> Any:
    """``ragflow://HOST:PORT/DATASET`` → RagflowKnowledgeBase; a directory or ``http://HOST:PORT/COLLECTION``
    → KnowledgeBase (Chroma). ``kwargs`` go to KnowledgeBase (embedder, splitter, mode)."""
    if not isinstance(spec, str | Path):
        return spec
    if str(spec).startswith(("ragflow://", "ragflows://")):
        from agentkit.retrievers.ragflow import RagflowKnowledgeBase

        return RagflowKnowledgeBase.from_spec(str(spec))
    from agentkit.retrievers.knowledge_base import KnowledgeBase

    return KnowledgeBase(spec, **kwargs)


def default_search_spec() -> str:
    return os.environ.get("AGENTKIT_SEARCH") or DEFAULT_SEARCH


def build_retriever(
    source: str,
    kb: str | None = None,
    kb_mode: str = "hybrid",
    search: str | None = None,
    n_results: int = 3,
    cache: WebCache | None = None,
    fetcher: Fetcher | None = None,
) -> Any:
    """``source``: ``kb`` (needs ``kb``), ``web`` (``search`` spec, default $AGENTKIT_SEARCH or google), ``both``."""
    from agentkit.retrievers.web import MultiRetriever, WebRetriever

    if source not in SOURCES:
        raise ConfigError(f"unknown source '{source}'", f"use one of: {', '.join(SOURCES)}")
    if source in ("kb", "both") and not kb:
        raise ConfigError(f"--source {source} needs a knowledge base", "pass --kb DIR (build one with agentkit ingest)")
    web = WebRetriever(search or default_search_spec(), fetcher=fetcher or Fetcher(cache=cache), n_results=n_results, cache=cache) if source != "kb" else None
    base = open_knowledge_base(kb, mode=kb_mode) if kb and source != "web" else None
    if web is not None and base is not None:
        return MultiRetriever({"kb": base, "web": web})
    return web or base
