"""Character-range arithmetic for span-level metrics. Ranges are ``(start, end)`` half-open."""

from __future__ import annotations

from collections.abc import Iterable

Range = tuple[int, int]


def union(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, merged, non-empty ranges covering the same characters."""
    out: list[Range] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def length(ranges: Iterable[Range]) -> int:
    """Characters covered by ``ranges`` (overlaps counted once)."""
    return sum(b - a for a, b in union(ranges))


def intersect(a: Iterable[Range], b: Iterable[Range]) -> list[Range]:
    """The characters in both ``a`` and ``b``, as merged ranges."""
    ua, ub = union(a), union(b)
    out: list[Range] = []
    i = j = 0
    while i < len(ua) and j < len(ub):
        lo, hi = max(ua[i][0], ub[j][0]), min(ua[i][1], ub[j][1])
        if lo < hi:
            out.append((lo, hi))
        if ua[i][1] < ub[j][1]:
            i += 1
        else:
            j += 1
    return out


def overlaps(r: Range, ranges: Iterable[Range]) -> bool:
    return any(min(r[1], b) > max(r[0], a) for a, b in ranges)
