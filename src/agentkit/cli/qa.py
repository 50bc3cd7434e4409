"""`ask` and `demo`: answer questions with a pipeline."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from agentkit.cli._common import DEMO_KB, _csv_list, _print_json, _progress, _replayed, _web_cache, app, err, out, refuse_for_ragflow, user_errors


@app.command()
@user_errors
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question to answer."),
    pipeline_name: str = typer.Option(None, "--pipeline", "-p", help="naive | rag | rag-agent (default: rag with --kb, else naive)."),
    pipeline_file: Path = typer.Option(None, "--pipeline-file", help="Use a saved pipeline: a Pipeline.save() file or a run's run.json."),
    llm: str = typer.Option(None, "--llm", help="LLM spec, e.g. llama-cpp://default, ollama://llama3.2:3b (default: $AGENTKIT_LLM)."),
    kb: str = typer.Option(None, "--kb", help="Knowledge base: a directory, http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
    k: int = typer.Option(4, "--k", help="Chunks to retrieve."),
    mode: str = typer.Option(None, "--mode", help="dense | bm25 | hybrid (default: hybrid; Chroma knowledge bases only)."),
    source: str = typer.Option(None, "--source", help="kb | web | both (default: kb with --kb, else none)."),
    search_backend: str = typer.Option(None, "--search-backend", help="google | duckduckgo | searxng://HOST:PORT | local://DIR (default: $AGENTKIT_SEARCH or google)."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Let the web source fetch loopback/private addresses."),
    render: bool = typer.Option(False, "--render", help="Read web pages in a headless Chromium so text built by JavaScript counts (needs Chromium)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the web cache."),
    refresh: bool = typer.Option(False, "--refresh", help="Search and fetch anew, then update the cache."),
    language: str = typer.Option(None, "--language", help="Answer language rule, e.g. zh-TW, en."),
    max_tokens: int = typer.Option(192, "--max-tokens"),
    temperature: float = typer.Option(0.0, "--temperature"),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per model call."),
    images: list[Path] = typer.Option(None, "--image", help="An image to describe and bring into the answer (repeatable)."),
    vision_llm: str = typer.Option(None, "--vision-llm", help="Vision model: openai://HOST:PORT/v1#MODEL or ollama://MODEL "
                                   "(default: --llm when it is one of those)."),
    vision_timeout: float = typer.Option(60.0, "--vision-timeout", help="Seconds the vision model may take per image; then the answer goes on with a note."),
    vision_prompt: str = typer.Option(None, "--vision-prompt", help="What to ask the vision model about each image (default: a factual description)."),
    image_max_side: int = typer.Option(1536, "--image-max-side", help="Downscale images whose longer side is larger (pixels)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Answer one question with a pipeline; with --image, a vision model describes the image for the answer."""
    from agentkit.pipeline.builtin import build
    from agentkit.vision import load_vision

    if pipeline_file is not None:
        pipe = _replayed(pipeline_file, pipeline=pipeline_name, llm=llm, kb=kb, source=source, search_backend=search_backend, mode=mode, language=language,
                         vision_llm=vision_llm, vision_prompt=vision_prompt)
    else:
        refuse_for_ragflow(ctx, kb, {"mode": "--mode"})
        vision = load_vision(vision_llm, llm) if images or vision_llm else None
        pipe = build(pipeline_name, llm, source=source, kb=kb, kb_mode=mode, search=search_backend, k=k, language=language, max_tokens=max_tokens,
                     temperature=temperature, timeout=timeout, web_cache=_web_cache(no_cache, refresh), allow_private=allow_private,
                     render=render, vision=vision, vision_timeout=vision_timeout, vision_prompt=vision_prompt, image_max_side=image_max_side)
    result = pipe.run(question, images or ())
    if as_json:
        _print_json(result.to_dict())
        return
    out.print(f"[bold]{result.answer}[/]")
    for step in result.trace:
        for d in step.output.get("descriptions", []):
            verdict = f"described in {d['seconds']:.1f}s" if not d["error"] else "could not analyze it"
            out.print(f"  [dim]image:[/] {escape(d['image']['name'])} {d['image']['width']}×{d['image']['height']} — {escape(d['model'])} {verdict}", highlight=False)
    for s in result.sources:
        out.print(f"  [dim]source:[/] {s.source} [{s.start}:{s.end}] score={s.score:.3f}", highlight=False)
    out.print(f"[dim]{'  '.join(f'{k}={v:.2f}s' for k, v in result.timings.items())}[/]")


@app.command()
@user_errors
def demo(
    llm: str = typer.Option(None, "--llm", help="LLM spec (default: the embedded SmolLM2)."),
    docs: Path = typer.Option(Path("examples/docs"), "--docs"),
    questions: Path = typer.Option(Path("examples/demo_questions.txt"), "--questions"),
    kb: str = typer.Option(str(DEMO_KB), "--kb", help="Where to build it: a directory, http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
) -> None:
    """The main job: build a knowledge base from examples/ and answer questions over it with hybrid RAG."""
    from rich.table import Table

    from agentkit import pipeline
    from agentkit.chunking import make_splitter
    from agentkit.errors import InputError
    from agentkit.llm import GenerationParams, load_llm
    from agentkit.pipeline import Answer
    from agentkit.retrievers.open import is_ragflow, open_knowledge_base

    if not questions.is_file():
        raise InputError(f"no questions file at {questions}", "run from the repository root or pass --questions")
    asked = [q.strip() for q in questions.read_text(encoding="utf-8").splitlines() if q.strip()]
    # RAGFlow chunks and ranks on its side; everywhere else the demo's own splitter and hybrid retrieval apply
    base = open_knowledge_base(kb) if is_ragflow(kb) else open_knowledge_base(kb, splitter=make_splitter("markdown", chunk_size=400, chunk_overlap=0), mode="hybrid")
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
    how = "RAGFlow's (on the server)" if is_ragflow(kb) else "hybrid (dense all-MiniLM-L6-v2 + BM25, RRF)"
    out.print(f"[dim]model: {model.spec}; retrieval: {how}[/]")
