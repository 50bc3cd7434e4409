"""What a distillation run reports: ``stats.json`` (counts, drops per filter, and the quality numbers) and
``report.png`` (lengths, drops, mix, rates).

Quality numbers, each over the rows they concern:
- ``groundedness``: share of question–answer rows whose answer is grounded — every quote verified in its chunk
  (RAFT), else the lexical support of the answer in its context at the run's threshold — over what the teacher
  generated and over what was kept;
- ``duplicate_rate``: rows the de-duplication filters removed, over rows generated;
- ``refusals.precision``: kept refusals (questions the knowledge base does not answer) re-checked at report time by
  retrieval over the whole knowledge base, share confirmed absent; with how many candidates the check rejected;
- ``raft``: rows, rows that show the oracle, the realized ``oracle_rate`` beside the ``configured_oracle_rate``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentkit.distill.filters import DEDUP_FILTERS, lexical_share
from agentkit.distill.raft import parse, unverified
from agentkit.distill.records import PROMPT_VERSION, QARecord
from agentkit.distill.refusals import AbsenceCheck
from agentkit.distill.splits import SPLIT_NAMES
from agentkit.distill.text import units


def grounded(r: QARecord, threshold: float) -> bool:
    """Verified quotes when the answer has quotes, else lexical support >= ``threshold``."""
    cot = parse(r.answer)
    if cot.quotes:
        return not unverified(cot.quotes, r.context_texts)
    return lexical_share(r) >= threshold


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def run_stats(job: Any, chunks: Sequence[Any], tasks: Sequence[Any], generated: Sequence[QARecord], splits: dict[str, list[QARecord]],
              dropped: dict[str, list[dict[str, str]]], failures: Sequence[str], grouped_by: str, chain: Sequence[Any]) -> dict[str, Any]:
    config = job.config
    kept = [r for name in SPLIT_NAMES for r in splits[name]]
    coverage = Counter(r.source for r in kept)
    answers = [r for r in generated if r.kind != "refusal"]
    kept_answers = [r for r in kept if r.kind != "refusal"]
    kb_refusals = [r for r in kept if r.kind == "refusal" and r.style == "unanswerable"]
    check = AbsenceCheck(job.kb, max(5, config.k), config.refusal_max_support)  # retrieval only: no judge call at report time
    confirmed = sum(check(r.question).absent for r in kb_refusals)
    proposed = sum(r.style == "unanswerable" for r in generated) + len(dropped.get("refusal-check", []))
    duplicates = sum(len(dropped.get(name, [])) for name in DEDUP_FILTERS)
    stats: dict[str, Any] = {
        "teacher": job.teacher.spec,
        "prompt_version": PROMPT_VERSION,
        "recipe": config.recipe,
        "seed_chunks": len(chunks),
        "tasks": len(tasks),
        "generated": len(generated),
        "kept": len(kept),
        "failures": list(failures),
        "filters": [f.name for f in chain],
        "dropped": {name: {"count": len(rows), "examples": rows[:5]} for name, rows in dropped.items()},
        "splits": {name: len(splits[name]) for name in SPLIT_NAMES},
        "split_grouped_by": grouped_by,
        "styles": dict(sorted(Counter(r.style for r in kept).items())),
        "kinds": dict(sorted(Counter(r.kind for r in kept).items())),
        "per_source": {src: coverage.get(src, 0) for src in sorted({c.source for c in chunks})},
        "quality": {
            "groundedness": {
                "generated": _rate(sum(grounded(r, config.grounded_threshold) for r in answers), len(answers)),
                "kept": _rate(sum(grounded(r, config.grounded_threshold) for r in kept_answers), len(kept_answers)),
                "threshold": config.grounded_threshold,
            },
            "duplicate_rate": _rate(duplicates, len(generated)),
            "refusals": {"proposed": proposed, "rejected": len(dropped.get("refusal-check", [])), "kept": len(kb_refusals),
                         "precision": _rate(confirmed, len(kb_refusals))},
        },
    }
    if config.recipe == "raft":
        rows = [r for r in kept if r.documents and r.style != "unanswerable"]
        with_oracle = sum(bool(r.oracle) for r in rows)
        settings = config.raft_settings()
        stats["quality"]["raft"] = {"configured_oracle_rate": settings.oracle_rate, "distractors": settings.distractors, "answer_format": settings.answer_format,
                                    "rows": len(rows), "with_oracle": with_oracle, "oracle_rate": _rate(with_oracle, len(rows)),
                                    "no_oracle_dropped": len(dropped.get("raft-no-oracle", []))}
    return stats


def plot_report(stats: dict[str, Any], splits: dict[str, list[QARecord]], path: Path) -> Path:
    """Four panels: question and answer lengths (units), drops per filter, style and kind mix, quality rates."""
    from agentkit.extras import require

    matplotlib = require("matplotlib", "plots", "the distillation report chart")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for name in SPLIT_NAMES for r in splits[name]]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    lengths = axes[0][0]
    lengths.hist([[units(r.question) for r in records] or [0], [units(r.answer) for r in records] or [0]], bins=20, label=["question", "answer"])
    lengths.set_title("lengths (words; a CJK character is one)")
    lengths.set_ylabel("records")
    lengths.legend(fontsize=8)
    drops = {name: v["count"] for name, v in stats["dropped"].items()}
    axes[0][1].barh(list(drops) or ["none"], list(drops.values()) or [0], color="#c44e52")
    axes[0][1].set_title(f"dropped per filter (generated {stats['generated']}, kept {stats['kept']})")
    mix = {f"style: {k}": v for k, v in stats["styles"].items()} | {f"kind: {k}": v for k, v in stats["kinds"].items()}
    axes[1][0].barh(list(mix) or ["none"], list(mix.values()) or [0], color="#4c72b0")
    axes[1][0].set_title("mix of kept rows")
    quality = stats["quality"]
    rates = {"grounded (generated)": quality["groundedness"]["generated"], "grounded (kept)": quality["groundedness"]["kept"],
             "duplicates": quality["duplicate_rate"], "refusal precision": quality["refusals"]["precision"]}
    if "raft" in quality:
        rates["oracle rate"] = quality["raft"]["oracle_rate"]
    shown = {k: v for k, v in rates.items() if v is not None}
    bars = axes[1][1].barh(list(shown) or ["none"], list(shown.values()) or [0], color="#55a868")
    axes[1][1].bar_label(bars, fmt="%.2f", fontsize=8)
    axes[1][1].set_xlim(0, 1.1)
    axes[1][1].set_title("rates")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
