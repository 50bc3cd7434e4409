"""Markdown-aware splitting: headings are the preferred boundaries, and each chunk knows its heading path.

Headings and code blocks come from a CommonMark parser (markdown-it-py), so a ``#`` line inside a fenced
(``` or ~~~) or indented code block is neither a heading nor a preferred cut."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentkit.chunking.base import Chunk, SizeUnit
from agentkit.chunking.recursive import RecursiveSplitter

MARKDOWN_SEPARATORS = (
    "\n# ", "\n## ", "\n### ", "\n#### ", "\n##### ", "\n###### ", "\n```", "\n~~~", "\n\n", "\n",
    "。", "！", "？", ". ", "! ", "? ", "；", "，", "、", " ", "",
)
_HEADING_SEPARATORS = frozenset(s for s in MARKDOWN_SEPARATORS if s.startswith("\n#"))
_FENCE_SEPARATORS = frozenset(("\n```", "\n~~~"))
_LINE_BREAK = re.compile(r"\r\n?|\n")  # markdown-it's own line breaks, so its line numbers map back exactly


@dataclass(frozen=True)
class Outline:
    """Where a document's top-level headings and fenced code blocks start (character offsets of their lines)."""

    headings: tuple[tuple[int, int, str], ...]  # (offset, level, title), in order
    fences: frozenset[int]

    @property
    def heading_starts(self) -> frozenset[int]:
        return frozenset(h[0] for h in self.headings)


def outline(text: str) -> Outline:
    from markdown_it import MarkdownIt

    line_starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]
    tokens = MarkdownIt("commonmark").parse(text)
    headings, fences = [], set()
    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None:
            continue  # headings inside lists or quotes are not the document's sections
        if token.type == "heading_open":
            headings.append((line_starts[token.map[0]], int(token.tag[1]), tokens[i + 1].content.strip()))
        elif token.type == "fence":
            fences.add(line_starts[token.map[0]])
    return Outline(tuple(headings), frozenset(fences))


class MarkdownSplitter(RecursiveSplitter):
    """Recursive splitting with heading separators first; ``metadata["headings"]`` is the path of
    headings (``["Guide", "Install"]``) in force where the chunk starts. Heading and fence separators cut
    only where the parser sees a heading or the opening of a fenced code block."""

    name = "markdown"

    def __init__(self, chunk_size: int = 400, chunk_overlap: int = 0, size_unit: SizeUnit = "chars", tokenizer: str = "cl100k") -> None:
        super().__init__(chunk_size, chunk_overlap, size_unit, tokenizer, MARKDOWN_SEPARATORS)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("separators")
        return d

    def spans(self, text: str) -> list[tuple[int, int]]:
        return self._spans(text, _cut_rule(outline(text)))

    def split(self, text: str) -> list[Chunk]:
        doc = outline(text)
        positions = [h[0] for h in doc.headings]
        chunks = []
        path: list[tuple[int, str]] = []
        seen = 0  # headings already folded into `path`; chunk ends never decrease
        for i, (a, b) in enumerate(self._spans(text, _cut_rule(doc))):
            # Heading path at the chunk's end: a chunk that starts with a heading belongs to it.
            upto = bisect.bisect_right(positions, b - 1)
            for _, level, title in doc.headings[seen:upto]:
                path = [p for p in path if p[0] < level] + [(level, title)]
            seen = max(seen, upto)
            chunks.append(Chunk(text[a:b], a, b, i, {"headings": [t for _, t in path]}))
        return chunks


def _cut_rule(doc: Outline) -> Callable[[str, int], bool]:
    headings = doc.heading_starts

    def may_cut(sep: str, pos: int) -> bool:
        if sep in _HEADING_SEPARATORS:
            return pos + 1 in headings
        if sep in _FENCE_SEPARATORS:
            return pos + 1 in doc.fences
        return True

    return may_cut
