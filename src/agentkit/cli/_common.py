"""What every command shares: the Typer app, the consoles, the user-error decorator and small parsers."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

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
            # soft_wrap: one logical line however narrow the terminal (scripts grep it; tests count it)
            err.print(f"[bold red]error:[/] {escape(exc.message)}" + (f" [dim]({escape(exc.hint)})[/]" if exc.hint else ""), highlight=False, soft_wrap=True)
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


def refuse_for_ragflow(ctx: typer.Context, kb: str | None, flags: dict[str, str]) -> None:
    """RAGFlow chunks, embeds and ranks on the server: an option the user set that cannot reach it is an error,
    never silently ignored. ``flags`` maps parameter names to the flags users type."""
    from agentkit.errors import ConfigError
    from agentkit.retrievers.open import is_ragflow

    if not is_ragflow(kb):
        return
    # by name: typer vendors its own click, whose ParameterSource is not click's
    given = [flag for name, flag in flags.items() if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")]
    if given:
        raise ConfigError(f"{', '.join(given)} cannot apply to a RAGFlow knowledge base",
                          "RAGFlow chunks, embeds and ranks on the server: use the ragflow:// spec's options instead "
                          "(chunk_method, chunk_token_num, similarity_threshold, vector_similarity_weight, meta.KEY=VALUE)")


def _csv_list(value: str, cast: Callable[[str], Any] = str) -> list[Any]:
    from agentkit.errors import ConfigError

    try:
        return [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"cannot read '{value}' as a comma-separated list", "e.g. --chunk-size 100,200,400") from None


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
