"""Markdown-aware splitting: headings are the preferred boundaries, and each chunk knows its heading path."""

from __future__ import annotations

import bisect
import re
from typing import Any

from agentkit.chunking.base import Chunk, SizeUnit
from agentkit.chunking.recursive import RecursiveSplitter

MARKDOWN_SEPARATORS = (
    "\n# ", "\n## ", "\n### ", "\n#### ", "\n##### ", "\n###### ", "\n```", "\n\n", "\n", ". ", "。", " ", "",
)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


class MarkdownSplitter(RecursiveSplitter):
    """Recursive splitting with heading separators first; ``metadata["headings"]`` is the path of
    headings (``["Guide", "Install"]``) in force where the chunk starts."""

    name = "markdown"

    def __init__(self, chunk_size: int = 400, chunk_overlap: int = 0, size_unit: SizeUnit = "chars", tokenizer: str = "cl100k") -> None:
        super().__init__(chunk_size, chunk_overlap, size_unit, tokenizer, MARKDOWN_SEPARATORS)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("separators")
        return d

    def split(self, text: str) -> list[Chunk]:
        headings = [(m.start(), len(m.group(1)), m.group(2)) for m in _HEADING.finditer(text)]
        positions = [h[0] for h in headings]
        chunks = []
        path: list[tuple[int, str]] = []
        seen = 0  # headings already folded into `path`; chunk ends never decrease
        for i, (a, b) in enumerate(self.spans(text)):
            # Heading path at the chunk's end: a chunk that starts with a heading belongs to it.
            upto = bisect.bisect_right(positions, b - 1)
            for _, level, title in headings[seen:upto]:
                path = [p for p in path if p[0] < level] + [(level, title)]
            seen = max(seen, upto)
            chunks.append(Chunk(text[a:b], a, b, i, {"headings": [t for _, t in path]}))
        return chunks
