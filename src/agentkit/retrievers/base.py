"""The contracts of the retrieval layer: what a retriever returns (``RetrievedChunk``), what a retriever is
(``Retriever``), what a knowledge base is (``KnowledgeBaseProtocol``) and what ingestion reports (``IngestReport``).

Chroma and RAGFlow knowledge bases both implement ``KnowledgeBaseProtocol``; the pipeline, the CLI, distillation and
the MCP server depend on the protocol, never on one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

#: what ``start``/``end`` index: the source file as Python reads it, the text extracted from it (HTML, PDF),
#: or only the chunk itself (servers such as RAGFlow report no offsets)
SpanOf = Literal["source_text", "extracted_text", "chunk_text"]


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk found for a query. For text files ``open(source).read()[start:end] == text``."""

    text: str
    source: str
    start: int
    end: int
    score: float
    chunk_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: per-method scores behind ``score`` (e.g. dense, bm25, rrf)
    scores: dict[str, float] = field(default_factory=dict)
    #: text from the open web or another untrusted origin: prompts fence it as data, never instructions
    untrusted: bool = False
    span_of: SpanOf = "source_text"

    def __post_init__(self) -> None:
        # Stores (Chroma metadata, BM25 JSON) persist these two as metadata keys; in memory they are typed fields.
        if not self.untrusted and self.metadata.get("untrusted"):
            object.__setattr__(self, "untrusted", True)
        if self.span_of == "source_text" and self.metadata.get("span_of") in ("extracted_text", "chunk_text"):
            object.__setattr__(self, "span_of", self.metadata["span_of"])

    @property
    def label(self) -> str:
        if self.source.startswith(("http://", "https://")):
            return f"{self.source} (chars {self.start}-{self.end})"
        name = self.source.replace("\\", "/").rsplit("/", 1)[-1]
        return f"{name}:{self.start}-{self.end}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "chunk_id": self.chunk_id,
            "scores": self.scores,
            "untrusted": self.untrusted,
            "span_of": self.span_of,
            "metadata": self.metadata,
        }


@runtime_checkable
class Retriever(Protocol):
    """Anything with ``retrieve(query, k)`` returning best-first chunks."""

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]: ...


@dataclass
class IngestReport:
    documents: int = 0
    unchanged_documents: int = 0
    chunks_total: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    #: unchanged chunks whose tags changed (metadata rewritten, nothing embedded)
    chunks_retagged: int = 0
    embedded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "unchanged_documents": self.unchanged_documents,
            "chunks_total": self.chunks_total,
            "chunks_added": self.chunks_added,
            "chunks_removed": self.chunks_removed,
            "chunks_retagged": self.chunks_retagged,
            "embedded": self.embedded,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "seconds": round(self.seconds, 3),
        }


Progress = Callable[[int, int], None]


@runtime_checkable
class KnowledgeBaseProtocol(Protocol):
    """A store of documents that ingests files and retrieves chunks (Chroma, RAGFlow, a plugin's own)."""

    @property
    def spec(self) -> str:
        """The spec string that reopens this knowledge base (``chroma://DIR``, ``ragflow://HOST/DATASET``)."""
        ...

    def ingest(self, paths: Sequence[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = (), tags: Sequence[str] = (),
               prune: bool = False, text_column: str = "text", progress: Progress | None = None) -> IngestReport: ...

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]: ...

    def count(self) -> int:
        """Chunks stored (read from the store, not remembered)."""
        ...

    def sources(self) -> list[str]: ...

    def chunks(self) -> list[RetrievedChunk]:
        """Every chunk, ordered by source then position (distillation reads them all)."""
        ...

    def to_dict(self) -> dict[str, Any]: ...
