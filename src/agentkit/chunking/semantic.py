"""Semantic splitting: cut where adjacent sentences' embeddings drift apart, never above a hard size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agentkit.chunking.base import SizeUnit, Splitter
from agentkit.chunking.sentence import SentenceSplitter, pack
from agentkit.errors import ConfigError

EmbedFn = Callable[[Sequence[str]], np.ndarray]


class SemanticSplitter(Splitter):
    """Sentences are embedded; a boundary goes where the cosine distance to the next sentence is above
    the ``breakpoint_percentile`` of all distances. Groups over ``chunk_size`` (the hard maximum) are
    re-packed by sentence. ``embed`` maps texts to L2-normalized row vectors."""

    name = "semantic"

    def __init__(
        self,
        chunk_size: int = 400,
        chunk_overlap: int = 0,
        size_unit: SizeUnit = "chars",
        tokenizer: str = "cl100k",
        embed: EmbedFn | None = None,
        breakpoint_percentile: float = 90.0,
    ) -> None:
        super().__init__(chunk_size, chunk_overlap, size_unit, tokenizer)
        if not 0 < breakpoint_percentile < 100:
            raise ConfigError(f"breakpoint_percentile={breakpoint_percentile} is out of range", "use a value in (0, 100), e.g. 90")
        self.embed = embed
        self.breakpoint_percentile = breakpoint_percentile
        self._sentences = SentenceSplitter(chunk_size, 0, size_unit, tokenizer)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "breakpoint_percentile": self.breakpoint_percentile}

    def replace(self, **changes: Any) -> Splitter:
        clone = super().replace(**changes)
        clone.embed = self.embed  # type: ignore[attr-defined]
        return clone

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self.embed is None:
            raise ConfigError("the semantic splitter needs an embedder", "pass embed=<embedder> (the CLI passes --embedder)")
        units = self._sentences.units(text)
        if len(units) <= 1:
            return units
        vectors = np.asarray(self.embed([text[a:b] for a, b in units]), dtype=np.float32)
        distances = 1.0 - np.sum(vectors[:-1] * vectors[1:], axis=1)
        threshold = np.percentile(distances, self.breakpoint_percentile)
        sizes = self._sentences.unit_sizes(text, units)
        out: list[tuple[int, int]] = []
        group_start = 0
        for i in range(len(units)):
            if i == len(units) - 1 or distances[i] > threshold:
                out.extend(pack(text, units[group_start:i + 1], sizes[group_start:i + 1], self.chunk_size, self.chunk_overlap, self._sentences.exact_size))
                group_start = i + 1
        return out
