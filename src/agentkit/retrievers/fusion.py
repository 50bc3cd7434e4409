"""Rank fusion and diversity: reciprocal-rank fusion with weights, maximal marginal relevance."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from agentkit.retrievers.base import RetrievedChunk

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of top ranks


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[RetrievedChunk]], weights: Mapping[str, float] | None = None, k: int = RRF_K) -> list[RetrievedChunk]:
    """Fuse best-first lists: score(c) = Σ weight_m / (k + rank_m(c)), ranks from 1. Each fused chunk
    keeps the per-method scores it had, plus ``rrf``."""
    weights = weights or {}
    fused: dict[str, float] = {}
    first: dict[str, RetrievedChunk] = {}
    per_method: dict[str, dict[str, float]] = {}
    for method, ranking in rankings.items():
        w = weights.get(method, 1.0)
        for rank, chunk in enumerate(ranking, 1):
            fused[chunk.chunk_id] = fused.get(chunk.chunk_id, 0.0) + w / (k + rank)
            first.setdefault(chunk.chunk_id, chunk)
            per_method.setdefault(chunk.chunk_id, {}).update(chunk.scores)
    order = sorted(fused, key=lambda cid: -fused[cid])
    return [dataclasses.replace(first[cid], score=fused[cid], scores={**per_method[cid], "rrf": fused[cid]}) for cid in order]


def mmr(query_vector: np.ndarray, candidates: Sequence[RetrievedChunk], vectors: np.ndarray, k: int, lambda_: float = 0.7) -> list[RetrievedChunk]:
    """Maximal marginal relevance over normalized vectors: each pick maximizes
    λ·sim(query, c) − (1−λ)·max sim(c, picked). Keeps candidates' scores; only the order changes."""
    if len(candidates) == 0:
        return []
    relevance = vectors @ query_vector
    similarity = vectors @ vectors.T
    picked: list[int] = []
    left = list(range(len(candidates)))
    while left and len(picked) < k:
        if picked:
            redundancy = similarity[np.ix_(left, picked)].max(axis=1)
        else:
            redundancy = np.zeros(len(left))
        best = left[int(np.argmax(lambda_ * relevance[left] - (1 - lambda_) * redundancy))]
        picked.append(best)
        left.remove(best)
    return [candidates[i] for i in picked]
