"""`ingest` and `query`: build and read knowledge bases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from agentkit.cli._common import (
    DEFAULT_K,
    JSON_HELP,
    _print_json,
    _progress,
    app,
    at_least_one,
    either,
    existing_kb,
    finite,
    local_kb,
    local_kb_path,
    non_negative,
    note,
    out,
    printable,
    refuse_for_ragflow,
    renamed,
    undone_on_error,
    user_errors,
)


@app.command()
@user_errors
def ingest(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., help="Files or directories."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base to create or update: a directory, chroma+http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
    splitter: str = typer.Option("recursive", "--splitter", help="recursive | token | sentence | markdown | semantic | paragraph."),
    chunk_size: int = typer.Option(800, "--chunk-size", callback=at_least_one, help="Largest chunk, in --size-unit."),
    chunk_overlap: int = typer.Option(None, "--chunk-overlap", callback=non_negative, help="Overlap of neighbouring chunks, in --size-unit (default: an eighth of --chunk-size)."),
    size_unit: str = typer.Option("chars", "--size-unit", help="chars | tokens."),
    tokenizer: str = typer.Option("cl100k", "--tokenizer", help="cl100k | minilm | hf:///path/to/tokenizer (for --size-unit tokens)."),
    embedder: str = typer.Option(None, "--embedder", help="Embedder spec (default: the KB's own, else sentence-transformers://default)."),
    include: list[str] = typer.Option([], "--include", help="Glob of files to take from directories (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob of files to skip (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="Tag stored on every chunk of these files, replacing their earlier tags (repeatable)."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding text in JSONL/CSV files."),
    prune: bool = typer.Option(False, "--prune", help="Remove sources not part of this ingest."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Chunk, embed and store documents; unchanged files add and embed nothing.

    The only command that creates a knowledge base; the others refuse a --kb that does not exist."""
    from agentkit.chunking import make_splitter
    from agentkit.retrievers.open import is_ragflow, open_knowledge_base

    # RAGFlow parses and chunks on its side (its chunk_method / parser_config live in the ragflow:// spec).
    refuse_for_ragflow(ctx, kb, {"splitter": "--splitter", "chunk_size": "--chunk-size", "chunk_overlap": "--chunk-overlap", "size_unit": "--size-unit",
                                 "tokenizer": "--tokenizer", "embedder": "--embedder", "tag": "--tag", "text_column": "--text-column"})
    local_kb(kb)
    if is_ragflow(kb):
        base = open_knowledge_base(kb)
    else:
        overlap = chunk_size // 8 if chunk_overlap is None else chunk_overlap
        split = make_splitter(splitter, chunk_size=chunk_size, chunk_overlap=overlap, size_unit=size_unit, tokenizer=tokenizer)
        if size_unit == "tokens":  # the splitter loads it lazily, mid-ingest; a bad one fails now
            from agentkit.chunking.tokenizers import get_tokenizer

            get_tokenizer(tokenizer)
        base = open_knowledge_base(kb, embedder=embedder, splitter=split)
    with undone_on_error(local_kb_path(kb)):
        report = _ingested(base, kb, paths, include, exclude, tag, prune, text_column, as_json)
    for path, reason in report.skipped:
        note(f"skipped {path}: {reason}")
    unread = unread_files(paths, include, exclude)
    if unread:
        note(f"skipped {unread} (--include GLOB reads them as text)")
    if as_json:
        _print_json(report.to_dict())
        return
    out.print(
        f"{report.documents} documents ({report.unchanged_documents} unchanged), {report.chunks_total} chunks: "
        f"{report.chunks_added} added, {report.chunks_removed} removed, {report.chunks_retagged} retagged, {report.embedded} embedded in {report.seconds:.1f}s"
    )


@app.command()
@user_errors
def query(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="What to look up."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base built by agentkit ingest: a directory, chroma+http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET[,DATASET...]."),
    k: int = typer.Option(DEFAULT_K, "--k", "-k", callback=at_least_one, help="Chunks to return."),
    mode: str = typer.Option(None, "--mode", help="Retrieval mode: dense | bm25 | hybrid (default: hybrid; Chroma knowledge bases only)."),
    from_documents: list[str] = typer.Option([], "--from", help="Only chunks of this document (its path as ingested; repeatable)."),
    old_source: list[str] = typer.Option([], "--source", hidden=True, callback=renamed("query --source", "--from")),
    tag: list[str] = typer.Option([], "--tag", help="Only chunks with this tag (repeatable)."),
    min_score: float = typer.Option(None, "--min-score", callback=finite, help="Relevance floor. dense and hybrid: cosine similarity of chunk and query (-1..1, "
                                    "related text ~0.3+; hybrid orders by fused rank, filters by similarity); bm25: raw BM25 score (0 and up)."),
    mmr: bool = typer.Option(False, "--mmr", help="Re-rank for diversity (maximal marginal relevance)."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Retrieve chunks from a knowledge base."""
    from agentkit.retrievers.open import open_knowledge_base

    source = either(ctx, "from_documents", old_source, "--source")
    refuse_for_ragflow(ctx, kb, {"mode": "--mode"})  # --tag, --mmr and --min-score the RAGFlow retriever refuses itself
    base = open_knowledge_base(existing_kb(kb), mode=mode)
    where: dict[str, Any] = {}
    if source:
        where["source"] = [str(Path(s).resolve()) if Path(s).exists() else s for s in source]
    if tag:
        where["tags"] = tag
    results = base.retrieve(text, k, where=where or None, min_score=min_score, mmr=mmr)
    if as_json:
        _print_json({"query": text, "mode": mode or getattr(base, "mode", None), "results": [r.to_dict() for r in results]})
        return
    if not results:
        out.print("no results" + (" (the knowledge base is empty)" if hasattr(base, "count") and base.count() == 0 else ""))
        return
    from rich.table import Table

    table = Table("#", "score", "source", "span", "text")
    for i, r in enumerate(results, 1):
        shown = os.path.relpath(r.source) if r.source.startswith("/") else r.source
        table.add_row(str(i), f"{r.score:.4f}", printable(shown), f"{r.start}-{r.end}", printable(r.text[:160].replace("\n", " ")))
    out.print(table)


def _ingested(base: Any, kb: str, paths: list[str], include: list[str], exclude: list[str], tag: list[str], prune: bool, text_column: str, as_json: bool) -> Any:
    """The ingest report; nothing ingested at all is an error naming every skipped file and why."""
    from agentkit.retrievers.open import is_ragflow

    bar, update = _progress("parsing" if is_ragflow(kb) else "embedding")
    with bar:
        report = base.ingest(paths, include, exclude, tag, prune, text_column, progress=None if as_json else update)
    if not report.documents:
        from agentkit.errors import InputError

        unread = unread_files(paths, include, exclude)
        removed = f" ({report.chunks_removed} chunks removed)" if report.chunks_removed else ""
        skipped = [f"{path}: {reason}" for path, reason in report.skipped] + ([unread] if unread else [])
        if skipped:
            raise InputError(f"nothing ingested{removed}, every file was skipped: {'; '.join(skipped)}",
                             "give readable, non-empty documents" + ("; --include GLOB reads other files as text" if unread else ""))
        raise InputError(f"nothing ingested{removed}: no documents in {', '.join(paths)}", "check the paths and --include/--exclude globs")
    return report


def unread_files(paths: list[str], include: list[str], exclude: list[str]) -> str:
    """Which files under the folders in ``paths`` no loader reads (so a folder scan passed them over), said in
    one phrase: ``"2 files of unsupported types (.xyz: a.xyz; .bin: b.bin)"``; "" when there are none."""
    from agentkit.loaders import unsupported_files

    found = unsupported_files(paths, include, exclude)
    if not found:
        return ""
    by_suffix: dict[str, list[str]] = {}
    for path in found:
        by_suffix.setdefault(path.suffix.lower() or "(no suffix)", []).append(path.name)
    kinds = "; ".join(f"{suffix}: {', '.join(names[:3])}{' …' if len(names) > 3 else ''}" for suffix, names in sorted(by_suffix.items()))
    return f"{len(found)} file{'s' if len(found) != 1 else ''} of unsupported types ({kinds})"
