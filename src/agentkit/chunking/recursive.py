"""Recursive character splitting (LangChain's algorithm) that tracks spans instead of copying strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentkit.chunking.base import SizeUnit, Splitter, merge_pieces, pieces_of, strip_span

DEFAULT_SEPARATORS = ("\n\n", "\n", ".", "?", "!", " ", "")


class RecursiveSplitter(Splitter):
    """Split on the first separator present, merge pieces up to ``chunk_size``, recurse into pieces
    still too big with the next separators. Separators stay with the text after them; chunks are
    whitespace-stripped. Invariant: ``text[c.start:c.end] == c.text`` for every chunk."""

    name = "recursive"

    def __init__(
        self,
        chunk_size: int = 400,
        chunk_overlap: int = 0,
        size_unit: SizeUnit = "chars",
        tokenizer: str = "cl100k",
        separators: Sequence[str] = DEFAULT_SEPARATORS,
    ) -> None:
        super().__init__(chunk_size, chunk_overlap, size_unit, tokenizer)
        self.separators = tuple(separators)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "separators": list(self.separators)}

    def spans(self, text: str) -> list[tuple[int, int]]:
        out = []
        for a, b in self._split(text, 0, len(text), self.separators):
            a, b = strip_span(text, a, b)
            if a < b:
                out.append((a, b))
        return out

    def _sizes(self, text: str, pieces: list[tuple[int, int]]) -> list[int]:
        if self.size_unit == "chars":
            return [b - a for a, b in pieces]
        size_of = self.size_of
        return [size_of(text[a:b]) for a, b in pieces]

    def _split(self, text: str, start: int, end: int, separators: Sequence[str]) -> list[tuple[int, int]]:
        sep, rest = separators[-1], ()
        for i, candidate in enumerate(separators):
            if candidate == "" or text.find(candidate, start, end) != -1:
                sep, rest = candidate, tuple(separators[i + 1:])
                break
        pieces = pieces_of(text, start, end, sep)
        sizes = self._sizes(text, pieces)
        out: list[tuple[int, int]] = []
        good: list[tuple[int, int]] = []
        good_sizes: list[int] = []
        for piece, size in zip(pieces, sizes):
            if size < self.chunk_size:
                good.append(piece)
                good_sizes.append(size)
                continue
            if good:
                out.extend(merge_pieces(good, good_sizes, self.chunk_size, self.chunk_overlap))
                good, good_sizes = [], []
            out.extend(self._split(text, *piece, rest) if rest else [piece])
        if good:
            out.extend(merge_pieces(good, good_sizes, self.chunk_size, self.chunk_overlap))
        return out
