"""Pick the retriever a pipeline reads from: the knowledge base, the web, or both fused."""

from __future__ import annotations

import os
from typing import Any

from agentkit.errors import ConfigError
from agentkit.retrievers.open import open_knowledge_base
from agentkit.tools.cache import WebCache
from agentkit.tools.fetch import Fetcher

SOURCES = ("kb", "web", "both")
DEFAULT_SEARCH = "google"


def default_search_spec() -> str:
    return os.environ.get("AGENTKIT_SEARCH") or DEFAULT_SEARCH


def build_retriever(
    source: str,
    kb: str | None = None,
    kb_mode: str | None = None,
    search: str | None = None,
    n_results: int = 3,
    cache: WebCache | None = None,
    fetcher: Fetcher | None = None,
) -> Any:
    """``source``: ``kb`` (needs ``kb``), ``web`` (``search`` spec, default $AGENTKIT_SEARCH or google), ``both``."""
    from agentkit.sources.web import MultiRetriever, WebRetriever

    if source not in SOURCES:
        raise ConfigError(f"unknown source '{source}'", f"use one of: {', '.join(SOURCES)}")
    if source in ("kb", "both") and not kb:
        raise ConfigError(f"--source {source} needs a knowledge base", "pass --kb DIR (build one with agentkit ingest)")
    web = WebRetriever(search or default_search_spec(), fetcher=fetcher or Fetcher(cache=cache), n_results=n_results, cache=cache) if source != "kb" else None
    base = open_knowledge_base(kb, mode=kb_mode) if kb and source != "web" else None
    if web is not None and base is not None:
        return MultiRetriever({"kb": base, "web": web})
    return web or base


def retriever_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a retriever saved by its ``to_dict`` (a pipeline's ``retrieve`` step keeps one)."""
    from agentkit.sources.web import MultiRetriever, WebRetriever

    kind = data.get("type")
    if kind == "knowledge_base":
        return open_knowledge_base(data["spec"], **{k: data[k] for k in ("mode", "embedder") if data.get(k) is not None})
    if kind == "web":
        return WebRetriever.from_dict(data)
    if kind == "multi":
        return MultiRetriever({name: retriever_from_dict(sub) for name, sub in data["retrievers"].items()}, data.get("weights"))
    raise ConfigError(f"cannot rebuild a retriever of type {kind!r}", "save pipelines whose retrievers have to_dict() (knowledge bases, web, multi)")
