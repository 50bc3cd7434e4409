"""Side-by-side accuracy of several HW01 runs, per scoring mode, with a bar chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.hw01.data import HW01Item, load_answers
from agentkit.hw01.scoring import ScoreReport, check_mode, score


@dataclass(frozen=True)
class RunScores:
    name: str
    path: Path
    reports: dict[str, ScoreReport]


def run_name(path: Path) -> str:
    meta_file = path / "run.json"
    meta: dict[str, Any] = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    saved = meta.get("pipeline")
    # run.json holds the pipeline's to_dict() (older runs: its name)
    pipeline = str(saved.get("name", "")) if isinstance(saved, dict) else str(saved or "")
    parts = [pipeline or path.name]
    if meta.get("source"):
        parts.append(f"src={meta['source']}")
    return f"{path.name} ({' '.join(parts)})" if pipeline and pipeline != path.name else path.name


def compare(run_dirs: Sequence[str | Path], gold: Sequence[HW01Item], modes: Sequence[str] = ("strict", "lenient"), judge_llm: Any = None, cache: Any = None) -> list[RunScores]:
    for mode in modes:
        check_mode(mode, judge_llm)  # before any run is read: an llm mode without a judge is refused at once
    out = []
    for run_dir in map(Path, run_dirs):
        answers = load_answers(run_dir)
        out.append(RunScores(run_name(run_dir), run_dir, {m: score(gold, answers, m, judge_llm, cache) for m in modes}))
    return out


def bar_chart(runs: Sequence[RunScores], target: str | Path, baselines: dict[str, int] | None = None) -> Path:
    from agentkit.plotting import grouped_bars

    modes = list(runs[0].reports) if runs else []
    total = runs[0].reports[modes[0]].total if runs and modes else 0
    return grouped_bars(
        [r.name for r in runs], {m: [r.reports[m].correct for r in runs] for m in modes}, target,
        "HW01 accuracy by run and scoring mode", f"correct of {total}", ylim=max(total, 1),
        reference_lines={f"NTU {name} ({value})": value for name, value in (baselines or {}).items()},
    )
