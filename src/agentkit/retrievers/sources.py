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
    → KnowledgeBase (Chroma). ``kwargs`` go to KnowledgeBase (embedder, splitter, mode). RAGFlow embeds, chunks and
    ranks on the server, so a ``kwargs`` value it cannot honour is an error (None and mode "hybrid", which is what
    RAGFlow does, pass)."""
    if not isinstance(spec, str | Path):
        return spec
    if is_ragflow(spec):
        from agentkit.retrievers.ragflow import RagflowKnowledgeBase

        for key, value in kwargs.items():
            if value is not None and not (key == "mode" and value == "hybrid"):
                raise ConfigError(f"--{key} does not apply to a RAGFlow knowledge base", RAGFLOW_HINTS.get(key, "RAGFlow decides it on the server"))
        return RagflowKnowledgeBase.from_spec(str(spec))
    from agentkit.retrievers.knowledge_base import KnowledgeBase

    return KnowledgeBase(spec, **kwargs)


RAGFLOW_HINTS = {
    "mode": "RAGFlow ranks on the server; weigh vectors against keywords with ?vector_similarity_weight=",
    "embedder": "RAGFlow embeds with the dataset's own model (chosen when the dataset is created in RAGFlow)",
    "splitter": "RAGFlow chunks on the server; set ?chunk_method= and ?chunk_token_num= in the ragflow:// spec",
}


def is_ragflow(spec: Any) -> bool:
    """Whether ``spec`` names a RAGFlow knowledge base (``ragflow://`` or ``ragflows://``)."""
    return isinstance(spec, str) and spec.startswith(("ragflow://", "ragflows://"))


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
