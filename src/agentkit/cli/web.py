"""`search` and `fetch`: the web tools from the command line."""

from __future__ import annotations

import typer

from agentkit.cli._common import JSON_HELP, _number_check, _print_json, _web_cache, app, at_least_one, out, positive, user_errors


@app.command()
@user_errors
def search(
    query_text: str = typer.Argument(..., metavar="QUERY", help="What to search for (cut to 100 characters)."),
    backend: str = typer.Option(None, "--backend", help="google | duckduckgo | searxng://HOST:PORT | local://DIR, options as name?key=value."),
    n: int = typer.Option(3, "--n", "-n", callback=_number_check("1 to 20", lambda v: 1 <= v <= 20, "3"), help="Results to return (1-20)."),
    render: bool = typer.Option(False, "--render", help="Also read each hit in a headless Chromium (JavaScript runs) and show its text."),
    allow_private: bool = typer.Option(False, "--allow-private", help="With --render: allow loopback/private/link-local addresses."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the web cache."),
    refresh: bool = typer.Option(False, "--refresh", help="Search anew, then update the cache."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Search the web (or a local folder of pages)."""
    from rich.markup import escape

    from agentkit.errors import ConfigError
    from agentkit.sources.select import default_search_spec
    from agentkit.tools import Fetcher, load_search

    if allow_private and not render:
        raise ConfigError("--allow-private only applies to the pages --render reads", "add --render, or leave out --allow-private")
    cache = _web_cache(no_cache, refresh)
    results = load_search(backend or default_search_spec(), cache).search(query_text, n)
    rows = [{k: v for k, v in r.to_dict().items() if k != "text"} for r in results]
    if render and results:
        pages = Fetcher(render=True, allow_private=allow_private, cache=cache).fetch_many([r.url for r in results])
        for row, page in zip(rows, pages, strict=True):
            row.update(text=page.text, title=page.title or row["title"], error=page.error, truncated=page.truncated)
    if as_json:
        _print_json({"query": query_text, "results": rows})
        return
    if not results:
        out.print("[yellow]no results[/]")
    for row in rows:
        out.print(f"[bold]{row['rank']}. {row['title']}[/]\n   [blue]{row['url']}[/]\n   {row['snippet']}", highlight=False)
        if render:
            shown = row["error"] or " ".join(row["text"].split())[:300]
            out.print(f"   [dim]page:[/] {escape(shown)}", highlight=False)


@app.command()
@user_errors
def fetch(
    url: str = typer.Argument(..., help="http(s) URL of the page."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Allow loopback/private/link-local addresses."),
    timeout: float = typer.Option(10.0, "--timeout", callback=positive, help="Seconds for the whole page."),
    max_bytes: int = typer.Option(2_000_000, "--max-bytes", callback=at_least_one, help="Body cap; longer pages are truncated."),
    render: bool = typer.Option(False, "--render", help="Load the page in a headless Chromium so text built by JavaScript is read (needs Chromium)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the web cache."),
    refresh: bool = typer.Option(False, "--refresh", help="Fetch anew, then update the cache."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Fetch one page and print its visible text."""
    from agentkit.concurrency import run_sync
    from agentkit.errors import FetchError, PrivateAddressError
    from agentkit.tools import Fetcher
    from agentkit.tools.safety import check_url

    try:  # the guard's refusal, said with the flag that lifts it (the fetch below reports it without)
        run_sync(check_url(url, allow_private))
    except PrivateAddressError as exc:
        raise PrivateAddressError(exc.message, "add --allow-private to fetch loopback, private or internal addresses") from None
    fetcher = Fetcher(timeout=timeout, total_timeout=timeout + 1, max_bytes=max_bytes, allow_private=allow_private, cache=_web_cache(no_cache, refresh), render=render)
    page = fetcher.fetch(url)
    if not page.ok:
        raise FetchError(page.error)
    if as_json:
        _print_json({k: v for k, v in page.to_dict().items() if k in ("url", "final_url", "title", "text", "content_type", "encoding", "truncated", "status")})
        return
    out.print(f"[bold]{page.title}[/] [dim]{page.final_url} ({page.content_type}, {page.encoding}{', truncated' if page.truncated else ''})[/]", highlight=False)
    out.print(page.text, highlight=False, markup=False)
