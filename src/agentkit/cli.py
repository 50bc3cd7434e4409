"""The ``agentkit`` command: parse, call the library, print. User errors become one red line and exit 2."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from agentkit.errors import AgentkitError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Question-answering agents and RAG pipelines on local models.")
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DEMO_KB = Path(".agentkit/demo-kb")


def user_errors(fn: F) -> F:
    """Turn AgentkitError into one line on stderr and a non-zero exit; never a traceback for user mistakes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentkitError as exc:
            err.print(f"[bold red]error:[/] {exc.message}" + (f" [dim]({exc.hint})[/]" if exc.hint else ""), highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _web_cache(no_cache: bool, refresh: bool) -> Any:
    from agentkit.tools import WebCache

    return WebCache(mode="off" if no_cache else "refresh" if refresh else "use")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _progress(label: str) -> tuple[Any, Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


@app.command()
@user_errors
def ask(
    question: str = typer.Argument(..., help="The question to answer."),
    pipeline_name: str = typer.Option(None, "--pipeline", "-p", help="naive | rag | rag-agent (default: rag with --kb, else naive)."),
    llm: str = typer.Option(None, "--llm", help="LLM spec, e.g. llama-cpp://default, ollama://llama3.2:3b (default: $AGENTKIT_LLM)."),
    kb: str = typer.Option(None, "--kb", help="Knowledge base: a directory or http://HOST:PORT/COLLECTION."),
    k: int = typer.Option(4, "--k", help="Chunks to retrieve."),
    mode: str = typer.Option("hybrid", "--mode", help="dense | bm25 | hybrid."),
    source: str = typer.Option(None, "--source", help="kb | web | both (default: kb with --kb, else none)."),
    search_backend: str = typer.Option(None, "--search-backend", help="google | duckduckgo | searxng:URL | local:DIR (default: $AGENTKIT_SEARCH or google)."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Let the web source fetch loopback/private addresses."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the web cache."),
    refresh: bool = typer.Option(False, "--refresh", help="Search and fetch anew, then update the cache."),
    language: str = typer.Option(None, "--language", help="Answer language rule, e.g. zh-TW, en."),
    max_tokens: int = typer.Option(192, "--max-tokens"),
    temperature: float = typer.Option(0.0, "--temperature"),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per model call."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Answer one question with a pipeline."""
    from agentkit.pipeline.builtin import build

    pipe = build(pipeline_name, llm, source=source, kb=kb, kb_mode=mode, search=search_backend, k=k, language=language, max_tokens=max_tokens,
                 temperature=temperature, timeout=timeout, web_cache=_web_cache(no_cache, refresh), allow_private=allow_private)
    result = pipe.run(question)
    if as_json:
        _print_json(result.to_dict())
        return
    out.print(f"[bold]{result.answer}[/]")
    for s in result.sources:
        out.print(f"  [dim]source:[/] {s.source} [{s.start}:{s.end}] score={s.score:.3f}", highlight=False)
    out.print(f"[dim]{'  '.join(f'{k}={v:.2f}s' for k, v in result.timings.items())}[/]")


@app.command()
@user_errors
def ingest(
    paths: list[str] = typer.Argument(..., help="Files or directories."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base: a directory, http://HOST:PORT/COLLECTION (Chroma) or ragflow://HOST:PORT/DATASET."),
    splitter: str = typer.Option("recursive", "--splitter", help="recursive | token | sentence | markdown | semantic."),
    chunk_size: int = typer.Option(800, "--chunk-size"),
    chunk_overlap: int = typer.Option(100, "--chunk-overlap"),
    size_unit: str = typer.Option("chars", "--size-unit", help="chars | tokens."),
    tokenizer: str = typer.Option("cl100k", "--tokenizer", help="cl100k | minilm | hf:/path (for --size-unit tokens)."),
    embedder: str = typer.Option(None, "--embedder", help="Embedder spec (default: the KB's own, else sentence-transformers://default)."),
    include: list[str] = typer.Option([], "--include", help="Glob of files to take from directories (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob of files to skip (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="Tag stored on every chunk (repeatable)."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding text in JSONL/CSV files."),
    prune: bool = typer.Option(False, "--prune", help="Remove sources not part of this ingest."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Chunk, embed and store documents; unchanged files add and embed nothing."""
    from agentkit.chunking import make_splitter
    from agentkit.retrievers.sources import open_knowledge_base

    split = make_splitter(splitter, chunk_size=chunk_size, chunk_overlap=chunk_overlap, size_unit=size_unit, tokenizer=tokenizer)
    # RAGFlow parses and chunks on its side (its chunk_method / parser_config live in the ragflow:// spec).
    base = open_knowledge_base(kb, embedder=embedder, splitter=split)
    bar, update = _progress("parsing" if kb.startswith("ragflow") else "embedding")
    with bar:
        report = base.ingest(paths, include, exclude, tag, prune, text_column, progress=None if as_json else update)
    if as_json:
        _print_json(report.to_dict())
        return
    for path, reason in report.skipped:
        err.print(f"[yellow]skipped[/] {path}: {reason}", highlight=False)
    out.print(
        f"{report.documents} documents ({report.unchanged_documents} unchanged), {report.chunks_total} chunks: "
        f"{report.chunks_added} added, {report.chunks_removed} removed, {report.embedded} embedded in {report.seconds:.1f}s"
    )


@app.command()
@user_errors
def query(
    text: str = typer.Argument(..., help="What to look up."),
    kb: str = typer.Option(..., "--kb"),
    k: int = typer.Option(5, "--k"),
    mode: str = typer.Option("hybrid", "--mode", help="dense | bm25 | hybrid."),
    source: list[str] = typer.Option([], "--source", help="Only chunks of this source (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="Only chunks with this tag (repeatable)."),
    min_score: float = typer.Option(None, "--min-score"),
    mmr: bool = typer.Option(False, "--mmr", help="Re-rank for diversity (maximal marginal relevance)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Retrieve chunks from a knowledge base."""
    from agentkit.errors import KnowledgeBaseError
    from agentkit.retrievers.sources import open_knowledge_base

    base = open_knowledge_base(kb, mode=mode)
    if not getattr(base, "is_server", True) and not Path(kb).is_dir():
        raise KnowledgeBaseError(f"no knowledge base at {kb}", "create it with: agentkit ingest PATH --kb " + kb)
    where: dict[str, Any] = {}
    if source:
        where["source"] = [str(Path(s).resolve()) if Path(s).exists() else s for s in source]
    if tag:
        where["tags"] = tag
    results = base.retrieve(text, k, where=where or None, min_score=min_score, mmr=mmr)
    if as_json:
        _print_json({"query": text, "mode": mode, "results": [r.to_dict() for r in results]})
        return
    from rich.table import Table

    table = Table("#", "score", "source", "span", "text")
    for i, r in enumerate(results, 1):
        table.add_row(str(i), f"{r.score:.4f}", os.path.relpath(r.source) if r.source.startswith("/") else r.source, f"{r.start}-{r.end}", r.text[:160].replace("\n", " "))
    out.print(table)


@app.command()
@user_errors
def demo(
    llm: str = typer.Option(None, "--llm", help="LLM spec (default: the embedded SmolLM2)."),
    docs: Path = typer.Option(Path("examples/docs"), "--docs"),
    questions: Path = typer.Option(Path("examples/demo_questions.txt"), "--questions"),
    kb: Path = typer.Option(DEMO_KB, "--kb"),
) -> None:
    """The main job: build a knowledge base from examples/ and answer questions over it with hybrid RAG."""
    from rich.table import Table

    from agentkit import pipeline
    from agentkit.chunking import make_splitter
    from agentkit.errors import InputError
    from agentkit.llm import GenerationParams, load_llm
    from agentkit.pipeline import Answer
    from agentkit.retrievers import KnowledgeBase

    if not questions.is_file():
        raise InputError(f"no questions file at {questions}", "run from the repository root or pass --questions")
    asked = [q.strip() for q in questions.read_text(encoding="utf-8").splitlines() if q.strip()]
    base = KnowledgeBase(kb, splitter=make_splitter("markdown", chunk_size=400, chunk_overlap=0), mode="hybrid")
    report = base.ingest([docs], prune=True)
    out.print(f"[bold]knowledge base[/] {kb}: {report.documents} documents, {report.chunks_total} chunks "
              f"({report.chunks_added} added, {report.embedded} embedded) in {report.seconds:.1f}s")
    model = load_llm(llm)
    # Short answers keep the table readable; the tiny default model rambles when given room.
    pipe = pipeline.create("rag", model, retriever=base, k=3).replace_step("answer", Answer(model, params=GenerationParams(max_tokens=80)))
    results = pipe.run_many(asked)
    table = Table("question", "answer", "sources (file [start:end])", "seconds", show_lines=True)
    for r in results:
        cites = "\n".join(f"{Path(s.source).name} [{s.start}:{s.end}]" for s in r.sources)
        table.add_row(r.question, r.answer, cites, "\n".join(f"{k} {v:.2f}" for k, v in r.timings.items()))
    out.print(table)
    out.print(f"[dim]model: {model.spec}; retrieval: hybrid (dense all-MiniLM-L6-v2 + BM25, RRF)[/]")


@app.command()
@user_errors
def search(
    query_text: str = typer.Argument(..., metavar="QUERY", help="What to search for (cut to 100 characters)."),
    backend: str = typer.Option(None, "--backend", help="google | duckduckgo | searxng:URL | local:DIR, options as name?key=value."),
    n: int = typer.Option(3, "--n", help="Results to return (at most 20)."),
    no_cache: bool = typer.Option(False, "--no-cache"),
    refresh: bool = typer.Option(False, "--refresh"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search the web (or a local folder of pages)."""
    from agentkit.retrievers.sources import default_search_spec
    from agentkit.tools import load_search

    results = load_search(backend or default_search_spec(), _web_cache(no_cache, refresh)).search(query_text, n)
    if as_json:
        _print_json({"query": query_text, "results": [{k: v for k, v in r.to_dict().items() if k != "text"} for r in results]})
        return
    if not results:
        out.print("[yellow]no results[/]")
    for r in results:
        out.print(f"[bold]{r.rank}. {r.title}[/]\n   [blue]{r.url}[/]\n   {r.snippet}", highlight=False)


@app.command()
@user_errors
def fetch(
    url: str = typer.Argument(..., help="http(s) URL of the page."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Allow loopback/private/link-local addresses."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds for the whole page."),
    max_bytes: int = typer.Option(2_000_000, "--max-bytes", help="Body cap; longer pages are truncated."),
    no_cache: bool = typer.Option(False, "--no-cache"),
    refresh: bool = typer.Option(False, "--refresh"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fetch one page and print its visible text."""
    from agentkit.errors import FetchError
    from agentkit.tools import Fetcher

    page = Fetcher(timeout=timeout, total_timeout=timeout + 1, max_bytes=max_bytes, allow_private=allow_private, cache=_web_cache(no_cache, refresh)).fetch(url)
    if not page.ok:
        raise FetchError(page.error)
    if as_json:
        _print_json({k: v for k, v in page.to_dict().items() if k in ("url", "final_url", "title", "text", "content_type", "encoding", "truncated", "status")})
        return
    out.print(f"[bold]{page.title}[/] [dim]{page.final_url} ({page.content_type}, {page.encoding}{', truncated' if page.truncated else ''})[/]", highlight=False)
    out.print(page.text, highlight=False, markup=False)


def _csv_list(value: str, cast: Callable[[str], Any] = str) -> list[Any]:
    from agentkit.errors import ConfigError

    try:
        return [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"cannot read '{value}' as a comma-separated list", "e.g. --chunk-size 100,200,400") from None


@app.command("chunking-eval")
@user_errors
def chunking_eval(
    data: Path = typer.Option(Path("../shared/chunking_eval"), "--data", help="Folder with the corpora (*.md) and questions_df.csv."),
    splitter: str = typer.Option("recursive", "--splitter", help="Comma-separated: recursive,token,sentence,semantic,markdown,paragraph."),
    chunk_size: str = typer.Option("200", "--chunk-size", help="Comma-separated sizes."),
    chunk_overlap: str = typer.Option("0", "--chunk-overlap", help="Comma-separated overlaps."),
    size_unit: str = typer.Option("tokens", "--size-unit", help="chars | tokens (cl100k)."),
    embedder: str = typer.Option(None, "--embedder", help="Embedder spec (default: the offline all-MiniLM-L6-v2)."),
    k: str = typer.Option("5", "--k", help="Chunks retrieved per question, or 'min'."),
    mode: str = typer.Option("dense", "--mode", help="Comma-separated: dense,bm25,hybrid."),
    corpora: str = typer.Option(None, "--corpora", help="Comma-separated corpus ids (default: all)."),
    out_dir: Path = typer.Option(None, "--out", help="Write results.csv, results.md and PNG plots here."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with a results list."),
) -> None:
    """Span-level recall / precision / IoU of chunking settings (Chroma's evaluation), swept over a grid."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from agentkit.embeddings import load_embedder
    from agentkit.evaluation import METRICS, ChunkingEvaluation, load_eval_data
    from agentkit.evaluation.chunking_eval import sweep
    from agentkit.evaluation.report import write_reports

    k_value: int | str = "min" if k.strip().lower() == "min" else _csv_list(k, int)[0]
    dataset = load_eval_data(data, _csv_list(corpora) if corpora else None)
    names, sizes, overlaps = _csv_list(splitter), _csv_list(chunk_size, int), _csv_list(chunk_overlap, int)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
        configs = bar.add_task("configurations", total=len(names) * len(sizes) * len(overlaps))
        step = bar.add_task("", total=None)

        started = [0]

        def on_config(name: str, size: int, overlap: int) -> None:
            bar.update(configs, description=f"{name} {size}/{overlap}", completed=started[0])
            started[0] += 1

        evaluation = ChunkingEvaluation(dataset, load_embedder(embedder), lambda label, done, total: bar.update(step, description=label, completed=done, total=total))
        results = sweep(evaluation, names, sizes, overlaps, size_unit, _csv_list(mode), k_value, on_config, lambda note: err.print(f"[yellow]{note}[/]"))
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


hw01_app = typer.Typer(no_args_is_help=True, help="The NTU ML2025 HW01 benchmark: run pipelines on its questions and score them.")
app.add_typer(hw01_app, name="hw01")


@hw01_app.command("run")
@user_errors
def hw01_run(
    questions: Path = typer.Option(..., "--questions", help="public.txt (question,answer) or a questions-only file."),
    out_dir: Path = typer.Option(..., "--out", help="Run directory: <id>.txt, answers.txt, trace.jsonl, run.json."),
    pipeline_name: str = typer.Option("rag-agent", "--pipeline", "-p", help="naive | rag | rag-agent."),
    llm: str = typer.Option(None, "--llm", help="LLM spec (default: $AGENTKIT_LLM or the embedded model)."),
    source: str = typer.Option("web", "--source", help="web | kb | both (ignored by naive)."),
    search_backend: str = typer.Option(None, "--search-backend", help="google | duckduckgo | searxng:URL | local:DIR."),
    kb: str = typer.Option(None, "--kb", help="Knowledge base for --source kb|both."),
    k: int = typer.Option(4, "--k", help="Chunks given to the answer step."),
    fmt: str = typer.Option("auto", "--format", help="auto | gold | questions."),
    start_id: int = typer.Option(None, "--start-id", help="Id of the first line (default 1; 31 for private*)."),
    limit: int = typer.Option(None, "--limit", help="Only the first N questions."),
    max_tokens: int = typer.Option(128, "--max-tokens"),
    concurrency: int = typer.Option(1, "--concurrency", help="Questions in flight (the embedded model serializes anyway)."),
    allow_private: bool = typer.Option(False, "--allow-private"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    refresh: bool = typer.Option(False, "--refresh"),
) -> None:
    """Answer every question; re-running skips answered ones."""
    from agentkit.hw01 import load_items, run_questions
    from agentkit.pipeline.builtin import build

    items = load_items(questions, fmt, start_id)[:limit]
    chosen_source = None if pipeline_name == "naive" else source
    pipe = build(pipeline_name, llm, source=chosen_source, kb=kb, search=search_backend, k=k, max_tokens=max_tokens,
                 web_cache=_web_cache(no_cache, refresh), allow_private=allow_private)
    meta = {"questions": str(questions), "llm": llm or "default", "source": chosen_source, "search_backend": search_backend, "kb": kb, "k": k}
    bar, update = _progress("answering")
    with bar:
        summary = run_questions(items, pipe, out_dir, meta, concurrency, update)
    out.print(f"{summary.answered} answered, {summary.skipped} already done, {summary.failed} failed in {summary.seconds:.1f}s → {summary.out_dir / 'answers.txt'}")


@hw01_app.command("score")
@user_errors
def hw01_score(
    answers: Path = typer.Option(..., "--answers", help="answers.txt, or a run directory."),
    gold: Path = typer.Option(..., "--gold", help="The question,answer file (public.txt)."),
    mode: str = typer.Option("strict", "--mode", help="strict | lenient | llm."),
    judge_llm: str = typer.Option(None, "--judge-llm", help="LLM spec of the judge for --mode llm."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score answers against gold aliases."""
    from rich.table import Table

    from agentkit.hw01 import load_answers, load_items, score
    from agentkit.tools import WebCache

    from agentkit.embeddings.base import default_cache_dir

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
    runs: list[Path] = typer.Argument(..., help="Run directories."),
    gold: Path = typer.Option(Path("../shared/hw01/public.txt"), "--gold"),
    mode: str = typer.Option("strict,lenient", "--mode", help="Comma-separated scoring modes."),
    judge_llm: str = typer.Option(None, "--judge-llm"),
    chart: Path = typer.Option(None, "--chart", help="Bar chart PNG (default: compare.png beside the first run)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Accuracy of several runs side by side, next to NTU's baselines, plus a bar chart."""
    from rich.table import Table

    from agentkit.embeddings.base import default_cache_dir
    from agentkit.hw01 import BASELINES, load_items
    from agentkit.hw01.compare import bar_chart, compare
    from agentkit.tools import WebCache

    items = load_items(gold, "gold")
    scored = compare(runs, items, _csv_list(mode), judge_llm, WebCache(default_cache_dir() / "judge.sqlite", ttl=0))
    public = len(items) == 30
    baselines = {name: pair[0] if public else pair[1] for name, pair in BASELINES.items()}
    target = bar_chart(scored, chart or runs[0].parent / "compare.png", baselines)
    if as_json:
        _print_json({"runs": [{"name": r.name, "path": str(r.path), **{m: rep.to_dict() for m, rep in r.reports.items()}} for r in scored], "baselines": baselines, "chart": str(target)})
        return
    table = Table(title=f"HW01, {len(items)} questions")
    table.add_column("run")
    for m in _csv_list(mode):
        table.add_column(m, justify="right")
    for r in scored:
        table.add_row(r.name, *[f"{rep.correct}/{rep.total} ({100 * rep.accuracy:.0f} %)" for rep in r.reports.values()])
    for name, value in baselines.items():
        table.add_row(f"[dim]NTU baseline: {name}[/]", *[f"[dim]{value}/{len(items)}[/]" for _ in r.reports] if scored else [])
    (out if out.is_terminal else Console(width=140)).print(table)
    err.print(f"[dim]wrote {target}[/]")


@app.command()
@user_errors
def distill(
    paths: list[Path] = typer.Argument(None, help="Documents or folders to ingest into OUT/kb (or use --kb)."),
    out_dir: Path = typer.Option(..., "--out", help="Output folder: exports, stats.json, checkpoint.jsonl, lengths.png."),
    kb: str = typer.Option(None, "--kb", help="An existing knowledge base instead of PATHS."),
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
    system: str = typer.Option("", "--system", help="System prompt / persona stored with every record."),
    refusal_ratio: float = typer.Option(0.0, "--refusal-ratio", help="Share of chunks that also yield 'not in the documents' examples."),
    min_grounded: float = typer.Option(0.5, "--min-grounded", help="Lexical groundedness threshold (share of answer words found in its context)."),
    as_json: bool = typer.Option(False, "--json", help="Print stats.json."),
) -> None:
    """Generate a de-duplicated, split QA dataset from documents with a teacher model."""
    from agentkit.distill import DistillConfig, DistillJob, parse_split
    from agentkit.retrievers import KnowledgeBase

    if not kb and not paths:
        from agentkit.errors import InputError

        raise InputError("nothing to distill", "pass document paths or --kb DIR")
    config = DistillConfig(_csv_list(formats), questions_per_chunk, _csv_list(styles), max_chunks, parse_split(split), seed, concurrency, language, system, refusal_ratio,
                           grounded_threshold=min_grounded)
    knowledge = KnowledgeBase(kb or out_dir / "kb")
    if paths:
        knowledge.ingest(paths)
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
    out.print(f"[dim]{out_dir}/stats.json, {out_dir}/lengths.png, exports in {out_dir}[/]")


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
    """Drop exact, numbers-only and near-duplicate records; writes the input's format."""
    from agentkit.distill.export import ROW_BUILDERS, write_jsonl
    from agentkit.distill.filters import ExactDedup, MinHashDedup, NumbersDedup, run_filters

    data = _read_dataset(file)
    kept, dropped = run_filters(data.records, [ExactDedup(), NumbersDedup(), MinHashDedup(threshold)])
    write_jsonl(out_file, [ROW_BUILDERS[data.format](r) for r in kept])
    out.print(f"{len(kept)} kept of {len(data.records)}; " + ", ".join(f"{k} {len(v)}" for k, v in dropped.items()) + f" → {out_file}")


@dataset_app.command("split")
@user_errors
def dataset_split(file: Path = typer.Argument(...), out_dir: Path = typer.Option(..., "--out"), split: str = typer.Option("0.8,0.1,0.1", "--split"), seed: int = typer.Option(0, "--seed")) -> None:
    """Seeded train/valid/test files grouped by source, in the input's format."""
    from agentkit.distill import parse_split, split_records
    from agentkit.distill.export import ROW_BUILDERS, write_jsonl

    data = _read_dataset(file)
    result = split_records(data.records, parse_split(split), seed)
    for name, records in result.splits.items():
        write_jsonl(out_dir / f"{name}.jsonl", [ROW_BUILDERS[data.format](r) for r in records])
    out.print(", ".join(f"{k} {len(v)}" for k, v in result.splits.items()) + f" (grouped by {result.grouped_by}) → {out_dir}")


@dataset_app.command("convert")
@user_errors
def dataset_convert(file: Path = typer.Argument(...), to: str = typer.Option(..., "--to", help="alpaca | sharegpt | messages | completion | hf."), out_path: Path = typer.Option(..., "--out")) -> None:
    """Convert between formats (hf: a DatasetDict with one train split saved to disk)."""
    from agentkit.distill.export import ROW_BUILDERS, check_formats, export, write_jsonl

    data = _read_dataset(file)
    check_formats([to])
    if to == "hf":
        export({"train": data.records, "valid": [], "test": []}, out_path, ["hf"])
    else:
        write_jsonl(out_path, [ROW_BUILDERS[to](r) for r in data.records])
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


@app.command()
@user_errors
def chat(
    llm: str = typer.Option(None, "--llm", help="Standard model spec (default: $AGENTKIT_LLM or the embedded model)."),
    pro_llm: str = typer.Option(None, "--pro-llm", help="A 'pro' model for complex messages; greetings stay on --llm."),
    session_id: str = typer.Option(None, "--session", help="Resume this session id."),
    list_sessions: bool = typer.Option(False, "--list", help="List stored sessions and exit."),
    system: str = typer.Option("You are a helpful assistant.", "--system", help="System message of a new session."),
    language: str = typer.Option(None, "--language", help="zh-TW | zh-CN: enforce the script (guardrail)."),
    effort: str = typer.Option(None, "--effort", help="low | medium | high reasoning effort."),
    max_tokens: int = typer.Option(256, "--max-tokens"),
    store_path: Path = typer.Option(None, "--store", help="Session database (default ~/.cache/agentkit/chat.sqlite)."),
) -> None:
    """Chat in the terminal with streaming; `exit` ends. Piped stdin: one message per line."""
    from agentkit.chat import ChatEngine, ChatSession, SessionStore

    store = SessionStore(store_path)
    if list_sessions:
        for sid, _, count in store.list():
            out.print(f"{sid}  {count} messages", highlight=False)
        return
    engine = ChatEngine(llm, pro_llm, language, effort, max_tokens, store)
    session = store.load(session_id) if session_id else ChatSession(system=system)
    interactive = sys.stdin.isatty()
    err.print(f"[dim]session {session.id} — type exit to end[/]", highlight=False)
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        text = line.strip()
        if text.lower() in ("exit", "quit", ":q"):
            break
        if not text:
            continue
        if not interactive:  # scripts get the final reply only, after the guardrails
            sys.stdout.write(engine.respond(session, text).text + "\n")
            sys.stdout.flush()
            continue
        sys.stdout.write("bot> ")
        result = engine.respond(session, text, on_token=lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))
        if result.changed_after_streaming:
            notes = "; ".join(dict.fromkeys(f"{d.guard}: {d.reason}" for d in result.decisions))
            sys.stdout.write(f"\n[guardrail — {notes}]\n{result.text}")
        sys.stdout.write("\n")
        sys.stdout.flush()


@app.command()
@user_errors
def finetune(
    data: Path = typer.Argument(..., help="A distill output folder, a folder with train/valid.jsonl, or a .jsonl file."),
    base: str = typer.Option("default", "--base", help="'default' (embedded SmolLM2 GGUF, dequantized), a .gguf file, or a HF model directory."),
    out_dir: Path = typer.Option(..., "--out"),
    method: str = typer.Option("lora", "--method", help="lora | qlora (CUDA only)."),
    r: int = typer.Option(16, "--r"),
    alpha: int = typer.Option(16, "--alpha"),
    dropout: float = typer.Option(0.05, "--dropout"),
    target_modules: str = typer.Option("q_proj,k_proj,v_proj,o_proj", "--target-modules"),
    epochs: float = typer.Option(1.0, "--epochs"),
    max_steps: int = typer.Option(-1, "--max-steps", help="Overrides --epochs when > 0."),
    lr: float = typer.Option(2e-4, "--lr"),
    batch_size: int = typer.Option(4, "--batch-size"),
    grad_accum: int = typer.Option(1, "--grad-accum"),
    max_seq_len: int = typer.Option(512, "--max-seq-len"),
    seed: int = typer.Option(0, "--seed"),
    val_every: int = typer.Option(10, "--val-every"),
    early_stop: int = typer.Option(0, "--early-stop", help="Stop after N evaluations without improvement (0: off)."),
    merge_to: Path = typer.Option(None, "--merge", help="Also write base+adapter merged into this directory."),
    export_config: str = typer.Option(None, "--export-config", help="mlx | unsloth | llamafactory: write a recipe instead of training here."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """LoRA fine-tune a model on distilled data (TRL + PEFT); or write a recipe for MLX-LM, Unsloth, LLaMA-Factory."""
    from agentkit.finetune.train import LoraSettings, finetune as run_finetune, merge

    settings = LoraSettings(method, r, alpha, dropout, _csv_list(target_modules), epochs, max_steps, lr, batch_size, grad_accum, max_seq_len, seed, val_every, early_stop)
    if export_config:
        from agentkit.finetune.recipes import export_recipe

        for path in export_recipe(export_config, data, base, out_dir, settings):
            out.print(f"wrote {path}", highlight=False)
        return
    bar, update = _progress("training")
    with bar:
        result = run_finetune(data, base, out_dir, settings, update)
    merged = str(merge(base, result.adapter_dir, merge_to)) if merge_to else None
    if as_json:
        _print_json({**result.to_dict(), "merged_dir": merged})
        return
    out.print(f"adapter: {result.adapter_dir}  ({result.steps} steps, {result.seconds:.0f}s)", highlight=False)
    out.print(f"train loss {result.train_loss_first:.3f} → {result.train_loss_last:.3f}; best validation loss {result.val_loss_best}", highlight=False)
    out.print(f"use it: --llm 'hf://{base}#adapter={result.adapter_dir}'" + (f"; merged model: {merged}" if merged else ""), highlight=False)


@app.command("model-eval")
@user_errors
def model_eval(
    model: list[str] = typer.Option(..., "--model", help="LLM spec; repeat it (the first is the baseline)."),
    data: Path = typer.Option(..., "--data", help="Held-out split (e.g. OUT/messages/test.jsonl) or a distill folder (uses test.jsonl)."),
    judge_llm: str = typer.Option(None, "--judge-llm", help="Also score completeness, key-fact accuracy, consistency, readability (1-10)."),
    limit: int = typer.Option(None, "--limit"),
    max_tokens: int = typer.Option(128, "--max-tokens"),
    chart: Path = typer.Option(None, "--chart", help="Bar chart PNG."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score models side by side on a held-out split, with the change in % from the first."""
    from rich.table import Table

    from agentkit.finetune.data import load_sft
    from agentkit.finetune.evaluate import bar_chart, changes, evaluate_models

    sft = load_sft(data)
    records = (sft.test if data.is_dir() else sft.train)[:limit]
    if not records:
        from agentkit.errors import InputError

        raise InputError(f"no held-out records in {data}", "pass a test.jsonl (distill writes one per format)")
    bar, update = _progress("evaluating")
    with bar:
        reports = evaluate_models(model, records, judge_llm, max_tokens, update)
    deltas = changes(reports) if len(reports) > 1 else []
    if chart:
        bar_chart(reports, chart)
    if as_json:
        _print_json({"records": len(records), "models": [r.to_dict() for r in reports], "change_pct_vs_first": deltas})
        return
    keys = list(reports[0].metrics) + ["latency_s", "tokens_per_s"]
    table = Table(title=f"{len(records)} held-out records")
    table.add_column("model")
    for k in keys:
        table.add_column(k, justify="right")
    for i, rep in enumerate(reports):
        values = {**rep.metrics, "latency_s": rep.latency_s, "tokens_per_s": rep.tokens_per_s}
        cells = [f"{values[k]:.3f}" + (f" ({deltas[i - 1][k]:+.0f}%)" if i and deltas[i - 1][k] not in (float("inf"),) else "") for k in keys]
        table.add_row(rep.model[-48:], *cells)
    (out if out.is_terminal else Console(width=180)).print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
