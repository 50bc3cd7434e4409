"""The one chart shape several reports share: grouped bars (categories on x, one bar per series), saved as PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    target: str | Path,
    title: str,
    ylabel: str,
    ylim: float | None = None,
    reference_lines: dict[str, float] | None = None,
    value_format: str = "%g",
    intervals: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> Path:
    """``series[name][i]`` is the bar of ``name`` over ``categories[i]``; ``reference_lines`` are dashed labelled lines;
    ``intervals[name][i]`` = (low, high) draws an error bar on that bar (e.g. a bootstrap confidence interval)."""
    from agentkit.extras import require

    matplotlib = require("matplotlib", "plots", "charts")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(6, 2 + 1.6 * len(categories)), 4.5))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(categories))
    for i, (name, values) in enumerate(series.items()):
        spans = (intervals or {}).get(name)
        yerr = np.array([[max(0.0, v - lo) for v, (lo, _) in zip(values, spans)], [max(0.0, hi - v) for v, (_, hi) in zip(values, spans)]]) if spans else None
        bars = ax.bar(x + i * width, list(values), width, label=name, yerr=yerr, capsize=3 if spans else 0)
        ax.bar_label(bars, fmt=value_format, fontsize=7)
    for name, value in (reference_lines or {}).items():
        ax.axhline(value, linestyle="--", linewidth=0.8, color="grey")
        ax.text(-0.4, value, name, fontsize=7, va="bottom", ha="left", color="grey")
    ax.set_xticks(x + width * (len(series) - 1) / 2, list(categories), fontsize=8)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(0, ylim)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target
