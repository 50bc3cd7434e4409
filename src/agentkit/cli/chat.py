"""`chat`: a terminal conversation with streaming and guardrails."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agentkit.cli._common import DEMO_KB, _csv_list, _print_json, _progress, _web_cache, app, err, out, user_errors


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
        def show(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        result = engine.respond(session, text, on_token=show)
        if result.changed_after_streaming:
            notes = "; ".join(dict.fromkeys(f"{d.guard}: {d.reason}" for d in result.decisions))
            sys.stdout.write(f"\n[guardrail — {notes}]\n{result.text}")
        sys.stdout.write("\n")
        sys.stdout.flush()
