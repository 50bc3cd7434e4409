"""Side-by-side accuracy of several HW01 runs, per scoring mode, with a bar chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.hw01.data import HW01Item, load_answers
from agentkit.hw01.scoring import ScoreReport, score


@dataclass(frozen=True)
class RunScores:
    name: str
    path: Path
    reports: dict[str, ScoreReport]


def run_name(path: Path) -> str:
    meta_file = path / "run.json"
    meta: dict[str, Any] = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    parts = [meta.get("pipeline", path.name)]
    if meta.get("source"):
        parts.append(f"src={meta['source']}")
    return f"{path.name} ({' '.join(parts)})" if meta.get("pipeline") and meta["pipeline"] != path.name else path.name


def compare(run_dirs: Sequence[str | Path], gold: Sequence[HW01Item], modes: Sequence[str] = ("strict", "lenient"), judge_llm: Any = None, cache: Any = None) -> list[RunScores]:
    out = []
    for run_dir in map(Path, run_dirs):
        answers = load_answers(run_dir)
        out.append(RunScores(run_name(run_dir), run_dir, {m: score(gold, answers, m, judge_llm, cache) for m in modes}))
    return out


def bar_chart(runs: Sequence[RunScores], target: str | Path, baselines: dict[str, int] | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    modes = list(runs[0].reports) if runs else []
    fig, ax = plt.subplots(figsize=(max(6, 2 + 1.6 * len(runs)), 4.5))
    width = 0.8 / max(1, len(modes))
    x = np.arange(len(runs))
    for i, mode in enumerate(modes):
        values = [r.reports[mode].correct for r in runs]
        bars = ax.bar(x + i * width, values, width, label=mode)
        ax.bar_label(bars, fontsize=8)
    for name, value in (baselines or {}).items():
        ax.axhline(value, linestyle="--", linewidth=0.8, color="grey")
        ax.text(-0.4, value, f"NTU {name} ({value})", fontsize=7, va="bottom", ha="left", color="grey")
    total = runs[0].reports[modes[0]].total if runs and modes else 0
    ax.set_xticks(x + width * (len(modes) - 1) / 2, [r.name for r in runs], fontsize=8)
    ax.set_ylabel(f"correct of {total}")
    ax.set_ylim(0, max(total, 1))
    ax.set_title("HW01 accuracy by run and scoring mode")
    ax.legend(fontsize=8)
    fig.tight_layout()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target
