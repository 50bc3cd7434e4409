"""Open any knowledge base from a spec string, through the knowledge-base plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.errors import ConfigError, KnowledgeBaseError
from agentkit.spec import Spec, parse_spec, warn_deprecated

#: the file an embedded Chroma knowledge base keeps in its directory
CHROMA_STORE = "chroma.sqlite3"


def open_knowledge_base(spec: str | Path | Any, **kwargs: Any) -> Any:
    """A knowledge base from a spec (knowledge-base plugins): ``chroma://DIR`` — or just ``DIR`` —,
    ``chroma+http://HOST:PORT/COLLECTION``, ``ragflow://HOST:PORT/DATASET``. ``kwargs`` go to the factory
    (embedder, splitter, mode); an object that is already a knowledge base is returned as is."""
    from agentkit.plugins import registry

    if not isinstance(spec, str | Path):
        return spec
    text = str(spec)
    if is_ragflow(text):
        # RAGFlow embeds, chunks and ranks on the server: a local-only value is an error, never silently dropped
        # (None, and mode "hybrid" — what RAGFlow does — pass).
        for key, value in kwargs.items():
            if value is not None and not (key == "mode" and value == "hybrid"):
                raise ConfigError(f"--{key} does not apply to a RAGFlow knowledge base", RAGFLOW_HINTS.get(key, "RAGFlow decides it on the server"))
        kwargs = {}
    if "://" not in text:  # a bare path is an embedded Chroma directory
        return registry("knowledge_base").create(Spec("chroma", text, {}, "", text), **kwargs)
    if text.startswith(("http://", "https://")):  # the old form of a Chroma server
        new = "chroma+" + text
        warn_deprecated(text, new)
        text = new
    return registry("knowledge_base").create(text, **kwargs)


def require_existing(spec: str | Path) -> None:
    """Refuse a local knowledge base (``DIR`` or ``chroma://DIR``) that was never built: opening one creates it,
    so a mistyped path would otherwise read as an empty knowledge base. Servers are left to answer for themselves."""
    text = str(spec)
    if "://" in text and not text.startswith("chroma://"):
        return
    target = parse_spec(text, "knowledge base").target if text.startswith("chroma://") else text
    path = Path(target).expanduser()
    build = f"build it first: agentkit ingest PATH --kb {text}"
    if not path.exists():
        raise KnowledgeBaseError(f"no knowledge base at {text}", build)
    if not path.is_dir():
        raise KnowledgeBaseError(f"{text} is a file, not a knowledge base", f"give the folder agentkit ingest wrote, or {build}")
    if not (path / CHROMA_STORE).is_file():
        raise KnowledgeBaseError(f"{text} is a folder but not a knowledge base (no {CHROMA_STORE} in it)", f"give the folder agentkit ingest wrote, or {build}")


RAGFLOW_HINTS = {
    "mode": "RAGFlow ranks on the server; weigh vectors against keywords with ?vector_similarity_weight=",
    "embedder": "RAGFlow embeds with the dataset's own model (chosen when the dataset is created in RAGFlow)",
    "splitter": "RAGFlow chunks on the server; set ?chunk_method= and ?chunk_token_num= in the ragflow:// spec",
}


def is_ragflow(spec: Any) -> bool:
    """Whether ``spec`` names a RAGFlow knowledge base (``ragflow://`` or ``ragflows://``)."""
    return isinstance(spec, str) and spec.startswith(("ragflow://", "ragflows://"))
