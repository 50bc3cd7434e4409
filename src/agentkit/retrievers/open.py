"""Open any knowledge base from a spec string, through the knowledge-base plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.spec import Spec, warn_deprecated


def open_knowledge_base(spec: str | Path | Any, **kwargs: Any) -> Any:
    """A knowledge base from a spec (knowledge-base plugins): ``chroma://DIR`` — or just ``DIR`` —,
    ``chroma+http://HOST:PORT/COLLECTION``, ``ragflow://HOST:PORT/DATASET``. ``kwargs`` go to the factory
    (embedder, splitter, mode); an object that is already a knowledge base is returned as is."""
    from agentkit.plugins import registry

    if not isinstance(spec, str | Path):
        return spec
    text = str(spec)
    if "://" not in text:  # a bare path is an embedded Chroma directory
        return registry("knowledge_base").create(Spec("chroma", text, {}, "", text), **kwargs)
    if text.startswith(("http://", "https://")):  # the old form of a Chroma server
        new = "chroma+" + text
        warn_deprecated(text, new)
        text = new
    return registry("knowledge_base").create(text, **kwargs)
