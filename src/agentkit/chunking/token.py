"""Fixed windows of tokens with overlap; spans come from the tokenizer's character offsets."""

from __future__ import annotations

from typing import Any

from agentkit.chunking.base import SizeUnit, Splitter, strip_span


class TokenSplitter(Splitter):
    """Windows of ``chunk_size`` tokens advancing by ``chunk_size - chunk_overlap``. Window edges snap to
    token starts, so a multi-byte character split across tokens is never cut (CJK, emoji)."""

    name = "token"

    def __init__(self, chunk_size: int = 200, chunk_overlap: int = 0, size_unit: SizeUnit = "tokens", tokenizer: str = "cl100k") -> None:
        # Always tokens: a token window measured in characters would be the recursive splitter's job.
        super().__init__(chunk_size, chunk_overlap, "tokens", tokenizer)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict()

    def spans(self, text: str) -> list[tuple[int, int]]:
        from agentkit.chunking.tokenizers import get_tokenizer

        starts = get_tokenizer(self.tokenizer).starts(text)
        n = len(starts)
        out: list[tuple[int, int]] = []
        step = self.chunk_size - self.chunk_overlap
        for first in range(0, n, step):
            last = first + self.chunk_size
            # Several tokens can start at the same character (one CJK char or emoji split in bytes):
            # slicing at character starts keeps whole characters, at most one token off at an edge.
            a, b = strip_span(text, starts[first], starts[last] if last < n else len(text))
            if a < b and (not out or b > out[-1][1]):
                out.append((a, b))
            if last >= n:
                break
        return out
