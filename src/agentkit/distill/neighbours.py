"""Partners for multi-hop questions: the nearest chunk by embedding that is from another document, or from another
part of the same one — never the chunk itself, one overlapping it, its neighbour in the file, or a copy of its text.

Pairing a chunk with the next one in the file (the old rule) mostly gives two halves of one paragraph: the
"multi-hop" question is then answerable from a single span. The nearest related chunk elsewhere gives two facts
that are about the same thing but live apart, which is what a multi-hop question needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agentkit.distill.text import content_terms, fold


def partners(seeds: Sequence[Any], all_chunks: Sequence[Any], embedder: Any = None) -> dict[str, Any]:
    """``{seed.chunk_id: partner}`` for every seed that has an eligible partner: the most similar chunk by cosine of
    the embeddings (``embedder``), or by Jaccard of content terms without one; ties go to the earlier chunk. One row
    of similarities per seed, so memory stays linear in the knowledge base."""
    if len(all_chunks) < 2:
        return {}
    ordered = sorted(range(len(all_chunks)), key=lambda i: (all_chunks[i].source, all_chunks[i].start, all_chunks[i].end))
    position = np.empty(len(all_chunks), dtype=np.int64)
    position[ordered] = np.arange(len(all_chunks))
    sources = np.array([c.source for c in all_chunks], dtype=object)
    starts = np.array([c.start for c in all_chunks])
    ends = np.array([c.end for c in all_chunks])
    texts = np.array([fold(" ".join(c.text.split())) for c in all_chunks], dtype=object)
    index = {c.chunk_id: i for i, c in enumerate(all_chunks)}
    vectors = embedder.embed([c.text for c in all_chunks]) if embedder is not None else None
    terms = [content_terms(c.text) for c in all_chunks] if vectors is None else []
    out = {}
    for seed in seeds:
        i = index.get(seed.chunk_id)
        if i is None:
            continue
        same = sources == sources[i]
        blocked = (texts == texts[i]) | (same & (starts < ends[i]) & (starts[i] < ends)) | (same & (np.abs(position - position[i]) <= 1))
        if vectors is not None:
            row = np.asarray(vectors @ vectors[i], dtype=np.float64)
        else:
            row = np.array([len(terms[i] & t) / len(terms[i] | t) if terms[i] | t else 0.0 for t in terms])
        row[blocked] = -np.inf
        j = int(np.argmax(row))
        if np.isfinite(row[j]):
            out[seed.chunk_id] = all_chunks[j]
    return out
