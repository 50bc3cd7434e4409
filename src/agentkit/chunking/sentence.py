"""Sentence-aware splitting for English and Chinese: sentences are packed up to the chunk size."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agentkit.chunking.base import SizeUnit, Splitter, greedy_exact, inner_positions, strip_span
from agentkit.chunking.recursive import RecursiveSplitter

# A sentence ends after . ! ? (plus closing quotes/brackets) followed by whitespace, after Chinese/
# Japanese 。！？ (no space needed), or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*(?=\s)|(?<=[。！？!?])[」』”’）]*|\n+")


def sentence_spans(text: str, start: int = 0, end: int | None = None, inner: frozenset[int] | None = None) -> list[tuple[int, int]]:
    """Whitespace-stripped, non-empty sentence spans of ``text[start:end]``, in order; no span edge falls
    inside a grapheme cluster (``inner``: from ``inner_positions(text)``, computed when not given)."""
    end = len(text) if end is None else end
    inner = inner_positions(text) if inner is None else inner
    out = []
    pos = start
    for m in _BOUNDARY.finditer(text, start, end):
        if m.end() in inner:
            continue  # 。 followed by a combining mark: the sentence goes on
        a, b = strip_span(text, pos, m.end(), inner)
        if a < b:
            out.append((a, b))
        pos = m.end()
    a, b = strip_span(text, pos, end, inner)
    if a < b:
        out.append((a, b))
    return out


class SentenceSplitter(Splitter):
    """Packs whole sentences up to ``chunk_size``; the overlap repeats trailing whole sentences.
    A single sentence larger than the chunk size is split recursively. Every chunk fits ``chunk_size``,
    measured on its own text (the gaps between sentences count)."""

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
        return pack(text, units, self.unit_sizes(text, units), self.chunk_size, self.chunk_overlap, self.exact_size)

    def unit_sizes(self, text: str, units: list[tuple[int, int]]) -> list[int]:
        return [self.size_of(text[a:b]) for a, b in units]

    @property
    def exact_size(self) -> Callable[[str], int] | None:
        """The size function ``pack`` must check each chunk with, or None when its estimate is exact (chars)."""
        return None if self.size_unit == "chars" else self.size_of


def pack(
    text: str, units: list[tuple[int, int]], sizes: list[int], chunk_size: int, chunk_overlap: int,
    exact_size: Callable[[str], int] | None = None,
) -> list[tuple[int, int]]:
    """Greedy packing of ordered units (each at most ``chunk_size``); a new chunk starts with the trailing
    units of the last one that fit in ``chunk_overlap``. A chunk's size is its units' sizes plus the gaps
    between them: in characters the gap is counted exactly (so the estimate is the span's length), in tokens
    as one per gap, and each chunk is then measured with ``exact_size`` and re-packed if it is over."""

    def gap(i: int) -> int:  # size of the text between unit i-1 and unit i
        between = units[i][0] - units[i - 1][1]
        return between if exact_size is None else int(between > 0)

    out: list[tuple[int, int]] = []

    def emit(window: list[int]) -> None:
        a, b = units[window[0]][0], units[window[-1]][1]
        if exact_size is None or len(window) == 1 or exact_size(text[a:b]) <= chunk_size:
            out.append((a, b))
        else:
            out.extend(greedy_exact([units[j] for j in window], chunk_size, lambda x, y: exact_size(text[x:y])))

    window: list[int] = []
    total = 0
    for i, size in enumerate(sizes):
        if window and total + gap(i) + size > chunk_size:
            emit(window)
            keep: list[int] = []
            kept = 0
            for j in reversed(window):
                joined = sizes[j] + (gap(keep[0]) + kept if keep else 0)
                if joined > chunk_overlap or joined + gap(i) + size > chunk_size:
                    break
                keep.insert(0, j)
                kept = joined
            window, total = keep, kept
        total += size + (gap(i) if window else 0)
        window.append(i)
    if window:
        emit(window)
    return out
