"""`chat`: a terminal conversation with streaming, guardrails and image attachments."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from agentkit.cli._common import DEFAULT_MAX_TOKENS, _print_json, app, at_least_one, err, out, output_file, positive, printable, report, user_errors
from agentkit.errors import AgentkitError, ConfigError, InputError

IMAGE_COMMAND = "/image"


@app.command()
@user_errors
def chat(
    llm: str = typer.Option(None, "--llm", "-m", help="Standard model spec (default: $AGENTKIT_LLM or the embedded model)."),
    pro_llm: str = typer.Option(None, "--pro-llm", help="A 'pro' model for complex messages; greetings stay on --llm."),
    session_id: str = typer.Option(None, "--session", help="Resume this session id."),
    list_sessions: bool = typer.Option(False, "--list", help="List stored sessions and exit."),
    as_json: bool = typer.Option(False, "--json", "-j", help="With --list: print one JSON object on stdout."),
    system: str = typer.Option("You are a helpful assistant.", "--system", help="System message of a new session."),
    language: str = typer.Option(None, "--language", help="zh-TW | zh-CN: enforce the script (guardrail)."),
    effort: str = typer.Option(None, "--effort", help="low | medium | high reasoning effort."),
    max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", callback=at_least_one, help="Longest reply, in tokens."),
    store_path: Path = typer.Option(None, "--store", help="Session database (default ~/.cache/agentkit/chat.sqlite)."),
    images: list[Path] = typer.Option(None, "--image", help="An image for the first message (repeatable); later ones: /image PATH [message]."),
    vision_llm: str = typer.Option(None, "--vision-llm", help="Vision model: openai://HOST:PORT/v1#MODEL or ollama://MODEL "
                                   "(default: --pro-llm, else --llm, when it is one of those)."),
    vision_timeout: float = typer.Option(60.0, "--vision-timeout", callback=positive, help="Seconds the vision model may take per image; then the chat goes on with a note."),
    vision_prompt: str = typer.Option(None, "--vision-prompt", help="What to ask the vision model about each image (default: a factual description)."),
    image_max_side: int = typer.Option(1536, "--image-max-side", callback=at_least_one, help="Downscale images whose longer side is larger (pixels)."),
) -> None:
    """Chat in the terminal with streaming; `exit` ends. Piped stdin: one message per line.

    `/image PATH` attaches an image to the next message; `/image PATH text` sends it with that text (quote a PATH
    with spaces). The vision model's description enters the conversation as a system message."""
    from agentkit.chat import ChatEngine, ChatSession, SessionStore

    if as_json and not list_sessions:
        raise ConfigError("--json applies to --list only", "add --list, or leave out --json (replies are plain text)")
    store = SessionStore(output_file(store_path, "--store") if store_path else None)
    if list_sessions:
        sessions = store.list()
        if as_json:
            _print_json({"sessions": [{"id": sid, "updated": updated, "messages": count} for sid, updated, count in sessions]})
            return
        for sid, _, count in sessions:
            out.print(f"{sid}  {count} messages", highlight=False)
        return
    describer, why_not = _describer(vision_llm, pro_llm or llm, language, vision_timeout, vision_prompt, image_max_side, bool(images or vision_llm))
    engine = ChatEngine(llm, pro_llm, language, effort, max_tokens, store, describer=describer)
    session = store.load(session_id) if session_id else ChatSession(system=system)
    interactive = sys.stdin.isatty()
    banner = [f"[dim]session {session.id} — type exit to end; /image PATH attaches an image[/]"]
    if interactive:
        err.print(banner.pop(), highlight=False)
    pending = [_attach(engine, path, why_not) for path in images or []]  # a bad --image fails now, in one line
    lines = _piped_lines()
    while True:
        try:
            line = input("you> ") if interactive else next(lines, None)
        except EOFError:
            break
        except UnicodeDecodeError as exc:  # typed in a terminal whose encoding is not UTF-8
            report(f"that line is not valid UTF-8 (byte {exc.start})", "set a UTF-8 locale in the terminal")
            continue
        if line is None:
            break
        text = line.strip()
        if text.lower() in ("exit", "quit", ":q"):
            break
        if banner:  # piped: after the first line is read, so input that cannot be read is the one line on stderr
            err.print(banner.pop(), highlight=False)
        try:
            if text == IMAGE_COMMAND or text.startswith(IMAGE_COMMAND + " "):
                path, text = split_image_command(text)
                pending.append(_attach(engine, path, why_not))
                if not text:
                    err.print(f"[dim]attached {pending[-1].info.name}: it goes with your next message[/]", highlight=False)
                    continue
            if text:
                attached, pending = pending, []
                _turn(engine, session, text, attached, interactive)
        except AgentkitError as exc:
            if not interactive:  # a script learns of it from the exit status
                raise
            report(exc.message, exc.hint)
    if pending:
        err.print(f"[yellow]not sent: {', '.join(p.info.name for p in pending)} (no message followed)[/]", highlight=False)


def _piped_lines() -> Any:
    """Messages from piped stdin, one per line, read as UTF-8 bytes: a line that is not UTF-8 stops the chat with its
    line number, before it reaches the model (a surrogate-escaped line would fail later, mid-reply)."""
    for number, raw in enumerate(sys.stdin.buffer if hasattr(sys.stdin, "buffer") else (), 1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"line {number} of the input is not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})",
                             "send UTF-8 text (e.g. convert it with iconv -t UTF-8)") from None


def _describer(vision_llm: str | None, chat_llm: str | None, language: str | None, timeout: float, prompt: str | None, max_side: int,
               required: bool) -> tuple[Any, AgentkitError | None]:
    """The image describer, or (None, why) when no vision model can be had and none was asked for explicitly."""
    from agentkit.vision import DESCRIBE_IMAGE, ImageDescriber, ImageLimits, load_vision

    try:
        role = DESCRIBE_IMAGE.replace(task=prompt) if prompt else DESCRIBE_IMAGE
        return ImageDescriber(load_vision(vision_llm, chat_llm), role, language, timeout, limits=ImageLimits(max_side=max_side)), None
    except AgentkitError as exc:
        if required:
            raise
        return None, exc


def _attach(engine: Any, path: Path | None, why_not: AgentkitError | None) -> Any:
    """The image at ``path`` read and checked now, so a bad path is reported when it is typed."""
    if path is None:
        raise InputError("/image needs a path", "write /image PATH [message]; quote a PATH with spaces")
    if engine.describer is None:
        raise why_not or ConfigError("this chat has no vision model", "start it with --vision-llm SPEC")
    return engine.describer.prepare(path)


def _turn(engine: Any, session: Any, text: str, images: list[Any], interactive: bool) -> None:
    def shown(description: Any) -> None:
        if description.note:
            sys.stdout.write(description.note + "\n")
            sys.stdout.flush()
        else:
            err.print(f"[dim]vision {description.model}: {description.image.summary()} described in {description.seconds:.1f}s[/]", highlight=False)

    if not interactive:  # scripts get the final reply only, after the guardrails
        result = engine.respond(session, text, images, on_image=shown)
        sys.stdout.write(printable(result.text) + "\n")
        sys.stdout.flush()
        return
    started = [False]

    def piece(token: str) -> None:
        if not started[0]:
            started[0] = True
            sys.stdout.write("bot> ")
        sys.stdout.write(token)
        sys.stdout.flush()

    result = engine.respond(session, text, images, on_token=piece, on_image=shown)
    if not started[0]:
        sys.stdout.write("bot> ")
    if result.changed_after_streaming:
        notes = "; ".join(dict.fromkeys(f"{d.guard}: {d.reason}" for d in result.decisions))
        sys.stdout.write(f"\n[guardrail — {notes}]\n{result.text}")
    sys.stdout.write("\n")
    sys.stdout.flush()


def split_image_command(line: str) -> tuple[Path | None, str]:
    """``/image PATH rest`` → (PATH, rest). A PATH with spaces is quoted ("..." or '...'); the rest is the message
    as typed (apostrophes and all, so no shell-style splitting of it)."""
    rest = line[len(IMAGE_COMMAND):].strip()
    if not rest:
        return None, ""
    if rest[0] in "\"'":
        end = rest.find(rest[0], 1)
        if end == -1:
            return None, ""
        return Path(rest[1:end]).expanduser(), rest[end + 1:].strip()
    path, _, message = rest.partition(" ")
    return Path(path).expanduser(), message.strip()
