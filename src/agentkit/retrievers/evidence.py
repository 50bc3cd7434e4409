"""The evidence span: the one sentence among the retrieved chunks that best answers a question.

Shown beside a model's answer (``agentkit demo``), it lets a reader check the answer against the documents — and
shows what retrieval found even when the model is too small to use it well.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from agentkit.chunking.sentence import sentence_spans
from agentkit.retrievers.base import RetrievedChunk
from agentkit.retrievers.bm25 import tokenize


class Evidence(NamedTuple):
    """A sentence of a retrieved chunk. Invariant: ``chunk.text[start - chunk.start:end - chunk.start] == text``, so for
    text files (``span_of == "source_text"``) ``open(source).read()[start:end] == text``, like the chunk's own span."""

    text: str
    source: str
    start: int
    end: int
    score: float

    @property
    def label(self) -> str:
        name = self.source.replace("\\", "/").rsplit("/", 1)[-1]
        return f"{name} [{self.start}:{self.end}]"


# A line that starts a block of its own: a heading, a list item, a quote, a table row or a fence.
_BLOCK_START = re.compile(r"\s*(?:#|[-*+] |\d+[.)] |>|\||```)")


def _unwrap(text: str) -> str:
    """``text`` with the line breaks inside a paragraph (hard-wrapped prose) turned into spaces; same length, so every
    span of the result is a span of ``text``. Breaks around blank lines, headings and list items stay."""
    lines = text.split("\n")
    out = [lines[0]]
    for before, line in itertools.pairwise(lines):
        joined = before.strip() and line.strip() and not _BLOCK_START.match(before) and not _BLOCK_START.match(line)
        out.append((" " if joined else "\n") + line)
    return "".join(out)


def _sentences(chunk: RetrievedChunk) -> list[tuple[int, int]]:
    # Markdown headings are structure, not statements: never the evidence for an answer.
    flat = _unwrap(chunk.text)
    return [(a, b) for a, b in sentence_spans(flat) if not flat[a:b].lstrip().startswith("#") and len(flat[a:b].strip()) > 3]


def evidence_span(question: str, chunks: Sequence[RetrievedChunk], embed: Callable[[list[str]], Any] | None = None) -> Evidence | None:
    """The sentence of ``chunks`` that best matches ``question``; ``None`` when the chunks hold no sentence.

    Score: the IDF-weighted share of the question's search tokens (words; CJK characters and bigrams, either script;
    ``bm25.tokenize``) found in the sentence, IDF taken over the candidate sentences — plus, when ``embed`` is given
    (texts → unit vectors, e.g. a knowledge base's embedder), half the cosine similarity of question and sentence.
    Ties go to the earlier chunk (better ranked), then the earlier sentence."""
    candidates = [(chunk, a, b) for chunk in chunks for a, b in _sentences(chunk)]
    if not candidates:
        return None
    texts = [chunk.text[a:b] for chunk, a, b in candidates]
    tokens = [set(tokenize(t)) for t in texts]
    wanted = set(tokenize(question))
    n = len(candidates)
    idf = {t: math.log(1 + n / (0.5 + sum(t in s for s in tokens))) for t in wanted}
    total = sum(idf.values()) or 1.0
    scores = [sum(idf[t] for t in wanted & s) / total for s in tokens]
    if embed is not None:
        import numpy as np

        vectors = np.asarray(embed([question, *texts]), dtype=float)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        vectors = vectors / norms[:, None]
        scores = [s + 0.5 * float(c) for s, c in zip(scores, vectors[1:] @ vectors[0])]
    best = max(range(n), key=lambda i: (scores[i], -i))
    chunk, a, b = candidates[best]
    return Evidence(texts[best], chunk.source, chunk.start + a, chunk.start + b, round(scores[best], 4))
