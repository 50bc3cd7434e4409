"""`distill` and `dataset dedup|split|convert|stats`: QA datasets from documents."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agentkit.cli._common import DEMO_KB, _csv_list, _needs, _print_json, _progress, _web_cache, app, err, out, user_errors


@app.command()
@user_errors
def distill(
    paths: list[Path] = typer.Argument(None, help="Documents or folders to ingest into OUT/kb (or use --kb)."),
    out_dir: Path = typer.Option(..., "--out", help="Output folder: exports, stats.json, run.json, report.png, checkpoint.jsonl."),
    kb: str = typer.Option(None, "--kb", help="A knowledge base instead of (or to ingest PATHS into): a directory, http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
    formats: str = typer.Option("alpaca,sharegpt,messages,mlx,hf", "--formats", help="alpaca,sharegpt,messages,mlx,hf,completion."),
    llm: str = typer.Option(None, "--llm", help="Teacher LLM spec (default: $AGENTKIT_LLM or the embedded model)."),
    judge_llm: str = typer.Option(None, "--judge-llm", help="Also filter with an LLM groundedness judge."),
    max_chunks: int = typer.Option(None, "--max-chunks", help="Sample N seed chunks (seeded) for a quick run."),
    questions_per_chunk: int = typer.Option(2, "--questions-per-chunk"),
    styles: str = typer.Option("factual", "--styles", help="factual,explanatory,procedural,multi-hop."),
    split: str = typer.Option("0.8,0.1,0.1", "--split", help="train,valid,test ratios or counts."),
    seed: int = typer.Option(0, "--seed"),
    concurrency: int = typer.Option(1, "--concurrency"),
    language: str = typer.Option(None, "--language", help="Output language, e.g. zh-TW, en (also filters on it)."),
    system: str = typer.Option("", "--system", help="System prompt / persona: the teacher answers under it, and every record keeps it."),
    refusal_ratio: float = typer.Option(0.0, "--refusal-ratio", help="Share of chunks that also yield 'not in the documents' examples (kept only when retrieval confirms the answer is absent)."),
    min_grounded: float = typer.Option(0.5, "--min-grounded", help="Lexical groundedness threshold (share of answer words found in its context)."),
    recipe: str = typer.Option("qa", "--recipe", help="qa (question → RAG answer) or raft (documents + question → reasoning with verified quotes, <ANSWER>: ...)."),
    oracle_rate: float = typer.Option(0.8, "--oracle-rate", help="raft: share of rows that show the oracle chunk (RAFT's P); the others teach abstention."),
    distractors: int = typer.Option(3, "--distractors", help="raft: distractor chunks per row (the question's nearest chunks that are not the oracle)."),
    answer_format: str = typer.Option("cot", "--answer-format", help="raft: cot (reasoning with ##begin_quote## quotes, then <ANSWER>:) or answer (final answer only)."),
    dedup_numbers: bool = typer.Option(True, "--dedup-numbers/--no-dedup-numbers", help="Drop rows equal up to their digits in question and answer."),
    novelty: float = typer.Option(0.7, "--novelty", help="Drop a question whose ROUGE-L with a kept one is >= this, unless the answers differ (0: off)."),
    dedup_embedding: float = typer.Option(None, "--dedup-embedding", help="Also drop questions whose embedding cosine with a kept one is >= this (e.g. 0.95)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Ask the teacher again where an earlier run failed (timeouts are retried anyway)."),
    as_json: bool = typer.Option(False, "--json", help="Print stats.json."),
) -> None:
    """Generate a de-duplicated, split QA dataset from documents with a teacher model."""
    _needs("distill", "agentkit distill")
    from agentkit.distill import DistillConfig, DistillJob, parse_split
    from agentkit.retrievers import KnowledgeBase
    from agentkit.retrievers.open import open_knowledge_base

    if not kb and not paths:
        from agentkit.errors import InputError

        raise InputError("nothing to distill", "pass document paths or --kb DIR")
    config = DistillConfig(_csv_list(formats), questions_per_chunk, _csv_list(styles), max_chunks, parse_split(split), seed, concurrency, language, system, refusal_ratio,
                           grounded_threshold=min_grounded, retry_failed=retry_failed, recipe=recipe, oracle_rate=oracle_rate, distractors=distractors,
                           answer_format=answer_format, dedup_numbers=dedup_numbers, novelty=novelty or None, embedding_dedup=dedup_embedding)
    # --kb opens like every other command's (ragflow:// included); without it the KB lives in OUT/kb
    knowledge = open_knowledge_base(kb) if kb else KnowledgeBase(out_dir / "kb")
    skipped = knowledge.ingest(paths).skipped if paths else []
    if knowledge.count() == 0:
        from agentkit.errors import KnowledgeBaseError

        why = f"no readable documents in {', '.join(map(str, paths))}" if paths else f"the knowledge base {kb} is empty"
        reasons = f" (skipped: {'; '.join(f'{p}: {r}' for p, r in skipped)})" if skipped else ""
        raise KnowledgeBaseError(f"nothing to distill: {why}{reasons}", "pass readable, non-empty documents, or a --kb built with agentkit ingest")
    bar, update = _progress("distilling")
    with bar:
        report = DistillJob(knowledge, out_dir, llm, config, judge_llm, lambda label, done, total: update(done, total)).run()
    stats = report.stats
    if as_json:
        _print_json(stats)
        return
    drops = ", ".join(f"{name} {v['count']}" for name, v in stats["dropped"].items() if v["count"])
    out.print(f"[bold]{stats['kept']}[/] records kept of {stats['generated']} generated from {stats['seed_chunks']} chunks; dropped: {drops or 'none'}; "
              f"failures: {len(stats['failures'])}", highlight=False)
    out.print(f"splits {stats['splits']} (grouped by {stats['split_grouped_by']}); teacher calls this run: {report.llm_calls}; "
              + ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items()), highlight=False)
    quality = stats["quality"]
    rates = {"grounded": quality["groundedness"]["kept"], "duplicates": quality["duplicate_rate"], "refusal precision": quality["refusals"]["precision"]}
    rates |= {"oracle rate": quality["raft"]["oracle_rate"]} if "raft" in quality else {}
    out.print("quality: " + ", ".join(f"{k} {v:.0%}" for k, v in rates.items() if v is not None), highlight=False)
    out.print(f"[dim]{out_dir}/stats.json, {out_dir}/report.png, {out_dir}/run.json, exports in {out_dir}[/]")


dataset_app = typer.Typer(no_args_is_help=True, help="Tools for QA datasets in JSONL (alpaca, sharegpt, messages, prompt/completion).")
app.add_typer(dataset_app, name="dataset")


def _read_dataset(path: Path) -> Any:
    from agentkit.distill.dataset_io import read_jsonl

    result = read_jsonl(path)
    for number, reason in result.errors:
        err.print(f"[yellow]{path}:{number}: skipped ({reason})[/]", highlight=False)
    return result


@dataset_app.command("dedup")
@user_errors
def dataset_dedup(file: Path = typer.Argument(...), out_file: Path = typer.Option(..., "--out"), threshold: float = typer.Option(0.8, "--threshold", help="MinHash Jaccard for near-duplicates.")) -> None:
    """Drop exact, numbers-only and near-duplicate records (every turn counts; Traditional and Simplified Chinese
    fold together); kept lines are written back unchanged."""
    from agentkit.distill.dataset_io import dedup_view
    from agentkit.distill.export import write_jsonl
    from agentkit.distill.filters import ExactDedup, MinHashDedup, NumbersDedup, run_filters

    data = _read_dataset(file)
    views = [dedup_view(r) for r in data.records]
    kept, dropped = run_filters(views, [ExactDedup(), NumbersDedup(), MinHashDedup(threshold)])
    kept_ids = {id(r) for r in kept}
    write_jsonl(out_file, [row for view, row in zip(views, data.rows) if id(view) in kept_ids])
    out.print(f"{len(kept)} kept of {len(data.records)}; " + ", ".join(f"{k} {len(v)}" for k, v in dropped.items()) + f" → {out_file}")


@dataset_app.command("split")
@user_errors
def dataset_split(file: Path = typer.Argument(...), out_dir: Path = typer.Option(..., "--out"), split: str = typer.Option("0.8,0.1,0.1", "--split"), seed: int = typer.Option(0, "--seed")) -> None:
    """Seeded train/valid/test files grouped by source; lines are written back unchanged, and an empty split gets
    no file (consumers cannot read an empty one)."""
    from agentkit.distill import parse_split, split_records
    from agentkit.distill.export import write_jsonl

    data = _read_dataset(file)
    row_of = {id(r): row for r, row in zip(data.records, data.rows)}
    result = split_records(data.records, parse_split(split), seed)
    for name, records in result.splits.items():
        path = out_dir / f"{name}.jsonl"
        if records:
            write_jsonl(path, [row_of[id(r)] for r in records])
        else:
            path.unlink(missing_ok=True)
            err.print(f"[yellow]split '{name}' is empty: no {path} written[/]", highlight=False)
    out.print(", ".join(f"{k} {len(v)}" for k, v in result.splits.items()) + f" (grouped by {result.grouped_by}) → {out_dir}")


@dataset_app.command("convert")
@user_errors
def dataset_convert(file: Path = typer.Argument(...), to: str = typer.Option(..., "--to", help="alpaca | sharegpt | messages | completion | hf, or a plugin's format (agentkit plugins --kind export_format)."), out_path: Path = typer.Option(..., "--out")) -> None:
    """Convert between formats, keeping every turn, alpaca history and keys the formats do not define
    (hf: a DatasetDict with one train split saved to disk)."""
    from agentkit.distill.dataset_io import convert_rows
    from agentkit.distill.export import ROW_BUILDERS, check_formats, export, write_jsonl

    data = _read_dataset(file)
    check_formats([to])
    if to not in ("hf", *ROW_BUILDERS):  # a plugin's format
        from agentkit.errors import ConfigError
        from agentkit.plugins import registry

        plugin = registry("export_format").build(to)
        if not hasattr(plugin, "write_file"):
            raise ConfigError(f"export format '{to}' writes whole distill outputs only", "use it with agentkit distill --formats " + to)
        plugin.write_file(data.records, out_path)
    elif to == "hf":
        from agentkit.distill.dataset_io import FORMAT_KEYS

        lost = sorted({k for row, fmt in zip(data.rows, data.formats) for k in row if k not in FORMAT_KEYS[fmt]})
        if lost:
            err.print(f"[yellow]hf keeps the record fields only; not written: {', '.join(lost)}[/]", highlight=False)
        export({"train": data.records, "valid": [], "test": []}, out_path, ["hf"])
    else:
        write_jsonl(out_path, convert_rows(data, to))
    out.print(f"{len(data.records)} records {data.format} → {to}: {out_path}")


@dataset_app.command("stats")
@user_errors
def dataset_stats(file: Path = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts, lengths, duplicates and languages of a dataset file."""
    import statistics

    from agentkit.distill.filters import ExactDedup, MinHashDedup, NumbersDedup, cjk_share, run_filters

    data = _read_dataset(file)
    _, dropped = run_filters(data.records, [ExactDedup(), NumbersDedup(), MinHashDedup()])
    q, a = [len(r.question) for r in data.records], [len(r.answer) for r in data.records]
    stats = {
        "records": len(data.records), "format": data.format, "bad_lines": len(data.errors),
        "question_chars": {"median": statistics.median(q), "max": max(q)}, "answer_chars": {"median": statistics.median(a), "max": max(a)},
        "duplicates": {k: len(v) for k, v in dropped.items()},
        "chinese_share": round(sum(cjk_share(r.question) >= 0.3 for r in data.records) / len(data.records), 3),
    }
    if as_json:
        _print_json(stats)
        return
    for key, value in stats.items():
        out.print(f"{key}: {value}", highlight=False)
