"""`chunking-eval`: span-level evaluation of chunking settings."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from agentkit.cli._common import DEFAULT_K, _csv_list, _print_json, app, err, out, output_dir, user_errors


@app.command("chunking-eval")
@user_errors
def chunking_eval(
    data: Path = typer.Option(Path("../shared/chunking_eval"), "--data", help="Folder with the corpora (*.md) and questions_df.csv."),
    splitter: str = typer.Option("recursive", "--splitter", help="Comma-separated: recursive,token,sentence,semantic,markdown,paragraph."),
    chunk_size: str = typer.Option("200", "--chunk-size", help="Comma-separated sizes, in --size-unit."),
    chunk_overlap: str = typer.Option("0", "--chunk-overlap", help="Comma-separated overlaps, in --size-unit (combinations with overlap >= size are skipped)."),
    size_unit: str = typer.Option("tokens", "--size-unit", help="chars | tokens (cl100k)."),
    embedder: str = typer.Option(None, "--embedder", help="Embedder spec (default: the offline all-MiniLM-L6-v2)."),
    k: str = typer.Option(str(DEFAULT_K), "--k", "-k", help="Chunks retrieved per question, or 'min' (the fewest that can cover the references)."),
    mode: str = typer.Option("dense", "--mode", help="Retrieval modes, comma-separated: dense,bm25,hybrid."),
    corpora: str = typer.Option(None, "--corpora", help="Comma-separated corpus ids (default: all)."),
    out_dir: Path = typer.Option(None, "--out", "-o", help="Write results.csv, results.md and PNG plots here."),
    as_json: bool = typer.Option(False, "--json", "-j", help="Print one JSON object with a results list."),
) -> None:
    """Span-level recall / precision / IoU of chunking settings (Chroma's evaluation), swept over a grid."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from agentkit.embeddings import load_embedder
    from agentkit.errors import ConfigError
    from agentkit.evaluation import METRICS, ChunkingEvaluation, load_eval_data
    from agentkit.evaluation.chunking_eval import sweep
    from agentkit.evaluation.report import write_reports
    from agentkit.plugins import registry

    k_value: int | str = "min" if k.strip().lower() == "min" else _csv_list(k, int, "--k", 1, "4")[0]
    names, sizes, overlaps = _csv_list(splitter, flag="--splitter", example="recursive"), _csv_list(chunk_size, int, "--chunk-size", 1), _csv_list(chunk_overlap, int, "--chunk-overlap", 0, "0,50")
    known = registry("splitter").names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown splitter(s): {', '.join(unknown)}", f"use any of: {', '.join(known)}")
    if not any(o < s for s in sizes for o in overlaps):
        raise ConfigError("every --chunk-overlap is at least every --chunk-size: no combination can run", "give overlaps smaller than the sizes, e.g. --chunk-size 200 --chunk-overlap 0")
    if out_dir:
        output_dir(out_dir)
    dataset = load_eval_data(data, _csv_list(corpora, flag="--corpora", example="wikitexts") if corpora else None)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
        configs = bar.add_task("configurations", total=len(names) * len(sizes) * len(overlaps))
        step = bar.add_task("", total=None)

        started = [0]

        def on_config(name: str, size: int, overlap: int) -> None:
            bar.update(configs, description=f"{name} {size}/{overlap}", completed=started[0])
            started[0] += 1

        evaluation = ChunkingEvaluation(dataset, load_embedder(embedder), lambda label, done, total: bar.update(step, description=label, completed=done, total=total))
        results = sweep(evaluation, names, sizes, overlaps, size_unit, _csv_list(mode, flag="--mode", example="dense,bm25"), k_value, on_config, lambda note: err.print(f"[yellow]{note}[/]"))
    model = evaluation.embedder
    if out_dir:
        for path in write_reports(results, out_dir):
            err.print(f"[dim]wrote {path}[/]")
    if as_json:
        _print_json({"questions": len(dataset.questions), "corpora": list(dataset.corpora), "results": [r.to_dict() for r in results]})
        return
    table = Table(title=f"{len(dataset.questions)} questions, {len(dataset.corpora)} corpora, k={k_value}, {model.name}; mean ± std %")
    for column in ("splitter", "size/ov", "mode", "chunks", "tok", "recall", "precision", "IoU", "prec_Ω"):
        table.add_column(column, justify="left" if column in ("splitter", "mode") else "right", no_wrap=True)
    for r in results:
        row = r.row()
        table.add_row(row["splitter"], f"{row['chunk_size']}/{row['chunk_overlap']}", row["mode"], str(row["chunks"]), f"{row['mean_tokens']:.0f}",
                      *[f"{row[m]:.1f}±{row[f'{m}_std']:.1f}" for m in METRICS])
    (out if out.is_terminal else Console(width=140)).print(table)
