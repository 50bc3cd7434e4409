"""Recursive character splitting (LangChain's algorithm) that tracks spans instead of copying strings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agentkit.chunking.base import SizeUnit, Splitter, greedy_exact, inner_positions, merge_pieces, pieces_of, strip_span

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
        return self._spans(text, lambda sep, pos: True)

    def _spans(self, text: str, may_cut: Callable[[str, int], bool]) -> list[tuple[int, int]]:
        """Spans of ``text``; ``may_cut(sep, pos)`` can forbid a separator at a position (Markdown: a ``#``
        line inside a code block is no heading). No cut ever falls inside a grapheme cluster."""
        inner = inner_positions(text)
        out = []
        for a, b in self._split(text, 0, len(text), self.separators, lambda sep, pos: pos not in inner and may_cut(sep, pos), inner):
            a, b = strip_span(text, a, b, inner)
            if a < b:
                out.append((a, b))
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
        self, text: str, start: int, end: int, separators: Sequence[str], allowed: Callable[[str, int], bool], inner: frozenset[int]
    ) -> list[tuple[int, int]]:
        sep = ""
        rest: tuple[str, ...] = ()
        for i, candidate in enumerate(separators):
            if candidate == "" or self._present(text, start, end, candidate, allowed):
                sep, rest = candidate, tuple(separators[i + 1:])
                break
        if sep and not rest:
            rest = ("",)  # always end with grapheme clusters, so no piece stays above the limit
        pieces = pieces_of(text, start, end, sep, lambda pos: allowed(sep, pos), sep in CLOSING_SEPARATORS)
        measure = self._measure(text, inner)
        sizes = [measure(a, b) for a, b in pieces]
        out: list[tuple[int, int]] = []
        good: list[tuple[int, int]] = []
        good_sizes: list[int] = []
        for piece, size in zip(pieces, sizes):
            if size < self.chunk_size:
                good.append(piece)
                good_sizes.append(size)
                continue
            if good:
                out.extend(self._merge(good, good_sizes, measure))
                good, good_sizes = [], []
            # A piece without separators left is one grapheme cluster: it cannot be cut, even above the limit.
            out.extend(self._split(text, *piece, rest, allowed, inner) if rest else [piece])
        if good:
            out.extend(self._merge(good, good_sizes, measure))
        return out

    @staticmethod
    def _present(text: str, start: int, end: int, sep: str, allowed: Callable[[str, int], bool]) -> bool:
        """Whether ``sep`` occurs in ``text[start:end]`` at a place where it may cut."""
        shift = len(sep) if sep in CLOSING_SEPARATORS else 0
        pos = text.find(sep, start, end)
        while pos != -1:
            if allowed(sep, pos + shift):
                return True
            pos = text.find(sep, pos + 1, end)
        return False
