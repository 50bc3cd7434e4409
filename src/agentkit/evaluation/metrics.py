"""Per-question span metrics of Chroma's chunking evaluation (see ../shared/chunking_eval/METHOD.md).

Chunks and references are ``(corpus_id, start, end)``. Only chunks of the question's own corpus can
overlap its references; chunks from other corpora still count in the denominators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentkit.evaluation.spans import Range, intersect, length, overlaps, union

Span = tuple[str, int, int]


@dataclass(frozen=True)
class QuestionScore:
    recall: float
    precision: float
    iou: float
    precision_omega: float


def retrieval_scores(references: Sequence[Span], retrieved: Sequence[Span]) -> tuple[float, float, float]:
    """(recall, precision, IoU) of the retrieved chunks for one question, as fractions."""
    corpus = references[0][0]
    refs = union((a, b) for _, a, b in references)
    ref_chars = length(refs)
    own = [(a, b) for c, a, b in retrieved if c == corpus]
    covered = intersect(own, refs)
    overlap = length(covered)
    retrieved_chars = sum(b - a for _, a, b in retrieved)  # each chunk in full: overlapping chunks count twice
    recall = overlap / ref_chars if ref_chars else 0.0
    precision = overlap / retrieved_chars if retrieved_chars else 0.0
    denominator = retrieved_chars + (ref_chars - overlap)
    iou = overlap / denominator if denominator else 0.0
    return recall, precision, iou


def precision_omega(references: Sequence[Span], corpus_chunks: Sequence[Range]) -> float:
    """Best precision the chunking allows: chunks that touch a reference, against the reference text they
    cover (``corpus_chunks``: every chunk span of the question's corpus)."""
    refs = union((a, b) for _, a, b in references)
    touching = [c for c in corpus_chunks if overlaps(c, refs)]
    covered = length(intersect(touching, refs))
    denominator = length(touching) + (length(refs) - covered)
    return covered / denominator if denominator else 0.0


def min_k(references: Sequence[Span], corpus_chunks: Sequence[Range], cap: int = 20) -> int:
    """The report's "n = Min": how many chunks hold reference text, capped at ``cap`` (at least 1)."""
    refs = union((a, b) for _, a, b in references)
    return max(1, min(cap, sum(1 for c in corpus_chunks if overlaps(c, refs))))
