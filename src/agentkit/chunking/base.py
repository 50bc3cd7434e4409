"""Chunks with exact spans, the size functions splitters measure them with, and the cutting rules all
splitters share: a chunk never exceeds ``chunk_size`` in its unit, and no cut falls inside a grapheme cluster
(an emoji ZWJ sequence, a flag, a letter with its combining marks, CR LF)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import regex

from agentkit.errors import ConfigError

SizeUnit = Literal["chars", "tokens"]

_GRAPHEME = regex.compile(r"\X")
# Characters that can join the character before them into one grapheme cluster (UAX #29: Extend, ZWJ,
# SpacingMark, Prepend, regional indicators, conjoining Hangul jamo, the CR of CR LF). Text without them
# (most English and Chinese) has a boundary between every two code points.
_JOINING_RUN = regex.compile(
    r"[\p{Grapheme_Cluster_Break=Extend}\p{Grapheme_Cluster_Break=ZWJ}\p{Grapheme_Cluster_Break=SpacingMark}"
    r"\p{Grapheme_Cluster_Break=Prepend}\p{Grapheme_Cluster_Break=Regional_Indicator}\p{Grapheme_Cluster_Break=L}"
    r"\p{Grapheme_Cluster_Break=V}\p{Grapheme_Cluster_Break=T}\r]+"
)


def inner_positions(text: str) -> frozenset[int]:
    """Positions strictly inside a grapheme cluster of ``text``: a cut there would split a user-perceived
    character. Only the regions around joining characters are segmented (``\\X``), so plain text costs one scan."""
    regions: list[list[int]] = []
    for m in _JOINING_RUN.finditer(text):
        # Between two characters that are both non-joining there is always a boundary, so a region from the
        # character before a run to the character after it can be segmented on its own; runs one character
        # apart share that character and are merged.
        start, end = max(m.start() - 1, 0), min(m.end() + 1, len(text))
        if regions and start <= regions[-1][1]:
            regions[-1][1] = end
        else:
            regions.append([start, end])
    inner: set[int] = set()
    for start, end in regions:
        for g in _GRAPHEME.finditer(text, start, end):
            inner.update(range(g.start() + 1, g.end()))
    return frozenset(inner)


def graphemes(text: str) -> list[str]:
    """The grapheme clusters of ``text``, in order."""
    return list(_GRAPHEME.findall(text))


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


def strip_span(text: str, start: int, end: int, inner: frozenset[int] = frozenset()) -> tuple[int, int]:
    """Shrink ``[start, end)`` past leading and trailing whitespace, a grapheme cluster at a time: a space
    that carries a combining mark is visible and stays, CR LF goes."""
    while start < end and text[start].isspace():
        stop = start + 1
        while stop < end and stop in inner:
            stop += 1
        if not text[start:stop].isspace():
            break
        start = stop
    while end > start and text[end - 1].isspace():
        first = end - 1
        while first > start and first in inner:
            first -= 1
        if not text[first:end].isspace():
            break
        end = first
    return start, end


def cut_points(text: str, start: int, end: int, sep: str, allowed: Callable[[int], bool], keep_end: bool = False) -> list[int]:
    """Positions strictly inside ``(start, end)`` where ``text[start:end]`` is cut on ``sep``: before each
    separator, or after it with ``keep_end``; ``sep == ""`` cuts between grapheme clusters. Only positions
    ``allowed`` accepts are used (grapheme boundaries, and whatever else a splitter requires)."""
    if sep == "":
        return [i for i in range(start + 1, end) if allowed(i)]
    out: list[int] = []
    pos = text.find(sep, start, end)
    while pos != -1:
        cut = pos + len(sep) if keep_end else pos
        if start < cut < end and allowed(cut) and (not out or cut > out[-1]):
            out.append(cut)
        pos = text.find(sep, pos + len(sep), end)
    return out


def pieces_of(text: str, start: int, end: int, sep: str, allowed: Callable[[int], bool] = lambda _: True, keep_end: bool = False) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` on ``sep``; each separator stays at the start of the piece after it (at the
    end of the piece before it with ``keep_end``). Pieces are contiguous and cover the range exactly."""
    bounds = [start, *cut_points(text, start, end, sep, allowed, keep_end), end]
    return [(a, b) for a, b in pairwise(bounds) if a < b]


def greedy_exact(units: Sequence[tuple[int, int]], limit: int, span_size: Callable[[int, int], int]) -> list[tuple[int, int]]:
    """Contiguous runs of ``units`` whose measured sizes (``span_size(start, end)``) fit ``limit``; a unit
    alone may not fit and stays whole. The fallback when sizes estimated unit by unit (tokens) add up to
    less than the span measures."""
    out = []
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and span_size(units[i][0], units[j][1]) <= limit:
            j += 1
        out.append((units[i][0], units[j - 1][1]))
        i = j
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
