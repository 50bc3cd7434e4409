"""`plugins`: what is installed — every registered backend, store, format and step, and where it comes from."""

from __future__ import annotations

import typer
from rich.table import Table

from agentkit.cli._common import JSON_HELP, _print_json, app, out, user_errors


@app.command("plugins")
@user_errors
def plugins(
    kind: str = typer.Option(None, "--kind", help="Only this kind (llm, embedder, knowledge_base, search, ...)."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """List installed plugins: built-ins and those of other packages (entry point group agentkit.plugins)."""
    from agentkit.plugins import KINDS, registry

    kinds = [kind] if kind else list(KINDS)
    rows = []
    for name in kinds:
        for plugin in registry(name):
            rows.append({"kind": plugin.kind, "name": plugin.name, "source": plugin.source, "extra": plugin.extra,
                         "available": plugin.available(), "summary": plugin.summary, "examples": list(plugin.examples)})
    if as_json:
        _print_json({"plugins": rows})
        return
    table = Table("kind", "name", "from", "extra", "summary")
    for row in rows:
        extra = row["extra"] and (row["extra"] if row["available"] else f"[red]{row['extra']} (not installed)[/]")
        table.add_row(str(row["kind"]), str(row["name"]), str(row["source"]), str(extra or ""), str(row["summary"]))
    out.print(table)
