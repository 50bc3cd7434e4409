"""`distill` and `dataset dedup|split|convert|stats`: QA datasets from documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from agentkit.cli._common import (
    JSON_HELP,
    _csv_list,
    _needs,
    _print_json,
    _progress,
    app,
    at_least_one,
    existing_kb,
    fraction,
    fraction_below_one,
    input_file,
    local_kb_path,
    non_negative,
    note,
    out,
    output_dir,
    output_file,
    sub_app,
    undone_on_error,
    user_errors,
    write_atomically,
)


@app.command()
@user_errors
def distill(
    paths: list[Path] = typer.Argument(None, help="Documents or folders to ingest into OUT/kb (or use --kb)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder: exports, stats.json, run.json, report.png, checkpoint.jsonl."),
    kb: str = typer.Option(None, "--kb", help="A knowledge base instead of (or to ingest PATHS into): a directory, chroma+http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
    formats: str = typer.Option("alpaca,sharegpt,messages,mlx,hf", "--formats", help="Export formats, comma-separated: alpaca,sharegpt,messages,mlx,hf,completion, or a plugin's (agentkit plugins --kind export_format)."),
    llm: str = typer.Option(None, "--llm", "-m", help="Teacher LLM spec (default: $AGENTKIT_LLM or the embedded model)."),
    judge_llm: str = typer.Option(None, "--judge-llm", help="Also filter with an LLM groundedness judge (an LLM spec)."),
    max_chunks: int = typer.Option(None, "--max-chunks", callback=at_least_one, help="Sample N seed chunks (seeded) for a quick run."),
    questions_per_chunk: int = typer.Option(2, "--questions-per-chunk", callback=at_least_one, help="Questions asked of each seed chunk, per style."),
    styles: str = typer.Option("factual", "--styles", help="Question styles, comma-separated: factual,explanatory,procedural,multi-hop."),
    split: str = typer.Option("0.8,0.1,0.1", "--split", help="train,valid,test ratios or counts."),
    seed: int = typer.Option(0, "--seed", help="Seed of the chunk sample and the split."),
    concurrency: int = typer.Option(1, "--concurrency", callback=at_least_one, help="Teacher calls in flight (the embedded model serializes anyway)."),
    language: str = typer.Option(None, "--language", help="Output language, e.g. zh-TW, en (also filters on it)."),
    system: str = typer.Option("", "--system", help="System prompt / persona: the teacher answers under it, and every record keeps it."),
    refusal_ratio: float = typer.Option(0.0, "--refusal-ratio", callback=fraction_below_one,
                                        help="Share of chunks that also yield 'not in the documents' examples (kept only when retrieval confirms the answer is absent)."),
    min_grounded: float = typer.Option(0.5, "--min-grounded", callback=fraction, help="Lexical groundedness threshold (share of answer words found in its context)."),
    recipe: str = typer.Option("qa", "--recipe", help="qa (question → RAG answer) or raft (documents + question → reasoning with verified quotes, <ANSWER>: ...)."),
    oracle_rate: float = typer.Option(0.8, "--oracle-rate", callback=fraction, help="raft: share of rows that show the oracle chunk (RAFT's P); the others teach abstention."),
    distractors: int = typer.Option(3, "--distractors", callback=non_negative, help="raft: distractor chunks per row (the question's nearest chunks that are not the oracle)."),
    answer_format: str = typer.Option("cot", "--answer-format", help="raft: cot (reasoning with ##begin_quote## quotes, then <ANSWER>:) or answer (final answer only)."),
    dedup_numbers: bool = typer.Option(True, "--dedup-numbers/--no-dedup-numbers", help="Drop rows equal up to their digits in question and answer."),
    novelty: float = typer.Option(0.7, "--novelty", callback=fraction, help="Drop a question whose ROUGE-L with a kept one is >= this, unless the answers differ (0: off)."),
    dedup_embedding: float = typer.Option(None, "--dedup-embedding", callback=fraction, help="Also drop questions whose embedding cosine with a kept one is >= this (e.g. 0.95)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Ask the teacher again where an earlier run failed (timeouts are retried anyway)."),
    as_json: bool = typer.Option(False, "--json", "-j", help="Print stats.json on stdout."),
) -> None:
    """Generate a de-duplicated, split QA dataset from documents with a teacher model.

    Every option, the models and the paths are checked before anything is ingested, generated or written."""
    _needs("distill", "agentkit distill")
    from agentkit.distill import DistillConfig, DistillJob, parse_split
    from agentkit.errors import InputError
    from agentkit.llm import load_llm

    if not kb and not paths:
        raise InputError("nothing to distill", "pass document paths or --kb DIR")
    config = DistillConfig(_csv_list(formats, flag="--formats", example="alpaca,messages"), questions_per_chunk, _csv_list(styles, flag="--styles", example="factual"),
                           max_chunks, parse_split(split), seed, concurrency, language, system, refusal_ratio,
                           grounded_threshold=min_grounded, retry_failed=retry_failed, recipe=recipe, oracle_rate=oracle_rate, distractors=distractors,
                           answer_format=answer_format, dedup_numbers=dedup_numbers, novelty=novelty or None, embedding_dedup=dedup_embedding)
    output_dir(out_dir)
    for path in paths or []:
        if not path.exists():
            raise InputError(f"no such file or directory: {path}", "check the path")
    if kb and not paths:
        existing_kb(kb)
    teacher, judge = load_llm(llm), load_llm(judge_llm) if judge_llm else None  # cheap: a bad spec or file fails here, weights load later
    # --kb opens like every other command's (ragflow:// included); without it the KB lives in OUT/kb
    with undone_on_error(out_dir), undone_on_error(local_kb_path(kb) if kb else None):
        knowledge = _knowledge(kb, out_dir, paths or [])
    bar, update = _progress("distilling")
    with bar:
        report = DistillJob(knowledge, out_dir, teacher, config, judge, lambda label, done, total: update(done, total)).run()
    stats = report.stats
    if as_json:
        _print_json(stats)
    else:
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
    if not stats["kept"]:
        raise _nothing_kept(stats, config.language, out_dir)


def _nothing_kept(stats: dict[str, Any], language: str | None, out_dir: Path) -> Exception:
    """A job that kept no record failed, whatever it wrote: the error says why (the filters' and the teacher's
    reasons, one example each) and what to change; a dataset without rows must not pass for a result in a script."""
    from agentkit.distill.generate import GenerationError
    from agentkit.language import parse_language

    why = [f"{v['count']} dropped by the {name} filter (e.g. {v['examples'][0]['reason']})" for name, v in stats["dropped"].items() if v["count"] and v["examples"]]
    if stats["failures"]:
        why.append(f"{len(stats['failures'])} teacher failure(s) (e.g. {stats['failures'][0][:160]})")
    asked = parse_language(language)
    if asked is not None and stats["dropped"].get("language", {}).get("count"):
        hint = f"the teacher does not write {asked.name}: use a model that does (e.g. --llm ollama://qwen2.5:7b) or leave out --language"
    else:
        hint = f"see {out_dir}/stats.json; try another --llm, more --max-chunks or a lower --min-grounded"
    return GenerationError(f"the job kept no record of {stats['generated']} generated: {'; '.join(why) or 'nothing was generated'}", hint)


def _knowledge(kb: str | None, out_dir: Path, paths: list[Path]) -> Any:
    """The knowledge base to distill from (--kb, or OUT/kb), with ``paths`` ingested; one that ends up empty is an
    error naming every skipped file and why."""
    from agentkit.errors import KnowledgeBaseError
    from agentkit.retrievers import KnowledgeBase
    from agentkit.retrievers.open import open_knowledge_base

    knowledge = open_knowledge_base(kb) if kb else KnowledgeBase(out_dir / "kb")
    ingested = knowledge.ingest(paths) if paths else None
    if (ingested is not None and ingested.documents) or knowledge.count():
        return knowledge
    from agentkit.cli.kb import unread_files

    unread = unread_files([str(p) for p in paths], [], [])
    why = f"no readable documents in {', '.join(map(str, paths))}" if paths else f"the knowledge base {kb} is empty"
    reasons = [f"{p}: {r}" for p, r in (ingested.skipped if ingested else [])] + ([unread] if unread else [])
    raise KnowledgeBaseError(f"nothing to distill: {why}" + (f" (skipped: {'; '.join(reasons)})" if reasons else ""),
                             "pass readable, non-empty documents, or a --kb built with agentkit ingest")


dataset_app = sub_app("Tools for QA datasets in JSONL (alpaca, sharegpt, messages, prompt/completion).")
app.add_typer(dataset_app, name="dataset")

_FILE_HELP = "A JSONL dataset: alpaca, sharegpt, messages or prompt/completion rows (formats may mix)."
_SKIP_HELP = "Leave out lines that are not a readable record (each reported with its line number) instead of stopping."


def _read_dataset(path: Path, skip_bad_lines: bool) -> Any:
    """The records of ``path``. A line that is not a readable record stops the command (naming its line) unless
    ``skip_bad_lines``: a tool that quietly drops rows writes outputs that look whole and are not."""
    from agentkit.distill.dataset_io import read_jsonl
    from agentkit.errors import InputError

    input_file(path, "dataset file")
    result = read_jsonl(path)
    if result.errors and not skip_bad_lines:
        number, reason = result.errors[0]
        more = f" (and {len(result.errors) - 1} more bad line{'s' if len(result.errors) > 2 else ''})" if len(result.errors) > 1 else ""
        raise InputError(f"{path}:{number}: not a readable record: {reason}{more}", "fix or remove the line, or pass --skip-bad-lines to leave such lines out")
    for number, reason in result.errors:
        note(f"{path}:{number}: skipped ({reason})")
    return result


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    from agentkit.distill.export import write_jsonl

    write_atomically(path, lambda tmp: write_jsonl(tmp, rows))


@dataset_app.command("dedup")
@user_errors
def dataset_dedup(
    file: Path = typer.Argument(..., help=_FILE_HELP),
    out_file: Path = typer.Option(..., "--out", "-o", help="The de-duplicated JSONL file (replaced if it exists)."),
    threshold: float = typer.Option(0.8, "--threshold", callback=fraction, help="MinHash Jaccard similarity (0-1) above which records are near-duplicates."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=_SKIP_HELP),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Drop exact, numbers-only and near-duplicate records (every turn counts; Traditional and Simplified Chinese
    fold together); kept lines are written back unchanged."""
    from agentkit.distill.dataset_io import dedup_view
    from agentkit.distill.filters import ExactDedup, MinHashDedup, NumbersDedup, run_filters

    output_file(out_file)
    data = _read_dataset(file, skip_bad_lines)
    views = [dedup_view(r) for r in data.records]
    kept, dropped = run_filters(views, [ExactDedup(), NumbersDedup(), MinHashDedup(threshold)])
    kept_ids = {id(r) for r in kept}
    _write_rows(out_file, [row for view, row in zip(views, data.rows) if id(view) in kept_ids])
    if as_json:
        _print_json({"records": len(data.records), "kept": len(kept), "dropped": {k: len(v) for k, v in dropped.items()}, "bad_lines": len(data.errors), "out": str(out_file)})
        return
    out.print(f"{len(kept)} kept of {len(data.records)}; " + ", ".join(f"{k} {len(v)}" for k, v in dropped.items()) + f" → {out_file}", highlight=False)


@dataset_app.command("split")
@user_errors
def dataset_split(
    file: Path = typer.Argument(..., help=_FILE_HELP),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for train.jsonl, valid.jsonl, test.jsonl."),
    split: str = typer.Option("0.8,0.1,0.1", "--split", help="train,valid,test ratios or counts."),
    seed: int = typer.Option(0, "--seed", help="Seed of the shuffle."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=_SKIP_HELP),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Seeded train/valid/test files grouped by source; lines are written back unchanged, and an empty split gets
    no file (consumers cannot read an empty one)."""
    from agentkit.distill import parse_split, split_records

    ratios = parse_split(split)
    output_dir(out_dir)
    data = _read_dataset(file, skip_bad_lines)
    row_of = {id(r): row for r, row in zip(data.records, data.rows)}
    result = split_records(data.records, ratios, seed)
    for name, records in result.splits.items():
        path = out_dir / f"{name}.jsonl"
        if records:
            _write_rows(path, [row_of[id(r)] for r in records])
        else:
            path.unlink(missing_ok=True)
            note(f"split '{name}' is empty: no {path} written")
    if as_json:
        _print_json({"splits": {k: len(v) for k, v in result.splits.items()}, "grouped_by": result.grouped_by, "bad_lines": len(data.errors), "out": str(out_dir)})
        return
    out.print(", ".join(f"{k} {len(v)}" for k, v in result.splits.items()) + f" (grouped by {result.grouped_by}) → {out_dir}", highlight=False)


@dataset_app.command("convert")
@user_errors
def dataset_convert(
    file: Path = typer.Argument(..., help=_FILE_HELP),
    to: str = typer.Option(..., "--to", help="alpaca | sharegpt | messages | completion | hf, or a plugin's format (agentkit plugins --kind export_format)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="The converted JSONL file (hf: a folder)."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=_SKIP_HELP),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Convert between formats, keeping every turn, alpaca history and keys the formats do not define
    (hf: a DatasetDict with one train split saved to disk)."""
    from agentkit.distill.dataset_io import convert_rows
    from agentkit.distill.export import ROW_BUILDERS, check_formats, export

    check_formats([to])
    output_dir(out_path) if to == "hf" else output_file(out_path)
    data = _read_dataset(file, skip_bad_lines)
    if to not in ("hf", *ROW_BUILDERS):  # a plugin's format
        from agentkit.errors import ConfigError
        from agentkit.plugins import registry

        plugin = registry("export_format").build(to)
        if not hasattr(plugin, "write_file"):
            raise ConfigError(f"export format '{to}' writes whole distill outputs only", "use it with agentkit distill --formats " + to)
        write_atomically(out_path, lambda tmp: plugin.write_file(data.records, tmp))
    elif to == "hf":
        from agentkit.distill.dataset_io import FORMAT_KEYS

        lost = sorted({k for row, fmt in zip(data.rows, data.formats) for k in row if k not in FORMAT_KEYS[fmt]})
        if lost:
            note(f"hf keeps the record fields only; not written: {', '.join(lost)}")
        export({"train": data.records, "valid": [], "test": []}, out_path, ["hf"])
    else:
        _write_rows(out_path, convert_rows(data, to))
    if as_json:
        _print_json({"records": len(data.records), "from": data.format, "to": to, "bad_lines": len(data.errors), "out": str(out_path)})
        return
    out.print(f"{len(data.records)} records {data.format} → {to}: {out_path}", highlight=False)


@dataset_app.command("stats")
@user_errors
def dataset_stats(
    file: Path = typer.Argument(..., help=_FILE_HELP),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=_SKIP_HELP + " The count is reported as bad_lines."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Counts, lengths, duplicates and languages of a dataset file."""
    import statistics

    from agentkit.distill.filters import ExactDedup, MinHashDedup, NumbersDedup, cjk_share, run_filters

    data = _read_dataset(file, skip_bad_lines)
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
        shown = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        out.print(f"{key.replace('_', ' ')}: {shown}", highlight=False)
