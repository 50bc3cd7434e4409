"""Fixed windows of tokens with overlap; spans come from the tokenizer's character offsets."""

from __future__ import annotations

import bisect
from typing import Any

from agentkit.chunking.base import SizeUnit, Splitter, inner_positions, strip_span


class TokenSplitter(Splitter):
    """Windows of up to ``chunk_size`` tokens advancing by about ``chunk_size - chunk_overlap``. Window edges
    are token starts that are also grapheme-cluster boundaries, so a character split across tokens (CJK,
    emoji) or a cluster of several characters (a flag, a ZWJ family) is never cut. Each window's text is
    re-tokenized and shrunk until it fits ``chunk_size`` (a lone cluster larger than that stays whole)."""

    name = "token"

    def __init__(self, chunk_size: int = 200, chunk_overlap: int = 0, size_unit: SizeUnit = "tokens", tokenizer: str = "cl100k") -> None:
        # Always tokens: a token window measured in characters would be the recursive splitter's job.
        super().__init__(chunk_size, chunk_overlap, "tokens", tokenizer)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict()

    def spans(self, text: str) -> list[tuple[int, int]]:
        from agentkit.chunking.tokenizers import get_tokenizer

        tokenizer = get_tokenizer(self.tokenizer)
        inner = inner_positions(text)
        # Cut points: distinct token starts on grapheme boundaries, with the number of tokens before each.
        starts = tokenizer.starts(text)
        cuts: list[int] = []
        before: list[int] = []
        for i, start in enumerate(starts):
            if start not in inner and (not cuts or start > cuts[-1]):
                cuts.append(start)
                before.append(i)
        if not cuts:
            return []
        cuts[0] = 0
        cuts.append(len(text))
        before.append(len(starts))
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(cuts) - 1:
            j = max(i + 1, bisect.bisect_right(before, before[i] + self.chunk_size) - 1)
            a, b = strip_span(text, cuts[i], cuts[j], inner)
            while j > i + 1 and tokenizer.count(text[a:b]) > self.chunk_size:
                # The window's own tokenization can be longer than the offsets say (" 👍" is fewer tokens than "👍").
                j -= 1
                a, b = strip_span(text, cuts[i], cuts[j], inner)
            if a < b and (not out or b > out[-1][1]):
                out.append((a, b))
            if j == len(cuts) - 1:
                break
            i = max(i + 1, bisect.bisect_left(before, before[j] - self.chunk_overlap))
        return out
