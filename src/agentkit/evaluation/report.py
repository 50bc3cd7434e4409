"""Tables and plots for chunking-evaluation results: CSV, Markdown, and matplotlib PNGs."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from agentkit.evaluation.chunking_eval import METRICS, EvalResult

COLUMNS = ["splitter", "chunk_size", "chunk_overlap", "size_unit", "mode", "k", "chunks", "mean_chars", "mean_tokens"]


def config_label(result: EvalResult) -> str:
    c = result.config
    return f"{c['splitter']}-{c['chunk_size']}{'t' if c.get('size_unit') == 'tokens' else 'c'}/{c['chunk_overlap']} {c['mode']}"


def markdown_table(results: Sequence[EvalResult]) -> str:
    head = COLUMNS + [f"{m} %" for m in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in results:
        row = r.row()
        cells = [str(row.get(c, "")) for c in COLUMNS] + [f"{row[m]:.1f} ± {row[f'{m}_std']:.1f}" for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def per_corpus_table(result: EvalResult) -> str:
    lines = ["| corpus | " + " | ".join(f"{m} %" for m in METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for corpus, metrics in result.per_corpus.items():
        lines.append(f"| {corpus} | " + " | ".join(f"{metrics[m][0]:.1f} ± {metrics[m][1]:.1f}" for m in METRICS) + " |")
    return "\n".join(lines) + "\n"


def write_reports(results: Sequence[EvalResult], out: str | Path) -> list[Path]:
    """``results.csv``, ``results.md``, ``recall_vs_iou.png`` and ``metrics_by_size.png`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r.row() for r in results]
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with (out / "results.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    md = markdown_table(results)
    if results:
        best = max(results, key=lambda r: r.overall["iou"][0])
        md += f"\nPer corpus, best IoU ({config_label(best)}):\n\n" + per_corpus_table(best)
    (out / "results.md").write_text(md, encoding="utf-8")
    return [out / "results.csv", out / "results.md", *plot(results, out)]


def plot(results: Sequence[EvalResult], out: Path) -> list[Path]:
    from agentkit.extras import require

    matplotlib = require("matplotlib", "plots", "charts")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(8, 6))
    groups: dict[tuple[str, str], list[EvalResult]] = {}
    for r in results:
        groups.setdefault((r.config["splitter"], r.config["mode"]), []).append(r)
    # Colour names the splitter, the marker the retrieval mode: 5 splitters x 3 modes stay readable.
    splitters = sorted({s for s, _ in groups})
    colours = {s: f"C{i % 10}" for i, s in enumerate(splitters)}
    markers = {"dense": "o", "bm25": "s", "hybrid": "^"}
    for (splitter, mode), rs in sorted(groups.items()):
        ax.scatter([r.overall["recall"][0] for r in rs], [r.overall["iou"][0] for r in rs], label=f"{splitter} ({mode})", s=40,
                   color=colours[splitter], marker=markers.get(mode, "o"))
        for r in rs:
            ax.annotate(f"{r.config['chunk_size']}/{r.config['chunk_overlap']}", (r.overall["recall"][0], r.overall["iou"][0]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("recall %")
    ax.set_ylabel("IoU %")
    ax.set_title("Recall vs IoU (labels: chunk size / overlap; colour: splitter, marker: mode)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "recall_vs_iou.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4))
    lines: dict[tuple[str, int, str], list[EvalResult]] = {}
    for r in results:
        lines.setdefault((r.config["splitter"], r.config["chunk_overlap"], r.config["mode"]), []).append(r)
    names = sorted({s for s, _, _ in lines})
    styles = {"dense": "-", "bm25": ":", "hybrid": "--"}
    for ax, metric in zip(axes, METRICS):
        for (splitter, overlap, mode), rs in sorted(lines.items()):
            if overlap:  # overlap lines double the clutter; the table has them
                continue
            rs = sorted(rs, key=lambda r: r.config["chunk_size"])
            ax.plot([r.config["chunk_size"] for r in rs], [r.overall[metric][0] for r in rs], marker="o", linestyle=styles.get(mode, "-"),
                    color=f"C{names.index(splitter) % 10}", label=f"{splitter} {mode}")
        ax.set_title(f"{metric} (overlap 0)")
        ax.set_xlabel("chunk size")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("%")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "metrics_by_size.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
