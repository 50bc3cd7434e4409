"""What every retriever returns, and the one method it has."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


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
            "metadata": self.metadata,
        }


@runtime_checkable
class Retriever(Protocol):
    """Anything with ``retrieve(query, k)`` returning best-first chunks."""

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]: ...
