"""Seeded train/valid/test splits grouped by source, so no document leaks across splits."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from agentkit.distill.records import QARecord
from agentkit.errors import ConfigError

SPLIT_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitResult:
    splits: dict[str, list[QARecord]]
    #: "source" (documents), or "chunk" when there were fewer documents than non-empty splits
    grouped_by: str


def parse_split(text: str) -> tuple[float, ...]:
    """``0.8,0.1,0.1`` (ratios) or ``400,50,20`` (counts); up to three numbers for train, valid, test."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"cannot read split '{text}'", "use ratios like 0.8,0.1,0.1 or counts like 400,50,20") from None
    if not 1 <= len(values) <= 3 or any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
        raise ConfigError(f"bad split '{text}'", "give 1 to 3 non-negative numbers for train,valid,test, e.g. --split 0.8,0.1,0.1")
    return values + (0.0,) * (3 - len(values))


def split_records(records: Sequence[QARecord], split: Sequence[float], seed: int = 0) -> SplitResult:
    """Groups (sources, or chunks when too few sources) are shuffled with ``seed`` and dealt to the splits
    by record count: ratios when the numbers sum to ~1, else target counts (the last non-zero split takes the rest)."""
    wanted = [i for i, v in enumerate(split) if v > 0]
    by_source: dict[str, list[QARecord]] = {}
    for r in records:
        by_source.setdefault(r.source, []).append(r)
    grouped_by = "source"
    groups = by_source
    if len(by_source) < len(wanted):
        grouped_by = "chunk"
        groups = {}
        for r in records:
            groups.setdefault(r.chunk_id or r.id, []).append(r)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    total = len(records)
    ratios = math.isclose(sum(split), 1.0, abs_tol=1e-6) or sum(split) <= 1.0
    targets = [v * total if ratios else v for v in split]
    out: dict[str, list[QARecord]] = {name: [] for name in SPLIT_NAMES}
    # Fill the smaller splits first (test, then valid), so they are not starved by a big first group.
    order = sorted(wanted, key=lambda i: targets[i])
    last = order[-1] if order else 0
    position = 0
    for i in order:
        if i == last:
            break
        while position < len(keys) and len(out[SPLIT_NAMES[i]]) < targets[i] and len(keys) - position > 1:
            out[SPLIT_NAMES[i]].extend(groups[keys[position]])
            position += 1
    for key in keys[position:]:
        out[SPLIT_NAMES[last]].extend(groups[key])
    for name in out:
        out[name].sort(key=lambda r: (r.source, r.start, r.id))
    return SplitResult(out, grouped_by)
