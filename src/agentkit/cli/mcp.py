"""`mcp serve`, `mcp tools`, `mcp call`: agentkit as an MCP server, and any MCP server from the command line."""

from __future__ import annotations

import json

import typer

from agentkit.cli._common import DEFAULT_MAX_TOKENS, JSON_HELP, _print_json, app, at_least_one, either, err, out, port_number, positive, renamed, sub_app, user_errors

mcp_app = sub_app("The Model Context Protocol: serve agentkit to MCP clients, or call any MCP server.")
app.add_typer(mcp_app, name="mcp")

_SERVER_HELP = "An MCP server: http(s)://HOST:PORT/mcp, or a command run over stdio (e.g. 'python server.py')."
_TIMEOUT_HELP = "Seconds to wait for the server (starting it included)."
_ENV_HELP = "KEY=VALUE for a command's environment (repeatable); a child gets only PATH, HOME and the like otherwise."


def _endpoint(server: str, env: list[str]) -> object:
    from agentkit.errors import ConfigError
    from agentkit.mcp.client import McpEndpoint

    endpoint = McpEndpoint.parse(server)
    if not env:
        return endpoint
    if endpoint.url:
        raise ConfigError("--env is for commands, not URLs", "drop --env, or start the server with that environment yourself")
    pairs = [e.partition("=") for e in env]
    bad = [e for e, (key, sep, _) in zip(env, pairs, strict=True) if not key or not sep]
    if bad:
        raise ConfigError(f"--env {bad[0]!r} is not KEY=VALUE", "e.g. --env PYTHONPATH=src")
    return McpEndpoint(command=endpoint.command, env={key: value for key, _, value in pairs})


@mcp_app.command()
@user_errors
def serve(
    ctx: typer.Context,
    kb: list[str] = typer.Option([], "--kb", help="Knowledge base spec, or NAME=SPEC (repeatable); resources kb://NAME/..."),
    search_backend: str = typer.Option(None, "--search-backend", help="Search backend for web_search: google | duckduckgo | searxng://HOST:PORT | local://DIR "
                                       "(default: $AGENTKIT_SEARCH or google)."),
    old_search: str = typer.Option(None, "--search", hidden=True, callback=renamed("mcp serve --search", "--search-backend")),
    pipeline_name: str = typer.Option(None, "--pipeline", "-p", help="Pipeline for ask: naive | rag | rag-agent (default: rag with --kb, else naive)."),
    llm: str = typer.Option(None, "--llm", "-m", help="LLM spec for ask (default: $AGENTKIT_LLM or the embedded model; loaded on first use)."),
    allow_ingest: bool = typer.Option(False, "--allow-ingest", help="Add the ingest tool (clients may then add server-side files)."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Let fetch_page read loopback/private addresses."),
    timeout: float = typer.Option(120.0, "--timeout", callback=positive, help="Seconds one tool call may run before it is cancelled."),
    max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", callback=at_least_one, help="Answer length for ask, in tokens."),
    language: str = typer.Option(None, "--language", help="Default answer language rule for ask, e.g. zh-TW."),
    transport: str = typer.Option("stdio", "--transport", help="stdio | streamable-http."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address for streamable-http (keep 127.0.0.1 unless others should reach it)."),
    port: int = typer.Option(8765, "--port", callback=port_number, help="Port for streamable-http; the endpoint is http://HOST:PORT/mcp."),
    name: str = typer.Option("agentkit", "--name", help="The server's name as clients see it."),
) -> None:
    """Serve knowledge bases, pipelines and web tools over MCP (stdio for desktop clients, streamable-http for the network)."""
    from agentkit.errors import ConfigError
    from agentkit.mcp.server import serve as run_server
    from agentkit.mcp.server import server

    search = either(ctx, "search_backend", old_search, "--search")
    if transport not in ("stdio", "streamable-http"):
        raise ConfigError(f"unknown transport '{transport}'", "use stdio or streamable-http")
    srv = server(kb, llm=llm, pipeline=pipeline_name, search=search, allow_ingest=allow_ingest, allow_private=allow_private, timeout=timeout,
                 max_tokens=max_tokens, language=language, name=name)
    if transport == "streamable-http":
        err.print(f"[dim]MCP server '{name}' at http://{host}:{port}/mcp[/]", highlight=False)
    run_server(srv, transport, host, port)  # type: ignore[arg-type]


@mcp_app.command()
@user_errors
def tools(
    server: str = typer.Argument(..., help=_SERVER_HELP),
    env: list[str] = typer.Option([], "--env", help=_ENV_HELP),
    timeout: float = typer.Option(30.0, "--timeout", callback=positive, help=_TIMEOUT_HELP),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """List an MCP server's tools with their arguments."""
    from agentkit.mcp.client import McpClient

    specs = McpClient(_endpoint(server, env), timeout).list_tools()
    if as_json:
        _print_json([{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in specs])
        return
    for t in specs:
        props = (t.input_schema or {}).get("properties", {})
        out.print(f"[bold]{t.name}[/]({', '.join(props)}): {(t.description or '').strip()}", highlight=False)


@mcp_app.command()
@user_errors
def call(
    server: str = typer.Argument(..., help=_SERVER_HELP),
    tool: str = typer.Argument(..., help="Tool name."),
    arguments: str = typer.Argument("{}", help="Arguments as a JSON object."),
    env: list[str] = typer.Option([], "--env", help=_ENV_HELP),
    timeout: float = typer.Option(30.0, "--timeout", callback=positive, help=_TIMEOUT_HELP),
    as_json: bool = typer.Option(False, "--json", "-j", help="Print the structured result (when the tool has one)."),
) -> None:
    """Call one tool of an MCP server; its arguments are checked against the tool's schema first."""
    from agentkit.errors import InputError
    from agentkit.mcp.client import McpClient, McpToolError, check_arguments

    try:
        args = json.loads(arguments)
    except ValueError as exc:
        raise InputError(f"the arguments are not JSON ({exc})", 'write them as a JSON object, e.g. \'{"query": "Saturn"}\'') from None
    if not isinstance(args, dict):
        raise InputError("the arguments must be a JSON object", 'e.g. \'{"query": "Saturn"}\'')
    with McpClient(_endpoint(server, env), timeout) as client:
        specs = {t.name: t for t in client.list_tools()}
        if tool not in specs:
            raise InputError(f"the server has no tool '{tool}'", f"its tools: {', '.join(sorted(specs)) or '(none)'}")
        check_arguments(specs[tool].input_schema, args, tool)
        result = client.call_tool(tool, args)
    if result.is_error:
        raise McpToolError(f"{tool} failed: {result.text}")
    if as_json and result.structured is not None:
        _print_json(result.structured)
    else:
        out.print(result.text, highlight=False, markup=False)
