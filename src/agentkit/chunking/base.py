"""Chunks with exact spans, the size functions splitters measure them with, and the cutting rules all
splitters share: a chunk never exceeds ``chunk_size`` in its unit, and no cut falls inside a grapheme cluster
(an emoji ZWJ sequence, a flag, a letter with its combining marks, CR LF)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, pairwise
from operator import add
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
_CR_RUN = regex.compile(r"\r+")


# Planes that hold joining characters: the BMP, the SMP (emoji modifiers, regional indicators, combining marks of
# historic scripts) and plane 14 (tags, variation selectors); planes 2-13 (CJK extensions, unassigned) and the
# private-use planes hold none.
_JOINING_PLANES = ((0x0000, 0x20000), (0xE0000, 0xF0000))
_TABLE_FROM = 20_000  # characters: below this, scanning with the regex costs less than building the table once


@lru_cache(maxsize=1)
def _joining_table() -> Any:
    """A boolean per code point: True for the characters ``_JOINING_RUN`` matches. Built once per process by one
    regex scan of the planes that can hold them (~40 ms); a text is then classified by one vectorized lookup —
    the regex's Unicode property classes cost ~14 MB/s, more than the whole rest of a plain-text split."""
    import numpy as np

    table = np.zeros(0x110000, dtype=bool)
    for low, high in _JOINING_PLANES:
        for m in _JOINING_RUN.finditer("".join(map(chr, range(low, high)))):
            table[low + m.start():low + m.end()] = True
    return table


def _joining_runs(text: str) -> list[tuple[int, int]]:
    """The maximal runs of joining characters in ``text`` (the matches of ``_JOINING_RUN``), as spans."""
    if text.isascii():  # in ASCII only the CR of CR LF joins
        return [(m.start(), m.end()) for m in _CR_RUN.finditer(text)] if "\r" in text else []
    if len(text) < _TABLE_FROM:
        return [m.span() for m in _JOINING_RUN.finditer(text)]
    import numpy as np

    joining = _joining_table()[np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)]
    if not joining.any():
        return []
    edges = np.flatnonzero(np.diff(joining.astype(np.int8), prepend=0, append=0))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def inner_positions(text: str) -> frozenset[int]:
    """Positions strictly inside a grapheme cluster of ``text``: a cut there would split a user-perceived
    character. Only the regions around joining characters are segmented (``\\X``), so plain text costs one scan."""
    regions: list[list[int]] = []
    for run_start, run_end in _joining_runs(text):
        # Between two characters that are both non-joining there is always a boundary, so a region from the
        # character before a run to the character after it can be segmented on its own; runs one character
        # apart share that character and are merged.
        start, end = max(run_start - 1, 0), min(run_end + 1, len(text))
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


def _chunk(text: str, start: int, end: int, index: int) -> Chunk:
    """``Chunk(text, start, end, index)`` without the frozen dataclass's ``__init__``, which sets each field
    through ``object.__setattr__`` (1.3 µs a chunk, a sixth of splitting plain text); same object, same fields."""
    chunk = object.__new__(Chunk)
    chunk.__dict__.update(text=text, start=start, end=end, index=index, metadata={})
    return chunk


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
        return [_chunk(text[a:b], a, b, i) for i, (a, b) in enumerate(self.spans(text))]

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
    if not inner:  # every position is a boundary: str.strip removes exactly the isspace() characters
        piece = text[start:end]
        return start + (len(piece) - len(piece.lstrip())), end - (len(piece) - len(piece.rstrip()))
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


def cut_points(text: str, start: int, end: int, sep: str, allowed: Callable[[int], bool] | None, keep_end: bool = False) -> list[int]:
    """Positions strictly inside ``(start, end)`` where ``text[start:end]`` is cut on ``sep``: before each
    separator, or after it with ``keep_end``; ``sep == ""`` cuts between grapheme clusters. Only positions
    ``allowed`` accepts are used (grapheme boundaries, and whatever else a splitter requires); ``None`` allows
    every position. Separators are found left to right without overlap, as ``str.split`` finds them."""
    if allowed is None:
        if sep == "":
            return list(range(start + 1, end))
        # str.split and running sums run in C: the plain case (no joining characters, no rule) is most text.
        parts = text[start:end].split(sep)
        if len(parts) == 1:
            return []
        step = len(sep)
        # separator i starts at start + len(parts[0..i]) + i * step
        cuts = list(map(add, accumulate(map(len, parts[:-1])), range(start + (step if keep_end else 0), end + step * len(parts), step)))
        if cuts and cuts[0] <= start:
            del cuts[0]
        if cuts and cuts[-1] >= end:
            del cuts[-1]
        return cuts
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


def pieces_of(text: str, start: int, end: int, sep: str, allowed: Callable[[int], bool] | None = None, keep_end: bool = False) -> list[tuple[int, int]]:
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
    of the previous one that fit in ``chunk_overlap``. Same rule as LangChain's ``_merge_splits``: walking the
    pieces, when the next one would overflow the window, the window is emitted and pieces leave its front
    until it is at most ``chunk_overlap`` and the next one fits.

    Computed per chunk rather than per piece: with prefix sums ``P``, the window ``[h, i)`` overflows at the
    first ``i`` with ``P[i + 1] - P[h] > chunk_size``, and the next window starts at the first ``h'`` with
    ``P[h'] >= max(P[i] - chunk_overlap, P[i + 1] - chunk_size)`` — two binary searches per chunk."""
    n = len(sizes)
    if n == 0:
        return []
    prefix = list(accumulate(sizes, initial=0))
    out: list[tuple[int, int]] = []
    head = 0
    while True:
        # first i > head whose piece overflows the window [head, i); n when the rest fits
        i = max(bisect_right(prefix, prefix[head] + chunk_size) - 1, head + 1)
        if i >= n:
            out.append((pieces[head][0], pieces[n - 1][1]))
            return out
        out.append((pieces[head][0], pieces[i - 1][1]))
        head = bisect_left(prefix, max(prefix[i] - chunk_overlap, prefix[i + 1] - chunk_size), head, i)
