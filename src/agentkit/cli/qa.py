"""`ask` and `demo`: answer questions with a pipeline."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from agentkit.cli._common import (
    DEFAULT_K,
    DEFAULT_MAX_TOKENS,
    DEMO_KB,
    JSON_HELP,
    _print_json,
    _replayed,
    _web_cache,
    app,
    at_least_one,
    err,
    existing_kb,
    local_kb,
    out,
    positive,
    printable,
    refuse_for_ragflow,
    temperature_range,
    user_errors,
)
from agentkit.errors import AgentkitError
from agentkit.llm.base import LLM


@app.command()
@user_errors
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question to answer."),
    pipeline_name: str = typer.Option(None, "--pipeline", "-p", help="naive | rag | rag-agent (default: rag with --kb, else naive)."),
    pipeline_file: Path = typer.Option(None, "--pipeline-file", help="Use a saved pipeline: a Pipeline.save() file or a run's run.json."),
    llm: str = typer.Option(None, "--llm", "-m", help="LLM spec, e.g. llama-cpp://default, ollama://llama3.2:3b (default: $AGENTKIT_LLM or the embedded model)."),
    kb: str = typer.Option(None, "--kb", help="Knowledge base built by agentkit ingest: a directory, chroma+http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
    k: int = typer.Option(DEFAULT_K, "--k", "-k", callback=at_least_one, help="Chunks to retrieve."),
    mode: str = typer.Option(None, "--mode", help="Retrieval mode: dense | bm25 | hybrid (default: hybrid; Chroma knowledge bases only)."),
    source: str = typer.Option(None, "--source", help="Where context comes from: kb | web | both (default: kb with --kb, else none)."),
    search_backend: str = typer.Option(None, "--search-backend", help="google | duckduckgo | searxng://HOST:PORT | local://DIR (default: $AGENTKIT_SEARCH or google)."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Let the web source fetch loopback/private addresses."),
    render: bool = typer.Option(False, "--render", help="Read web pages in a headless Chromium so text built by JavaScript counts (needs Chromium)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the web cache."),
    refresh: bool = typer.Option(False, "--refresh", help="Search and fetch anew, then update the cache."),
    language: str = typer.Option(None, "--language", help="Answer language rule, e.g. zh-TW, en."),
    max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", callback=at_least_one, help="Longest answer, in tokens."),
    temperature: float = typer.Option(0.0, "--temperature", callback=temperature_range, help="Sampling temperature (0: always the likeliest token)."),
    timeout: float = typer.Option(120.0, "--timeout", callback=positive, help="Seconds per model call."),
    images: list[Path] = typer.Option(None, "--image", help="An image to describe and bring into the answer (repeatable)."),
    vision_llm: str = typer.Option(None, "--vision-llm", help="Vision model: openai://HOST:PORT/v1#MODEL or ollama://MODEL "
                                   "(default: --llm when it is one of those)."),
    vision_timeout: float = typer.Option(60.0, "--vision-timeout", callback=positive, help="Seconds the vision model may take per image; then the answer goes on with a note."),
    vision_prompt: str = typer.Option(None, "--vision-prompt", help="What to ask the vision model about each image (default: a factual description)."),
    image_max_side: int = typer.Option(1536, "--image-max-side", callback=at_least_one, help="Downscale images whose longer side is larger (pixels)."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Answer one question with a pipeline; with --image, a vision model describes the image for the answer.

    On a terminal the answer streams as it is generated; otherwise stdout gets the finished answer (or with --json the one JSON object) and a progress line goes to stderr when that is a terminal."""
    from agentkit.pipeline.builtin import build
    from agentkit.vision import load_vision

    if pipeline_file is not None:
        pipe = _replayed(pipeline_file, pipeline=pipeline_name, llm=llm, kb=kb, source=source, search_backend=search_backend, mode=mode, language=language,
                         vision_llm=vision_llm, vision_prompt=vision_prompt)
    else:
        refuse_for_ragflow(ctx, kb, {"mode": "--mode"})
        _check_retrieval(pipeline_name, source, kb)
        vision = load_vision(vision_llm, llm) if images or vision_llm else None
        pipe = build(pipeline_name, llm, source=source, kb=kb, kb_mode=mode, search=search_backend, k=k, language=language, max_tokens=max_tokens,
                     temperature=temperature, timeout=timeout, web_cache=_web_cache(no_cache, refresh), allow_private=allow_private,
                     render=render, vision=vision, vision_timeout=vision_timeout, vision_prompt=vision_prompt, image_max_side=image_max_side)
    result, streamed = _run_shown(pipe, question, images or (), stream=not as_json and out.is_terminal)
    if as_json:
        _print_json(result.to_dict())
        return
    if streamed is None or streamed.strip() != result.answer.strip():  # not streamed, or changed after (reasoning cut, image note)
        out.print(f"[bold]{escape(result.answer)}[/]")
    for note in result.notes:
        out.print(f"[dim]{escape(note)}[/]", highlight=False)
    for step in result.trace:
        for d in step.output.get("descriptions", []):
            verdict = f"described in {d['seconds']:.1f}s" if not d["error"] else "could not analyze it"
            out.print(f"  [dim]image:[/] {escape(d['image']['name'])} {d['image']['width']}×{d['image']['height']} — {escape(d['model'])} {verdict}", highlight=False)
    for s in result.sources:
        out.print(f"  [dim]source:[/] {escape(s.source)} [{s.start}:{s.end}] score={s.score:.3f}", highlight=False)
    out.print(f"[dim]{'  '.join(f'{k}={v:.2f}s' for k, v in result.timings.items())}[/]")


def _check_retrieval(pipeline_name: str | None, source: str | None, kb: str | None) -> None:
    """What ``build`` would refuse in Python terms, said in the CLI's: a retrieving pipeline needs --kb or --source
    web; a --kb that was never built is an error, not a new empty knowledge base."""
    from agentkit.errors import ConfigError

    chosen = source or ("kb" if kb else None)
    if pipeline_name in ("rag", "rag-agent") and chosen is None:
        raise ConfigError(f"--pipeline {pipeline_name} retrieves context, but there is nothing to retrieve from",
                          "add --kb DIR (built with agentkit ingest) or --source web, or use --pipeline naive")
    if kb and chosen in ("kb", "both"):
        existing_kb(kb)


def _run_shown(pipe: Any, question: str, images: Any, stream: bool) -> tuple[Any, str | None]:
    """Run ``pipe``; with ``stream`` the answer's tokens go to stdout as they come (returned too, to compare with
    the final answer). Otherwise a progress line on stderr counts the answer's tokens, and only when stderr is a
    terminal: stdout is left to the result alone."""
    pieces: list[str] = []
    if stream:
        def show(piece: str) -> None:
            pieces.append(piece)
            sys.stdout.write(printable(piece))
            sys.stdout.flush()

        result = _streaming_answer(pipe, show).run(question, images)
        if pieces:
            sys.stdout.write("\n")
        return result, "".join(pieces)
    if not err.is_terminal:
        return pipe.run(question, images), None
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("working")

        def count(piece: str) -> None:
            pieces.append(piece)
            bar.update(task, description=f"answering: {len(pieces)} tokens")

        return _streaming_answer(pipe, count).run(question, images), None


def _streaming_answer(pipe: Any, on_token: Any) -> Any:
    """``pipe`` with its answer step's model reporting each generated piece to ``on_token`` (other steps, such as
    rag-agent's keyword extraction, stay silent). A pipeline without an ``answer`` step is returned as it is."""
    from agentkit.pipeline import Answer

    if "answer" not in pipe.step_names:
        return pipe
    answer = pipe.steps[pipe.step_names.index("answer")]
    agent = answer.agent
    return pipe.replace_step("answer", Answer(_Teed(agent.llm, on_token), agent.language, agent.params))


class _Teed(LLM):
    """A model that hands each raw piece it generates to ``on_token`` as well (for live display)."""

    def __init__(self, inner: LLM, on_token: Any) -> None:
        self.inner, self.on_token = inner, on_token
        self.spec, self.context_window, self.supports_tools = inner.spec, inner.context_window, inner.supports_tools

    def _stream(self, messages: Any, params: Any, info: Any) -> Any:
        for piece in self.inner._stream(messages, params, info):
            self.on_token(piece)
            yield piece

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def count_message_tokens(self, messages: Any) -> int:
        return self.inner.count_message_tokens(messages)


@app.command()
@user_errors
def demo(
    llm: str = typer.Option(None, "--llm", "-m", help="LLM spec (default: $AGENTKIT_LLM, else the embedded SmolLM2-135M)."),
    docs: Path = typer.Option(Path("examples/docs"), "--docs", help="Documents to build the knowledge base from."),
    questions: Path = typer.Option(Path("examples/demo_questions.txt"), "--questions",
                                   help="One question per line; '\\[zh-TW] question' asks for an answer in that language; # starts a comment."),
    kb: str = typer.Option(str(DEMO_KB), "--kb", help="Where to build it: a directory, chroma+http://HOST:PORT/COLLECTION or ragflow://HOST:PORT/DATASET."),
    as_json: bool = typer.Option(False, "--json", "-j", help="Print one JSON object: each question's answer, evidence span and timings."),
) -> None:
    """The main job: build a knowledge base from examples/docs, answer each demo question with hybrid RAG, and show the
    model's answer beside the evidence span retrieval found for it. Progress goes to stderr."""
    from agentkit import pipeline
    from agentkit.chunking import make_splitter
    from agentkit.errors import InputError
    from agentkit.llm import GenerationParams, load_llm
    from agentkit.pipeline import Answer
    from agentkit.retrievers.evidence import evidence_span
    from agentkit.retrievers.open import is_ragflow, open_knowledge_base

    if not docs.exists():
        raise InputError(f"no documents at {docs}", "run from the repository root or pass --docs")
    asked = _demo_questions(questions)
    model = load_llm(llm)  # cheap (loads on first use): a bad spec or model file fails before anything is built
    local_kb(kb)
    started = time.perf_counter()
    err.print(f"[bold]agentkit demo[/] 1/3 building a knowledge base from {escape(str(docs))} (embedding with all-MiniLM-L6-v2)…", highlight=False)
    # RAGFlow chunks and ranks on its side; everywhere else the demo's own splitter and hybrid retrieval apply
    base = open_knowledge_base(kb) if is_ragflow(kb) else open_knowledge_base(kb, splitter=make_splitter("markdown", chunk_size=400, chunk_overlap=0), mode="hybrid")
    report = base.ingest([docs], prune=True)
    err.print(f"  {report.documents} documents, {report.chunks_total} chunks ({report.chunks_added} added, {report.embedded} embedded) "
              f"in {report.seconds:.1f}s → {escape(kb)}", highlight=False)
    threads = f", {model.n_threads} thread{'s' if model.n_threads != 1 else ''}" if hasattr(model, "n_threads") else ""
    err.print(f"[bold]agentkit demo[/] 2/3 loading {escape(model.spec)}{threads}…", highlight=False)
    model.warm_up()
    err.print(f"[bold]agentkit demo[/] 3/3 answering {len(asked)} questions (retrieve 3 chunks, then the model answers)", highlight=False)
    embed = getattr(base, "embedder", None)
    pipes: dict[str | None, Any] = {}
    rows = []
    for i, (language, question) in enumerate(asked, 1):
        err.print(f"  [{i}/{len(asked)}] {escape(question)} …", end="", highlight=False)
        if language not in pipes:
            # short answers keep the table readable; the tiny default model rambles when given room
            pipes[language] = pipeline.create("rag", model, retriever=base, k=3, language=language).replace_step(
                "answer", Answer(model, language, GenerationParams(max_tokens=80)))
        result = pipes[language].run(question)
        evidence = evidence_span(question, result.sources, embed.embed if embed is not None else None)
        err.print(f" {result.timings['total']:.1f}s", highlight=False)
        rows.append((language, result, evidence))
    if as_json:
        _print_json({"knowledge_base": report.to_dict(), "model": model.spec, "seconds": round(time.perf_counter() - started, 2),
                     "answers": [{"question": r.question, "language": lang, "answer": r.answer, "notes": list(r.notes),
                                  "evidence": ev._asdict() if ev else None, "sources": [s.to_dict() for s in r.sources], "timings": r.timings}
                                 for lang, r, ev in rows]})
        return
    out.print(_demo_table(rows))
    how = "RAGFlow's (on the server)" if is_ragflow(kb) else "hybrid (dense all-MiniLM-L6-v2 + BM25, fused by RRF)"
    out.print(f"[dim]model: {escape(model.spec)}; retrieval: {how}; {time.perf_counter() - started:.0f}s in all.\n"
              "The evidence column is not model output: it is the sentence of the retrieved chunks that best matches the question "
              "(agentkit.retrievers.evidence.evidence_span), with its exact span in the file."
              + ("\nThe embedded SmolLM2-135M (135 M parameters) shows the plumbing, not good answers — it often misreads its context and "
                 "cannot write Chinese well. Point --llm at a real model for those, e.g. --llm ollama://qwen2.5:7b (docs/models.md)."
                 if model.spec == "llama-cpp://default" else "") + "[/]", highlight=False)


def _demo_questions(path: Path) -> list[tuple[str | None, str]]:
    """(language, question) per non-empty line of ``path``; ``[zh-TW] …`` sets the answer language (any usual
    spelling of the tag; an unknown one is an error naming the line)."""
    import re

    from agentkit.errors import InputError
    from agentkit.language import normalize_language

    if not path.is_file():
        raise InputError(f"no questions file at {path}", "run from the repository root or pass --questions")
    asked = []
    for number, line in enumerate(_utf8_text(path, "--questions").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tagged = re.match(r"\[([^\]]+)\]\s*(.+)", line)
        try:
            asked.append((normalize_language(tagged.group(1)), tagged.group(2)) if tagged else (None, line))
        except AgentkitError as exc:
            raise InputError(f"{path}:{number}: {exc.message}", exc.hint) from None
    if not asked:
        raise InputError(f"{path} holds no questions", "write one question per line")
    return asked


def _demo_table(rows: list[tuple[str | None, Any, Any]]) -> Any:
    from rich.table import Table

    # every header and cell escaped: "[start:end]" and model output are text, not Rich markup; "fold" wraps Chinese,
    # which has no spaces to break at, instead of cutting it off with an ellipsis
    table = Table(show_lines=True)
    for header in ("#", "question", "model answer", escape("evidence span (file [start:end])"), "s"):
        table.add_column(header, overflow="fold")
    for i, (language, r, ev) in enumerate(rows, 1):
        answer = escape(r.answer.strip() or "(empty)") + "".join(f"\n[dim]{escape(n)}[/]" for n in r.notes)
        # the span's text with the file's line wrapping undone (the JSON output keeps it exact)
        evidence = f"[dim]{escape(ev.label)}[/]\n{escape(' '.join(ev.text.split()))}" if ev else "[dim](nothing retrieved)[/]"
        question = escape(r.question) + (f" [dim]({language})[/]" if language else "")
        table.add_row(str(i), question, answer, evidence, f"{r.timings['total']:.1f}")
    return table


def _utf8_text(path: Path, flag: str) -> str:
    from agentkit.errors import InputError

    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{flag} {path} is not UTF-8 text (byte {exc.start})", "save the file as UTF-8") from None
