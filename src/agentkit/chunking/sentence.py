"""Sentence-aware splitting for English and Chinese: sentences are packed up to the chunk size."""

from __future__ import annotations

import re
from typing import Any

from agentkit.chunking.base import SizeUnit, Splitter, strip_span
from agentkit.chunking.recursive import RecursiveSplitter

# A sentence ends after . ! ? (plus closing quotes/brackets) followed by whitespace, after Chinese/
# Japanese 。！？ (no space needed), or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*(?=\s)|(?<=[。！？!?])[」』”’）]*|\n+")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Whitespace-stripped, non-empty sentence spans of ``text[start:end]``, in order."""
    end = len(text) if end is None else end
    out = []
    pos = start
    for m in _BOUNDARY.finditer(text, start, end):
        a, b = strip_span(text, pos, m.end())
        if a < b:
            out.append((a, b))
        pos = m.end()
    a, b = strip_span(text, pos, end)
    if a < b:
        out.append((a, b))
    return out


class SentenceSplitter(Splitter):
    """Packs whole sentences up to ``chunk_size``; the overlap repeats trailing whole sentences.
    A single sentence larger than the chunk size is split recursively."""

    name = "sentence"

    def __init__(self, chunk_size: int = 400, chunk_overlap: int = 0, size_unit: SizeUnit = "chars", tokenizer: str = "cl100k") -> None:
        super().__init__(chunk_size, chunk_overlap, size_unit, tokenizer)
        self._fallback = RecursiveSplitter(chunk_size, 0, size_unit, tokenizer)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict()

    def units(self, text: str) -> list[tuple[int, int]]:
        """Sentences, with over-long ones already cut to the size limit."""
        out = []
        for a, b in sentence_spans(text):
            if self.size_of(text[a:b]) <= self.chunk_size:
                out.append((a, b))
            else:
                out.extend((a + x, a + y) for x, y in self._fallback.spans(text[a:b]))
        return out

    def spans(self, text: str) -> list[tuple[int, int]]:
        units = self.units(text)
        sizes = [self.size_of(text[a:b]) for a, b in units]
        return pack(units, sizes, self.chunk_size, self.chunk_overlap)


def pack(units: list[tuple[int, int]], sizes: list[int], chunk_size: int, chunk_overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of ordered units (sizes counted separately, +1 per gap for the joining space);
    a new chunk starts with the trailing units of the last one that fit in ``chunk_overlap``."""
    out: list[tuple[int, int]] = []
    window: list[int] = []
    total = 0
    for i, size in enumerate(sizes):
        if window and total + 1 + size > chunk_size:
            out.append((units[window[0]][0], units[window[-1]][1]))
            keep: list[int] = []
            kept = 0
            for j in reversed(window):
                if kept + sizes[j] + 1 > chunk_overlap or kept + sizes[j] + 1 + size > chunk_size:
                    break
                keep.insert(0, j)
                kept += sizes[j] + 1
            window, total = keep, kept
        window.append(i)
        total += size + (1 if len(window) > 1 else 0)
    if window:
        out.append((units[window[0]][0], units[window[-1]][1]))
    return out
