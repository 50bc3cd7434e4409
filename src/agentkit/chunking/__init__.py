"""Splitters that keep exact character spans: ``source[c.start:c.end] == c.text`` for every chunk."""

from __future__ import annotations

from typing import Any

from agentkit.chunking.base import Chunk, SizeUnit, Splitter
from agentkit.chunking.markdown import MarkdownSplitter
from agentkit.chunking.paragraph import ParagraphSplitter
from agentkit.chunking.recursive import DEFAULT_SEPARATORS, RecursiveSplitter
from agentkit.chunking.semantic import SemanticSplitter
from agentkit.chunking.sentence import SentenceSplitter, sentence_spans
from agentkit.chunking.token import TokenSplitter
from agentkit.plugins import registry


def make_splitter(name: str = "recursive", **kwargs: Any) -> Splitter:
    """``make_splitter("sentence", chunk_size=200, chunk_overlap=20, size_unit="tokens")`` (splitter plugins)."""
    if name != "semantic":
        kwargs.pop("embed", None)
    splitter: Splitter = registry("splitter").build(name, **kwargs)
    return splitter


def splitter_from_dict(data: dict[str, Any], **extra: Any) -> Splitter:
    data = dict(data)
    return make_splitter(data.pop("name"), **data, **extra)


__all__ = [
    "Chunk", "SizeUnit", "Splitter", "RecursiveSplitter", "TokenSplitter", "SentenceSplitter", "MarkdownSplitter",
    "SemanticSplitter", "ParagraphSplitter", "DEFAULT_SEPARATORS", "sentence_spans", "make_splitter", "splitter_from_dict",
]
