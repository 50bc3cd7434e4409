"""`cache info` and `cache clear`: look at and empty the on-disk caches."""

from __future__ import annotations

import typer

from agentkit.cli._common import JSON_HELP, _print_json, app, out, sub_app, user_errors

cache_app = sub_app("The on-disk caches ($AGENTKIT_CACHE_DIR or ~/.cache/agentkit): embeddings, web, judge, bm25.")
app.add_typer(cache_app, name="cache")


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"


@cache_app.command("info")
@user_errors
def cache_info(as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP)) -> None:
    """Where each cache lives, its size on disk, its cap and how many entries it holds."""
    from agentkit.cache_dir import cache_info as info
    from agentkit.cache_dir import default_cache_dir

    caches = info()
    if as_json:
        _print_json({"dir": str(default_cache_dir()), "caches": [c.to_dict() for c in caches]})
        return
    from rich.table import Table

    table = Table("cache", "path", "size", "limit", "entries", title=str(default_cache_dir()))
    for c in caches:
        table.add_row(c.name, str(c.path), _size(c.bytes), _size(c.limit_bytes), "corrupt (rebuilt on next use)" if c.entries is None else str(c.entries))
    out.print(table)


@cache_app.command("clear")
@user_errors
def cache_clear(
    embeddings: bool = typer.Option(False, "--embeddings", help="Cached embedding vectors."),
    web: bool = typer.Option(False, "--web", help="Cached search results and fetched pages."),
    judge: bool = typer.Option(False, "--judge", help="Cached LLM-judge verdicts (hw01 score/compare)."),
    bm25: bool = typer.Option(False, "--bm25", help="BM25 indexes of Chroma-server knowledge bases."),
    all_: bool = typer.Option(False, "--all", help="Every cache."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Delete caches; they are rebuilt on demand. Local knowledge bases keep their own BM25 index."""
    from agentkit.cache_dir import CACHES, clear_caches
    from agentkit.errors import ConfigError

    chosen = [name for name, on in (("embeddings", embeddings), ("web", web), ("judge", judge), ("bm25", bm25)) if on or all_]
    if not chosen:
        raise ConfigError("no cache named", f"pass --all or any of: {', '.join('--' + n for n in CACHES)}")
    removed = clear_caches(chosen)
    if as_json:
        _print_json({"cleared": chosen, "removed": [str(p) for p in removed]})
        return
    out.print(f"cleared {', '.join(chosen)} ({len(removed)} files or folders removed)", highlight=False)
