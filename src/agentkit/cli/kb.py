"""`ingest` and `query`: build and read knowledge bases."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agentkit.cli._common import DEMO_KB, _csv_list, _print_json, _progress, _web_cache, app, err, out, refuse_for_ragflow, user_errors


@app.command()
@user_errors
def ingest(
    ctx: typer.Context,
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
    tag: list[str] = typer.Option([], "--tag", help="Tag stored on every chunk of these files, replacing their earlier tags (repeatable)."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding text in JSONL/CSV files."),
    prune: bool = typer.Option(False, "--prune", help="Remove sources not part of this ingest."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Chunk, embed and store documents; unchanged files add and embed nothing."""
    from agentkit.chunking import make_splitter
    from agentkit.retrievers.open import is_ragflow, open_knowledge_base

    # RAGFlow parses and chunks on its side (its chunk_method / parser_config live in the ragflow:// spec).
    refuse_for_ragflow(ctx, kb, {"splitter": "--splitter", "chunk_size": "--chunk-size", "chunk_overlap": "--chunk-overlap", "size_unit": "--size-unit",
                                 "tokenizer": "--tokenizer", "embedder": "--embedder", "tag": "--tag", "text_column": "--text-column"})
    if is_ragflow(kb):
        base = open_knowledge_base(kb)
    else:
        split = make_splitter(splitter, chunk_size=chunk_size, chunk_overlap=chunk_overlap, size_unit=size_unit, tokenizer=tokenizer)
        base = open_knowledge_base(kb, embedder=embedder, splitter=split)
    bar, update = _progress("parsing" if is_ragflow(kb) else "embedding")
    with bar:
        report = base.ingest(paths, include, exclude, tag, prune, text_column, progress=None if as_json else update)
    if not report.documents:
        from agentkit.errors import InputError

        removed = f" ({report.chunks_removed} chunks removed)" if report.chunks_removed else ""
        if report.skipped:
            reasons = "; ".join(f"{path}: {reason}" for path, reason in report.skipped)
            raise InputError(f"nothing ingested{removed}, every file was skipped: {reasons}", "give readable, non-empty documents")
        raise InputError(f"nothing ingested{removed}: no documents in {', '.join(paths)}", "check the paths and --include/--exclude globs")
    if as_json:
        _print_json(report.to_dict())
        return
    for path, reason in report.skipped:
        err.print(f"[yellow]skipped[/] {path}: {reason}", highlight=False)
    out.print(
        f"{report.documents} documents ({report.unchanged_documents} unchanged), {report.chunks_total} chunks: "
        f"{report.chunks_added} added, {report.chunks_removed} removed, {report.chunks_retagged} retagged, {report.embedded} embedded in {report.seconds:.1f}s"
    )


@app.command()
@user_errors
def query(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="What to look up."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base: a directory, http://HOST:PORT/COLLECTION (Chroma) or ragflow://HOST:PORT/DATASET[,DATASET...]."),
    k: int = typer.Option(5, "--k"),
    mode: str = typer.Option(None, "--mode", help="dense | bm25 | hybrid (default: hybrid; Chroma knowledge bases only)."),
    source: list[str] = typer.Option([], "--source", help="Only chunks of this source (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="Only chunks with this tag (repeatable)."),
    min_score: float = typer.Option(None, "--min-score", help="Relevance floor. dense and hybrid: cosine similarity of chunk and query (-1..1, "
                                    "related text ~0.3+; hybrid orders by fused rank, filters by similarity); bm25: raw BM25 score (0 and up)."),
    mmr: bool = typer.Option(False, "--mmr", help="Re-rank for diversity (maximal marginal relevance)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Retrieve chunks from a knowledge base."""
    from agentkit.errors import KnowledgeBaseError
    from agentkit.retrievers.open import open_knowledge_base

    refuse_for_ragflow(ctx, kb, {"mode": "--mode"})  # --tag, --mmr and --min-score the RAGFlow retriever refuses itself
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
        _print_json({"query": text, "mode": mode or getattr(base, "mode", None), "results": [r.to_dict() for r in results]})
        return
    if not results:
        out.print("no results" + (" (the knowledge base is empty)" if hasattr(base, "count") and base.count() == 0 else ""))
        return
    from rich.table import Table

    table = Table("#", "score", "source", "span", "text")
    for i, r in enumerate(results, 1):
        table.add_row(str(i), f"{r.score:.4f}", os.path.relpath(r.source) if r.source.startswith("/") else r.source, f"{r.start}-{r.end}", r.text[:160].replace("\n", " "))
    out.print(table)
