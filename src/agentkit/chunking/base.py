"""Chunks with exact spans, and the size functions splitters measure them with."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agentkit.errors import ConfigError

SizeUnit = Literal["chars", "tokens"]


@dataclass(frozen=True)
class Chunk:
    """A piece of a source text. Invariant: ``source_text[start:end] == text``."""

    text: str
    start: int
    end: int
    index: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


class Splitter(ABC):
    """Base of every splitter: cheap ``__init__`` that validates, ``split`` that returns spanned chunks."""

    name: str = "splitter"

    def __init__(self, chunk_size: int = 400, chunk_overlap: int = 0, size_unit: SizeUnit = "chars", tokenizer: str = "cl100k") -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size={chunk_size} must be >= 1", "use e.g. --chunk-size 400")
        if chunk_overlap < 0 or chunk_overlap >= chunk_size:
            raise ConfigError(
                f"chunk_overlap={chunk_overlap} must be >= 0 and smaller than chunk_size={chunk_size}",
                "lower --chunk-overlap (e.g. to a tenth of the chunk size)",
            )
        if size_unit not in ("chars", "tokens"):
            raise ConfigError(f"unknown size unit '{size_unit}'", "use chars or tokens")
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.size_unit: SizeUnit = size_unit
        self.tokenizer = tokenizer
        self._sizer: Callable[[str], int] | None = None

    @property
    def size_of(self) -> Callable[[str], int]:
        """Length of a text in this splitter's unit; the tokenizer loads on first use."""
        if self._sizer is None:
            if self.size_unit == "chars":
                self._sizer = len
            else:
                from agentkit.chunking.tokenizers import get_tokenizer

                self._sizer = get_tokenizer(self.tokenizer).count
        return self._sizer

    @abstractmethod
    def spans(self, text: str) -> list[tuple[int, int]]:
        """``[start, end)`` spans of the chunks of ``text``, in order, none empty."""

    def split(self, text: str) -> list[Chunk]:
        return [Chunk(text[a:b], a, b, i) for i, (a, b) in enumerate(self.spans(text))]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap, "size_unit": self.size_unit, "tokenizer": self.tokenizer}

    def fingerprint(self) -> str:
        """A stable string naming everything that changes the chunks (stored with ingested chunks)."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.to_dict().items()))

    def replace(self, **changes: Any) -> Splitter:
        return type(self)(**{**{k: v for k, v in self.to_dict().items() if k != "name"}, **changes})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fingerprint()})"


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past leading and trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def pieces_of(text: str, start: int, end: int, sep: str) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` on ``sep``, keeping each separator at the start of the piece after it.
    Pieces are contiguous and cover the range exactly; with ``sep == ""`` each character is a piece."""
    if sep == "":
        return [(i, i + 1) for i in range(start, end)]
    out = []
    piece_start = start
    pos = text.find(sep, start + 1, end)  # a separator at position `start` belongs to the first piece
    while pos != -1:
        out.append((piece_start, pos))
        piece_start = pos
        pos = text.find(sep, pos + len(sep), end)
    out.append((piece_start, end))
    return out


def merge_pieces(pieces: list[tuple[int, int]], sizes: list[int], chunk_size: int, chunk_overlap: int) -> list[tuple[int, int]]:
    """Greedily merge contiguous pieces up to ``chunk_size``; each new chunk starts with the last pieces
    of the previous one that fit in ``chunk_overlap``. Same rule as LangChain's ``_merge_splits``."""
    out: list[tuple[int, int]] = []
    window: list[int] = []  # indices into pieces
    total = 0
    head = 0  # window[head:] is live; popping from the front without list shifts
    for i, size in enumerate(sizes):
        if total + size > chunk_size and len(window) > head:
            out.append((pieces[window[head]][0], pieces[window[-1]][1]))
            while len(window) > head and (total > chunk_overlap or total + size > chunk_size):
                total -= sizes[window[head]]
                head += 1
        window.append(i)
        total += size
    if len(window) > head:
        out.append((pieces[window[head]][0], pieces[window[-1]][1]))
    return out
