"""Recursive character splitting (LangChain's algorithm) that tracks spans instead of copying strings."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import Any

from agentkit.chunking.base import SizeUnit, Splitter, cut_points, greedy_exact, inner_positions, merge_pieces, pieces_of, strip_span

# Strongest first. CJK sentence ends (。！？) rank with . ? !, then the clause separator ；, then the weaker
# full-width comma ， and enumeration comma 、, all before the space (CJK text has no spaces between words).
DEFAULT_SEPARATORS = ("\n\n", "\n", "。", "！", "？", ".", "?", "!", "；", "，", "、", " ", "")
# Full-width CJK punctuation closes the text before it, so it stays at the end of its piece (a chunk ends
# with 。, the next does not start with it). Other separators start the piece after them, as in LangChain.
CLOSING_SEPARATORS = frozenset("。！？；，、")


class RecursiveSplitter(Splitter):
    """Split on the first separator present, merge pieces up to ``chunk_size``, recurse into pieces
    still too big with the next separators; with none left, cut between grapheme clusters. Separators stay
    with the text after them (CJK punctuation with the text before it); chunks are whitespace-stripped.
    Invariants: ``text[c.start:c.end] == c.text``; every chunk fits ``chunk_size`` (a single grapheme
    cluster larger than that is the only exception); no cut inside a grapheme cluster."""

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
        return self._spans(text, None)

    def _spans(self, text: str, may_cut: Callable[[str, int], bool] | None) -> list[tuple[int, int]]:
        """Spans of ``text``; ``may_cut(sep, pos)`` can forbid a separator at a position (Markdown: a ``#``
        line inside a code block is no heading). No cut ever falls inside a grapheme cluster."""
        inner = inner_positions(text)
        allowed: Callable[[str, int], bool] | None
        if not inner and may_cut is None:
            allowed = None  # every position may be cut: the fast path of cut_points
        elif may_cut is None:
            allowed = lambda sep, pos: pos not in inner  # noqa: E731
        else:
            rule = may_cut
            allowed = lambda sep, pos: pos not in inner and rule(sep, pos)  # noqa: E731
        out = []
        if inner:
            for a, b in self._split(text, 0, len(text), self.separators, allowed, inner):
                a, b = strip_span(text, a, b, inner)
                if a < b:
                    out.append((a, b))
            return out
        for a, b in self._split(text, 0, len(text), self.separators, allowed, inner):
            # strip_span without joining characters, inlined (one call per chunk was a tenth of the split)
            left = text[a:b].lstrip()
            if left:
                a = b - len(left)
                out.append((a, a + len(left.rstrip())))
        return out

    def _measure(self, text: str, inner: frozenset[int]) -> Callable[[int, int], int]:
        """Size of ``text[a:b]`` as it will be stored. Tokens are counted after stripping, because a token
        count can grow when whitespace goes (" 👍" is fewer tokens than "👍")."""
        if self.size_unit == "chars":
            return lambda a, b: b - a
        size_of = self.size_of

        def tokens(a: int, b: int) -> int:
            a, b = strip_span(text, a, b, inner)
            return size_of(text[a:b])

        return tokens

    def _merge(self, pieces: list[tuple[int, int]], sizes: list[int], measure: Callable[[int, int], int]) -> list[tuple[int, int]]:
        merged = merge_pieces(pieces, sizes, self.chunk_size, self.chunk_overlap)
        if self.size_unit == "chars":
            return merged  # character counts of contiguous pieces add up exactly
        # Token counts do not quite add up (tokens can merge across a piece boundary): measure each chunk.
        out = []
        for a, b in merged:
            if measure(a, b) <= self.chunk_size:
                out.append((a, b))
            else:
                out.extend(greedy_exact([p for p in pieces if a <= p[0] and p[1] <= b], self.chunk_size, measure))
        return out

    def _split(
        self, text: str, start: int, end: int, separators: Sequence[str], allowed: Callable[[str, int], bool] | None, inner: frozenset[int]
    ) -> list[tuple[int, int]]:
        sep = ""
        rest: tuple[str, ...] = ()
        for i, candidate in enumerate(separators):
            if candidate == "" or self._present(text, start, end, candidate, allowed):
                sep, rest = candidate, tuple(separators[i + 1:])
                break
        if sep and not rest:
            rest = ("",)  # always end with grapheme clusters, so no piece stays above the limit
        cut_allowed = None if allowed is None else (lambda pos: allowed(sep, pos))
        if self.size_unit == "chars":
            bounds = [start, *cut_points(text, start, end, sep, cut_allowed, sep in CLOSING_SEPARATORS), end]
            return self._walk(text, bounds, rest, allowed, inner)
        pieces = pieces_of(text, start, end, sep, cut_allowed, sep in CLOSING_SEPARATORS)
        measure = self._measure(text, inner)
        sizes = [measure(a, b) for a, b in pieces]
        limit = self.chunk_size
        out: list[tuple[int, int]] = []
        done = 0  # pieces[done:] are not handled yet
        for i in [i for i, size in enumerate(sizes) if size >= limit]:
            if done < i:  # the run of pieces below the limit before this big one
                out.extend(self._merge(pieces[done:i], sizes[done:i], measure))
            # A piece without separators left is one grapheme cluster: it cannot be cut, even above the limit.
            out.extend(self._split(text, *pieces[i], rest, allowed, inner) if rest else [pieces[i]])
            done = i + 1
        if done < len(pieces):
            out.extend(self._merge(pieces[done:], sizes[done:], measure))
        return out

    def _walk(self, text: str, bounds: list[int], rest: tuple[str, ...], allowed: Callable[[str, int], bool] | None, inner: frozenset[int]) -> list[tuple[int, int]]:
        """The chunks of the contiguous pieces ``bounds[k]:bounds[k + 1]`` when sizes are characters: a piece's
        size is ``bounds[k + 1] - bounds[k]`` and a run's is a difference of bounds, so ``merge_pieces`` (runs of
        pieces below the limit, merged with overlap) and the recursion into pieces at or above the limit are
        found by binary search per chunk instead of a step per piece — same chunks, far fewer Python steps."""
        size, overlap = self.chunk_size, self.chunk_overlap
        out: list[tuple[int, int]] = []
        n = len(bounds) - 1
        head = 0
        while head < n:
            if bounds[head + 1] - bounds[head] >= size:  # too big: split it with the next separators
                # A piece without separators left is one grapheme cluster: it cannot be cut, even above the limit.
                piece = (bounds[head], bounds[head + 1])
                out.extend(self._split(text, *piece, rest, allowed, inner) if rest else [piece])
                head += 1
                continue
            # the first piece that overflows the window [head, i); a piece at or above the limit always does
            i = bisect_right(bounds, bounds[head] + size, head + 1) - 1
            if i >= n:
                out.append((bounds[head], bounds[n]))
                break
            out.append((bounds[head], bounds[i]))
            if bounds[i + 1] - bounds[i] >= size:
                head = i  # the run ends before a big piece: no overlap carries over it
            else:
                head = bisect_left(bounds, max(bounds[i] - overlap, bounds[i + 1] - size), head, i)
        return out

    @staticmethod
    def _present(text: str, start: int, end: int, sep: str, allowed: Callable[[str, int], bool] | None) -> bool:
        """Whether ``sep`` occurs in ``text[start:end]`` at a place where it may cut."""
        pos = text.find(sep, start, end)
        if allowed is None or pos == -1:
            return pos != -1
        shift = len(sep) if sep in CLOSING_SEPARATORS else 0
        while pos != -1:
            if allowed(sep, pos + shift):
                return True
            pos = text.find(sep, pos + 1, end)
        return False
