"""`hw01 run|score|compare`: the NTU ML2025 HW01 benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agentkit.cli._common import (
    DEFAULT_K,
    DEFAULT_MAX_TOKENS,
    JSON_HELP,
    _csv_list,
    _print_json,
    _progress,
    _replayed,
    _web_cache,
    app,
    at_least_one,
    either,
    err,
    existing_kb,
    out,
    output_dir,
    output_file,
    renamed,
    sub_app,
    user_errors,
)

hw01_app = sub_app("The NTU ML2025 HW01 benchmark: run pipelines on its questions and score them.")
app.add_typer(hw01_app, name="hw01")


@hw01_app.command("run")
@user_errors
def hw01_run(
    questions: Path = typer.Option(..., "--questions", help="public.txt (question,answer) or a questions-only file."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run directory: <id>.txt, answers.txt, trace.jsonl, run.json."),
    pipeline_name: str = typer.Option(None, "--pipeline", "-p", help="naive | rag | rag-agent (default: rag-agent)."),
    pipeline_file: Path = typer.Option(None, "--pipeline-file", help="Replay a saved pipeline: a run's run.json or a Pipeline.save() file."),
    llm: str = typer.Option(None, "--llm", "-m", help="LLM spec (default: $AGENTKIT_LLM or the embedded model)."),
    source: str = typer.Option(None, "--source", help="Where context comes from: web | kb | both (default: web; ignored by naive)."),
    search_backend: str = typer.Option(None, "--search-backend", help="google | duckduckgo | searxng://HOST:PORT | local://DIR."),
    kb: str = typer.Option(None, "--kb", help="Knowledge base for --source kb|both: a directory, chroma+http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
    k: int = typer.Option(DEFAULT_K, "--k", "-k", callback=at_least_one, help="Chunks given to the answer step."),
    fmt: str = typer.Option("auto", "--format", help="Question file format: auto | gold | questions."),
    start_id: int = typer.Option(None, "--start-id", callback=at_least_one, help="Id of the first line (default 1; 31 for private*)."),
    limit: int = typer.Option(None, "--limit", "-n", callback=at_least_one, help="Only the first N questions."),
    max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", callback=at_least_one, help="Longest answer, in tokens."),
    concurrency: int = typer.Option(1, "--concurrency", callback=at_least_one, help="Questions in flight (the embedded model serializes anyway)."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Let the web source fetch loopback/private addresses."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the web cache."),
    refresh: bool = typer.Option(False, "--refresh", help="Search and fetch anew, then update the cache."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Answer every question; re-running skips answered ones."""
    from agentkit.hw01 import load_items, run_questions
    from agentkit.pipeline.builtin import build

    items = load_items(questions, fmt, start_id)[:limit]
    output_dir(out_dir)
    if pipeline_file is None and kb and (source or "web") in ("kb", "both"):
        existing_kb(kb)
    if pipeline_file is not None:
        pipe = _replayed(pipeline_file, pipeline=pipeline_name, llm=llm, source=source, search_backend=search_backend, kb=kb)
        meta: dict[str, Any] = {"questions": str(questions), "replayed_from": str(pipeline_file)}
    else:
        pipeline_name = pipeline_name or "rag-agent"
        chosen_source = None if pipeline_name == "naive" else (source or "web")
        pipe = build(pipeline_name, llm, source=chosen_source, kb=kb, search=search_backend, k=k, max_tokens=max_tokens,
                     web_cache=_web_cache(no_cache, refresh), allow_private=allow_private)
        meta = {"questions": str(questions), "llm": llm or "default", "source": chosen_source, "search_backend": search_backend, "kb": kb, "k": k}
    bar, update = _progress("answering")
    with bar:
        summary = run_questions(items, pipe, out_dir, meta, concurrency, update)
    if as_json:
        _print_json({"answered": summary.answered, "skipped": summary.skipped, "failed": summary.failed, "seconds": summary.seconds,
                     "out": str(summary.out_dir), "answers": str(summary.out_dir / "answers.txt")})
        return
    out.print(f"{summary.answered} answered, {summary.skipped} already done, {summary.failed} failed in {summary.seconds:.1f}s → {summary.out_dir / 'answers.txt'}")


@hw01_app.command("score")
@user_errors
def hw01_score(
    ctx: typer.Context,
    answers: Path = typer.Option(..., "--answers", help="answers.txt, or a run directory."),
    gold: Path = typer.Option(..., "--gold", help="The question,answer file (public.txt)."),
    scoring: str = typer.Option("strict", "--scoring", help="strict | lenient | llm."),
    old_mode: str = typer.Option(None, "--mode", hidden=True, callback=renamed("hw01 score --mode", "--scoring")),
    judge_llm: str = typer.Option(None, "--judge-llm", help="LLM spec of the judge; required by --scoring llm."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Score answers against gold aliases."""
    from rich.table import Table

    from agentkit.cache_dir import default_cache_dir
    from agentkit.hw01 import load_answers, load_items, score
    from agentkit.hw01.scoring import check_mode
    from agentkit.tools import WebCache

    mode = either(ctx, "scoring", old_mode, "--mode")
    check_mode(mode, judge_llm)
    report = score(load_items(gold, "gold"), load_answers(answers), mode, judge_llm, WebCache(default_cache_dir() / "judge.sqlite", ttl=0))
    if as_json:
        _print_json(report.to_dict())
        return
    table = Table(title=f"{mode}: {report.correct}/{report.total} correct ({100 * report.accuracy:.1f} %)")
    for column in ("id", "question", "gold", "answer", "verdict", "reason"):
        table.add_column(column, overflow="fold")
    for v in report.verdicts:
        table.add_row(str(v.id), v.question[:40], "、".join(v.gold), v.answer[:60], "[green]✓[/]" if v.correct else "[red]✗[/]", v.reason)
    (out if out.is_terminal else Console(width=160)).print(table)


@hw01_app.command("compare")
@user_errors
def hw01_compare(
    ctx: typer.Context,
    runs: list[Path] = typer.Argument(..., help="Run directories."),
    gold: Path = typer.Option(Path("../shared/hw01/public.txt"), "--gold", help="The question,answer file (public.txt)."),
    scoring: str = typer.Option("strict,lenient", "--scoring", help="Scoring modes, comma-separated: strict,lenient,llm."),
    old_mode: str = typer.Option(None, "--mode", hidden=True, callback=renamed("hw01 compare --mode", "--scoring")),
    judge_llm: str = typer.Option(None, "--judge-llm", help="LLM spec of the judge; required by the llm scoring mode."),
    chart: Path = typer.Option(None, "--chart", help="Bar chart PNG (default: compare.png beside the first run)."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Accuracy of several runs side by side, next to NTU's baselines, plus a bar chart."""
    from rich.table import Table

    from agentkit.cache_dir import default_cache_dir
    from agentkit.hw01 import BASELINES, load_items
    from agentkit.hw01.compare import bar_chart, compare
    from agentkit.tools import WebCache

    modes = _csv_list(either(ctx, "scoring", old_mode, "--mode"), flag="--scoring", example="strict,lenient")
    target_chart = output_file(chart or runs[0].parent / "compare.png", "--chart")
    items = load_items(gold, "gold")
    scored = compare(runs, items, modes, judge_llm, WebCache(default_cache_dir() / "judge.sqlite", ttl=0))
    public = len(items) == 30
    baselines = {name: pair[0] if public else pair[1] for name, pair in BASELINES.items()}
    target = bar_chart(scored, target_chart, baselines)
    if as_json:
        _print_json({"runs": [{"name": r.name, "path": str(r.path), **{m: rep.to_dict() for m, rep in r.reports.items()}} for r in scored], "baselines": baselines, "chart": str(target)})
        return
    table = Table(title=f"HW01, {len(items)} questions")
    table.add_column("run")
    for m in modes:
        table.add_column(m, justify="right")
    for r in scored:
        table.add_row(r.name, *[f"{rep.correct}/{rep.total} ({100 * rep.accuracy:.0f} %)" for rep in r.reports.values()])
    for name, value in baselines.items():
        table.add_row(f"[dim]NTU baseline: {name}[/]", *[f"[dim]{value}/{len(items)}[/]" for _ in r.reports] if scored else [])
    (out if out.is_terminal else Console(width=140)).print(table)
    err.print(f"[dim]wrote {target}[/]")
