"""What every command shares: the Typer app, the consoles, one-line errors, option validators and small parsers.

Conventions every command keeps (``tests/test_cli_conventions.py`` walks them all):

- a user error is one line on stderr (``error: CAUSE (FIX)``) and exit 2 — the command's own ``AgentkitError``s,
  click's usage errors and the validators below alike; never a traceback;
- every option has help text; flags show as ``--json``, never ``--json <bool>``; ``-h`` is ``--help``;
- options of the same name mean the same thing and default alike everywhere (``DEFAULT_K``, ``DEFAULT_MAX_TOKENS``);
  a renamed option keeps its old spelling, hidden, for one release, with a one-line note (``renamed``);
- a command that reports takes ``--json``, and ``--json`` output is exactly one JSON document on stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from agentkit.errors import AgentkitError
from agentkit.llm.base import DEFAULT_MAX_TOKENS as _LIBRARY_MAX_TOKENS

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DEMO_KB = Path(".agentkit/demo-kb")
HELP_NAMES = ["-h", "--help"]
#: chunks a retrieval returns, in every command that retrieves (ask, query, hw01 run, chunking-eval)
DEFAULT_K = 4
#: answer length, in every command that generates (ask, chat, hw01 run, model-eval, mcp serve): GenerationParams' own default
DEFAULT_MAX_TOKENS = _LIBRARY_MAX_TOKENS
JSON_HELP = "Print one JSON object on stdout (nothing else goes there)."
#: environment that silences other libraries' progress bars (transformers' "Loading weights", datasets, tqdm)
QUIET_PROGRESS = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def printable(text: str) -> str:
    """``text`` safe to write to a UTF-8 stream: bytes smuggled in as surrogates (a file name or argument that is
    not UTF-8) come out as ``\\xNN`` escapes instead of raising UnicodeEncodeError mid-message."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a lone surrogate that did not come from bytes (e.g. JSON "\ud800")
            return text.encode("utf-8", "backslashreplace").decode("utf-8")


def report(message: str, hint: str = "") -> None:
    """The one line a user error prints on stderr: ``error: CAUSE (FIX)``."""
    # soft_wrap: one logical line however narrow the terminal (scripts grep it; tests count it)
    err.print(f"[bold red]error:[/] {escape(printable(message))}" + (f" [dim]({escape(printable(hint))})[/]" if hint else ""), highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """A one-line notice on stderr that is not an error (a deprecated spelling, a skipped file)."""
    err.print(f"[yellow]note:[/] {escape(printable(message))}", highlight=False, soft_wrap=True)


def user_errors(fn: F) -> F:
    """Turn AgentkitError into one line on stderr and a non-zero exit; never a traceback for user mistakes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentkitError as exc:
            report(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# ---- the root command: arguments checked, errors on one line, flags shown bare ------------------------------


class AgentkitGroup(TyperGroup):
    """The ``agentkit`` group. Around click's own ``main`` it refuses arguments that are not UTF-8, silences other
    libraries' progress bars when stderr is not a terminal, and prints usage errors (a mistyped option, a value
    of the wrong type, a failed validator) as the same one line as every other user error."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        _show_flags_bare(self)
        with _quiet_library_progress():
            try:
                check_utf8_arguments(argv)
                result = super().main(argv, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra)
                code = result if isinstance(result, int) and not isinstance(result, bool) else 0
            except AgentkitError as exc:  # from an option's validator, which runs before the command
                report(exc.message, exc.hint)
                code = exc.exit_code
            except typer.TyperException as exc:  # click's usage errors
                code = _usage_error(exc)
            except typer.Abort:
                err.print("[yellow]aborted[/]")
                code = 1
        if not standalone_mode:
            return code
        sys.exit(code)


def _usage_error(exc: Any) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed
        return int(exc.exit_code)
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "agentkit"
    report(" ".join(exc.format_message().split()), f"see: {where} --help")
    return int(getattr(exc, "exit_code", 2))


def check_utf8_arguments(argv: list[str]) -> None:
    """Refuse an argument that is not UTF-8 (Python hands such bytes over as lone surrogates): it could be neither
    stored, matched nor printed faithfully. File names count: a path argument is an argument."""
    from agentkit.errors import InputError

    for number, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"argument {number} is not valid UTF-8: {os.fsencode(arg)!r}",
                             "agentkit reads arguments and file names as UTF-8: set a UTF-8 locale, or rename the file") from None


@contextlib.contextmanager
def _quiet_library_progress() -> Iterator[None]:
    # Libraries read these when they are imported, which is after this point in a CLI process; restored after,
    # so an in-process caller (tests) keeps its environment.
    if _is_terminal(sys.stderr):
        yield
        return
    saved = {key: os.environ.get(key) for key in QUIET_PROGRESS}
    for key, value in QUIET_PROGRESS.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, before in saved.items():
            if before is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = before


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _show_flags_bare(command: Any) -> None:
    """Typer's rich help prints a flag as ``--json <bool>``; an empty metavar prints it as ``--json``. Done once per
    command tree, help options included (they are made lazily, so made here with the names a context would pass)."""
    if getattr(command, "_agentkit_bare_flags", False):
        return
    help_option = command.get_help_option(typer.Context(command, help_option_names=HELP_NAMES))
    for param in [*command.params, help_option]:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    command._agentkit_bare_flags = True
    for sub in getattr(command, "commands", {}).values():
        _show_flags_bare(sub)


app = typer.Typer(cls=AgentkitGroup, no_args_is_help=True, context_settings={"help_option_names": HELP_NAMES},
                  help="Question-answering agents and RAG pipelines on local models.")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        from agentkit.extras import DISTRIBUTION

        sys.stdout.write(f"agentkit {version(DISTRIBUTION)}\n")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_print_version, help="Print agentkit's version and exit.")) -> None:
    """Question-answering agents and RAG pipelines on local models."""


def sub_app(help_text: str) -> typer.Typer:
    """A command group (``dataset``, ``hw01``, ...) with the root's conventions."""
    return typer.Typer(no_args_is_help=True, help=help_text, context_settings={"help_option_names": HELP_NAMES})


# ---- option validators (typer callbacks: they run while the command line is parsed, before any work) --------


def _flag(param: Any) -> str:
    return max(param.opts, key=len) if getattr(param, "opts", None) else str(param.name)


def _example(param: Any, fallback: str) -> str:
    default = getattr(param, "default", None)
    return fallback if default in (None, "", 0, -1) or isinstance(default, bool) else str(default)


def _number_check(rule: str, ok: Callable[[float], bool], fallback: str) -> Callable[[Any, Any, Any], Any]:
    def check(ctx: Any, param: Any, value: Any) -> Any:
        from agentkit.errors import ConfigError

        if value is None:
            return value
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if not (math.isfinite(v) and ok(v)):
                raise ConfigError(f"{_flag(param)} must be {rule}, not {v}", f"e.g. {_flag(param)} {_example(param, fallback)}")
        return value

    return check


#: > 0 and finite: seconds, learning rates, epochs
positive = _number_check("a number above 0", lambda v: v > 0, "1")
#: a whole count of 1 or more: --k, --limit, --concurrency, --max-tokens ...
at_least_one = _number_check("1 or more", lambda v: v >= 1, "1")
#: 0 or more: overlaps, patience
non_negative = _number_check("0 or more", lambda v: v >= 0, "0")
#: a share: 0 to 1 inclusive
fraction = _number_check("between 0 and 1", lambda v: 0 <= v <= 1, "0.5")
#: a share below 1: dropout, refusal ratio
fraction_below_one = _number_check("at least 0 and below 1", lambda v: 0 <= v < 1, "0.1")
#: any finite number: relevance floors
finite = _number_check("a finite number", lambda v: True, "0.3")
#: a TCP port
port_number = _number_check("a port number (1-65535)", lambda v: 1 <= v <= 65535, "8765")


#: a sampling temperature
temperature_range = _number_check("between 0 and 5", lambda v: 0 <= v <= 5, "0.7")


def renamed(old: str, new: str) -> Callable[[Any, Any, Any], Any]:
    """The callback of a renamed option's old spelling (a hidden option): a one-line note when it is used."""

    def warn(ctx: Any, param: Any, value: Any) -> Any:
        if value not in (None, [], ()):
            note(f"{old} is renamed {new}; the old spelling stops working in the next release")
        return value

    return warn


def either(ctx: typer.Context, new: str, old_value: Any, old: str) -> Any:
    """The value of option ``new`` (parameter name), or of its old spelling when that was used instead."""
    from agentkit.errors import ConfigError

    if old_value in (None, [], ()):
        return ctx.params[new]
    if _given(ctx, new):
        raise ConfigError(f"{old} and its new name --{new.replace('_', '-')} were both given", f"keep --{new.replace('_', '-')} only")
    return old_value


def _given(ctx: typer.Context, name: str) -> bool:
    # by name: typer vendors its own click, whose ParameterSource is not click's
    return getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")


# ---- checks of paths, before anything is written -----------------------------------------------------------


def output_dir(path: Path, flag: str = "--out") -> Path:
    """``path`` usable as an output folder: absent (it will be made) or a folder; never an existing file."""
    from agentkit.errors import InputError

    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is an existing file, not a folder", f"give a folder for {flag} (it is created if missing)")
    _parent_is_folder(path, flag)
    return path


def output_file(path: Path, flag: str = "--out") -> Path:
    """``path`` usable as an output file: absent or a file (replaced); never a folder."""
    from agentkit.errors import InputError

    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder, not a file", f"give a file name for {flag}, e.g. {path / 'out.jsonl'}")
    _parent_is_folder(path, flag)
    return path


def _parent_is_folder(path: Path, flag: str) -> None:
    from agentkit.errors import InputError

    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{flag} {path} lies under {parent}, which is a file", f"give {flag} a path under a folder")
            return


def input_file(path: Path, what: str, flag: str = "") -> Path:
    from agentkit.errors import InputError

    named = f"{flag} {path}" if flag else str(path)
    if not path.exists():
        raise InputError(f"{what} not found: {named}", "check the path")
    if not path.is_file():
        raise InputError(f"{named} is a folder, not a {what}", f"give the {what} itself")
    return path


def write_atomically(path: Path, write: Callable[[Path], Any]) -> Any:
    """``write(tmp)`` then rename ``tmp`` to ``path``: a failure or an interrupt never leaves a half-written ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        result = write(tmp)
        os.replace(tmp, path)
        return result
    finally:
        if tmp.exists() and not tmp.is_dir():
            tmp.unlink()


def local_kb(kb: str) -> str:
    """``kb`` when, as a local knowledge base to build, its path is not an existing file (checked before any
    document is read or any model loads)."""
    path = local_kb_path(kb)
    if path is not None:
        output_dir(path, "--kb")
    return kb


def local_kb_path(kb: str) -> Path | None:
    """The directory of a local knowledge base spec (``DIR`` or ``chroma://DIR``); None for servers."""
    if "://" in kb and not kb.startswith("chroma://"):
        return None
    from agentkit.spec import parse_spec

    return Path(parse_spec(kb).target if kb.startswith("chroma://") else kb)


@contextlib.contextmanager
def undone_on_error(path: Path | None) -> Iterator[None]:
    """Remove ``path`` if it did not exist before and a user error ends the block: a refused command leaves nothing
    behind (opening a knowledge base creates its directory even when nothing is then stored in it)."""
    fresh = path is not None and not os.path.lexists(path)
    try:
        yield
    except AgentkitError:
        if fresh and path is not None and path.is_dir():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        raise


def existing_kb(kb: str | None) -> str | None:
    """``kb`` when it names a knowledge base that exists (servers are checked when reached); only ``ingest``
    creates one, so a mistyped path is an error here rather than a new, empty knowledge base."""
    from agentkit.retrievers.open import require_existing

    if kb is not None:
        require_existing(kb)
    return kb


# ---- small shared pieces -------------------------------------------------------------------------------------


def _web_cache(no_cache: bool, refresh: bool) -> Any:
    from agentkit.tools import WebCache

    return WebCache(mode="off" if no_cache else "refresh" if refresh else "use")


def _print_json(data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if printable(text) != text:  # a lone surrogate (a file name that is not UTF-8): JSON's own \\u escapes carry it
        text = json.dumps(data, ensure_ascii=True, indent=2)
    sys.stdout.write(text + "\n")


def _progress(label: str) -> tuple[Any, Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def refuse_for_ragflow(ctx: typer.Context, kb: str | None, flags: dict[str, str]) -> None:
    """RAGFlow chunks, embeds and ranks on the server: an option the user set that cannot reach it is an error,
    never silently ignored. ``flags`` maps parameter names to the flags users type."""
    from agentkit.errors import ConfigError
    from agentkit.retrievers.open import is_ragflow

    if not is_ragflow(kb):
        return
    given = [flag for name, flag in flags.items() if _given(ctx, name)]
    if given:
        raise ConfigError(f"{', '.join(given)} cannot apply to a RAGFlow knowledge base",
                          "RAGFlow chunks, embeds and ranks on the server: use the ragflow:// spec's options instead "
                          "(chunk_method, chunk_token_num, similarity_threshold, vector_similarity_weight, meta.KEY=VALUE)")


def _csv_list(value: str, cast: Callable[[str], Any] = str, flag: str = "--chunk-size", minimum: float | None = None, example: str = "100,200,400") -> list[Any]:
    """``"100, 200"`` → ``[100, 200]``; with ``minimum``, every number must be finite and at least that."""
    from agentkit.errors import ConfigError

    try:
        values = [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"cannot read {flag} '{value}' as a comma-separated list", f"e.g. {flag} {example}") from None
    if not values:
        raise ConfigError(f"{flag} is empty", f"give at least one value, e.g. {flag} {example}")
    if minimum is not None:
        for v in values:
            if not (math.isfinite(v) and v >= minimum):
                raise ConfigError(f"{flag} values must be {minimum:g} or more, not {v}", f"e.g. {flag} {example}")
    return values


def _replayed(path: Path, **conflicting: Any) -> Any:
    from agentkit import pipeline
    from agentkit.errors import ConfigError

    given = [f"--{name.replace('_', '-')}" for name, value in conflicting.items() if value is not None]
    if given:
        raise ConfigError(f"--pipeline-file already fixes the pipeline; {', '.join(given)} would be ignored", "pass either --pipeline-file or those options")
    return pipeline.load(path)


def _needs(extra: str, feature: str) -> None:
    """Refuse a command whose extra is not installed: one line naming it, before any work starts."""
    from agentkit.errors import MissingExtraError
    from agentkit.extras import DISTRIBUTION, missing

    absent = missing(extra)
    if absent:
        raise MissingExtraError(f"{feature} needs the '{extra}' extra ({absent[0]} is not installed)", f"pip install '{DISTRIBUTION}[{extra}]'")
