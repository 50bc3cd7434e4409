"""MCP servers as a tool source: any server's tools become agentkit ``Tool``s for the tool agent.

A server is named by where it runs (``McpEndpoint.parse``):

    "http://127.0.0.1:8765/mcp"                  streamable HTTP (https too)
    ["python", "server.py", "--flag"]            a command run as a child process over stdin/stdout
    "python server.py --flag"                    the same, split like a shell would (no shell runs)
    StdioServerParameters(command=..., args=...) the SDK's own description (env, cwd)

``McpClient(server)`` talks to one server. Outside a ``with`` block each call opens its own connection (a new
child process for a command); inside ``with McpClient(...) as client:`` one connection serves every call until
the block ends (``async with`` in async code). The sync methods work inside a running event loop (Jupyter).

``mcp_tools(server)`` lists the server's tools as ``Tool``s: arguments are checked against the tool's JSON
schema before anything is sent, every call has a time limit (the request is cancelled on the server) and an
output cap, a tool's error result raises ``McpToolError``, and tools that reach the open world (the MCP
``openWorldHint``, true unless the server says otherwise) are marked untrusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agentkit.concurrency import run_sync
from agentkit.errors import AgentkitError, BackendUnavailableError, ConfigError, InputError
from agentkit.extras import require
from agentkit.tools.functions import Tool

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CHARS = 8000


class McpToolError(AgentkitError):
    """An MCP tool that answered with an error result, or did not answer in time."""


@dataclass(frozen=True)
class McpEndpoint:
    """Where an MCP server runs: a streamable-HTTP ``url``, or a ``command`` (with ``env``/``cwd``) spoken to over stdio.

    A child process gets the SDK's minimal environment (PATH, HOME, ...) plus ``env``: secrets in this process's
    environment are not handed to a server unless passed on purpose."""

    command: tuple[str, ...] = ()
    url: str = ""
    env: Mapping[str, str] | None = None
    cwd: str | None = None

    def __post_init__(self) -> None:
        if bool(self.command) == bool(self.url):
            raise ConfigError("an MCP endpoint is either a command or a URL", "pass e.g. ['python', 'server.py'] or 'http://127.0.0.1:8765/mcp'")

    @classmethod
    def parse(cls, server: Any) -> McpEndpoint:
        if isinstance(server, McpEndpoint):
            return server
        if isinstance(server, McpClient):
            return server.endpoint
        if isinstance(server, str):
            text = server.strip()
            if text.startswith(("http://", "https://")):
                return cls(url=text)
            if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
                raise ConfigError(f"'{server}' is not an MCP server address", "use http(s)://HOST:PORT/mcp or a command such as 'python server.py'")
            try:
                parts = tuple(shlex.split(text))
            except ValueError as exc:
                raise ConfigError(f"cannot split the MCP server command '{server}': {exc}", "check its quotes") from None
            if not parts:
                raise ConfigError("empty MCP server command", "pass e.g. 'python server.py' or http://127.0.0.1:8765/mcp")
            return cls(command=parts)
        if isinstance(server, list | tuple) and server and all(isinstance(p, str) for p in server):
            return cls(command=tuple(server))
        if type(server).__name__ == "StdioServerParameters":
            return cls(command=(server.command, *server.args), env=server.env, cwd=str(server.cwd) if server.cwd else None)
        raise ConfigError(f"cannot reach an MCP server from {server!r}", "pass a URL, a command list, a command string or StdioServerParameters")

    def transport(self) -> Any:
        """What ``mcp.Client`` connects to: the URL, or ``StdioServerParameters``."""
        if self.url:
            return self.url
        from mcp import StdioServerParameters
        from mcp.client.stdio import get_default_environment

        env = {**get_default_environment(), **self.env} if self.env is not None else None
        return StdioServerParameters(command=self.command[0], args=list(self.command[1:]), env=env, cwd=self.cwd)

    def to_dict(self) -> dict[str, Any]:
        if self.url:
            return {"url": self.url}
        return {"command": list(self.command), **({"env": dict(self.env)} if self.env else {}), **({"cwd": self.cwd} if self.cwd else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> McpEndpoint:
        if data.get("url"):
            return cls(url=str(data["url"]))
        return cls(command=tuple(data.get("command") or ()), env=data.get("env"), cwd=data.get("cwd"))

    def __str__(self) -> str:
        return self.url or shlex.join(self.command)


@dataclass(frozen=True)
class ToolResult:
    """A tool call's outcome: ``text`` (content blocks joined), ``structured`` (when the tool declares an output schema)."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def _leaf(exc: BaseException) -> BaseException:
    """The first real cause inside anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class McpClient:
    """One MCP server's tools, resources and prompts, from sync or async code (see the module doc)."""

    def __init__(self, server: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        require("mcp", "mcp", "MCP support (agentkit.mcp)")
        if not timeout > 0:
            raise ConfigError(f"timeout={timeout} must be positive", "pass seconds > 0")
        self.endpoint = McpEndpoint.parse(server)
        self.timeout = timeout
        self._held: Any = None  # the open mcp.Client inside a with-block
        self._session_cm: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._close: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"McpClient({str(self.endpoint)!r})"

    # ---- connections -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Any]:
        if self._held is not None:
            yield self._held
            return
        from mcp import Client

        client = Client(self.endpoint.transport(), read_timeout_seconds=self.timeout)
        try:
            await client.__aenter__()
        except Exception as exc:
            cause = _leaf(exc)
            raise BackendUnavailableError(f"cannot connect to the MCP server {self.endpoint}: {type(cause).__name__}: {cause}",
                                          "check that the command runs (or the URL answers) and speaks MCP") from None
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):  # a peer that already left is not the caller's problem
                await client.__aexit__(None, None, None)

    async def __aenter__(self) -> McpClient:
        if self._held is not None:
            raise ConfigError("this McpClient is already connected", "use one with-block at a time")
        self._session_cm = self._session()
        self._held = await self._session_cm.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._held is None or self._session_cm is None:
            return
        self._held = None
        session, self._session_cm = self._session_cm, None
        await session.__aexit__(*exc)

    def __enter__(self) -> McpClient:
        """Hold one connection for the block, on a private event loop in a worker thread (any thread may call)."""
        if self._thread is not None or self._held is not None:
            raise ConfigError("this McpClient is already connected", "use one with-block at a time")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def hold() -> None:
            self._close = asyncio.Event()
            try:
                await self.__aenter__()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._close.wait()
            finally:
                await self.__aexit__(None, None, None)

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(hold())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=main, name="agentkit-mcp-client", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]
        return self

    def __exit__(self, *exc: Any) -> None:
        loop, thread, close = self._loop, self._thread, self._close
        if loop is None or thread is None or close is None:
            return
        loop.call_soon_threadsafe(close.set)
        thread.join(timeout=self.timeout)
        self._thread = self._loop = None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the held connection's loop, or on its own (``run_sync``) when none is held."""
        if self._loop is not None and self._thread is not None and threading.current_thread() is not self._thread:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result()
        return run_sync(coro)

    # ---- async API ---------------------------------------------------------------------------------------

    async def alist_tools(self) -> list[Any]:
        """The server's tools (``mcp_types.Tool``: name, description, input_schema, annotations), every page."""
        async with self._session() as client:
            tools, cursor = [], None
            while True:
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    return tools

    async def acall_tool(self, name: str, arguments: Mapping[str, Any] | None = None, timeout: float | None = None,
                         progress: Callable[[float, float | None, str | None], Awaitable[None]] | None = None) -> ToolResult:
        """Call ``name``; past ``timeout`` seconds (default: the client's) the request is cancelled and McpToolError raised."""
        from mcp import MCPError
        from mcp_types import REQUEST_TIMEOUT

        limit = timeout or self.timeout
        async with self._session() as client:
            try:
                result = await client.call_tool(name, dict(arguments or {}), read_timeout_seconds=limit, progress_callback=progress)
            except MCPError as exc:
                if exc.code == REQUEST_TIMEOUT:  # the SDK has already sent the server notifications/cancelled
                    raise McpToolError(f"MCP tool '{name}' did not answer within {limit:g} s (the call was cancelled)",
                                       "raise the timeout, or ask the tool for less") from None
                raise McpToolError(f"MCP tool '{name}' could not be called: {exc}", "check the server, the tool name and its arguments") from None
        return ToolResult(_text(result.content), result.structured_content, bool(result.is_error), dict(result.meta or {}))

    async def aread_resource(self, uri: str) -> str:
        """A resource's text (binary parts are described, not decoded)."""
        from mcp import MCPError

        async with self._session() as client:
            try:
                result = await client.read_resource(uri)
            except MCPError as exc:
                raise InputError(f"cannot read {uri}: {exc}", "list the server's resources for valid uris") from None
        return "\n".join(getattr(c, "text", None) or f"[{c.mime_type or 'binary'} content]" for c in result.contents)

    async def aget_prompt(self, name: str, arguments: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
        """A prompt's messages as (role, text)."""
        from mcp import MCPError

        async with self._session() as client:
            try:
                result = await client.get_prompt(name, dict(arguments or {}))
            except MCPError as exc:
                raise InputError(f"cannot get prompt '{name}': {exc}", "check the prompt's name and arguments") from None
        return [(m.role, _text([m.content])) for m in result.messages]

    # ---- sync API ----------------------------------------------------------------------------------------

    def list_tools(self) -> list[Any]:
        return self._run(self.alist_tools())

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None, timeout: float | None = None) -> ToolResult:
        return self._run(self.acall_tool(name, arguments, timeout))

    def read_resource(self, uri: str) -> str:
        return self._run(self.aread_resource(uri))

    def get_prompt(self, name: str, arguments: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
        return self._run(self.aget_prompt(name, arguments))


def _text(blocks: Sequence[Any]) -> str:
    """Content blocks as text: text as is, embedded text resources by their text, anything else described."""
    out = []
    for block in blocks:
        kind = getattr(block, "type", "")
        if kind == "text":
            out.append(block.text)
        elif kind == "resource" and getattr(block.resource, "text", None) is not None:
            out.append(block.resource.text)
        elif kind == "resource_link":
            out.append(f"[resource: {block.uri}]")
        else:
            out.append(f"[{getattr(block, 'mime_type', None) or kind or 'unknown'} content]")
    return "\n".join(out)


def check_arguments(schema: Mapping[str, Any] | None, arguments: Mapping[str, Any], tool: str) -> None:
    """Raise InputError naming every argument that breaks the tool's JSON schema (nothing is sent then)."""
    if not schema:
        return
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(dict(schema)).iter_errors(dict(arguments)), key=lambda e: list(e.path))
    if errors:
        details = "; ".join((f"'{'.'.join(map(str, e.path))}': " if e.path else "") + e.message for e in errors[:5])
        props = ", ".join(f"{k} ({v.get('type', 'any')})" for k, v in (schema.get("properties") or {}).items()) or "(none)"
        raise InputError(f"bad arguments for MCP tool '{tool}': {details}", f"it takes: {props}; required: {', '.join(schema.get('required', [])) or '(none)'}")


def cap(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[... cut: {len(text) - max_chars} more characters]"


def compact_schema(schema: Any) -> Any:
    """``schema`` as a model should read it: no titles, and ``anyOf [X, null]`` with a default read as plain ``X``.

    Arguments are still checked against the server's full schema; this is only what the model is shown (a
    small model copies a long pydantic schema instead of filling it, and every token of it costs prompt time)."""
    if isinstance(schema, list):
        return [compact_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {name: compact_schema(sub) for name, sub in value.items()}  # names, not keywords
        elif key in ("default", "enum", "const", "examples"):
            out[key] = value  # data, not schemas
        else:
            out[key] = compact_schema(value)
    options = out.get("anyOf")
    if isinstance(options, list) and "default" in out:
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1 and isinstance(kept[0], dict):
            out = {**{k: v for k, v in out.items() if k not in ("anyOf", "default")}, **kept[0]}
            if schema.get("default") is not None:
                out["default"] = schema["default"]
    return out


def tool_from_mcp(client: McpClient, spec: Any, *, timeout: float | None = None, max_chars: int = DEFAULT_MAX_CHARS,
                  untrusted: bool | None = None, name: str | None = None) -> Tool:
    """One MCP tool (``spec``: an ``mcp_types.Tool`` from ``list_tools``) as an agentkit Tool.

    ``parameters`` is the compacted schema (``compact_schema``); calls are checked against the full one.
    ``untrusted`` defaults to the tool's ``openWorldHint`` (true when the server does not say)."""
    if max_chars < 1:
        raise ConfigError(f"max_chars={max_chars} must be >= 1", "pass a positive character cap")
    schema = dict(spec.input_schema or {"type": "object", "properties": {}})
    hint = getattr(spec.annotations, "open_world_hint", None) if spec.annotations else None
    is_untrusted = untrusted if untrusted is not None else hint is not False
    remote = spec.name

    def call(**arguments: Any) -> str:
        check_arguments(schema, arguments, remote)
        result = client.call_tool(remote, arguments, timeout)
        if result.is_error:
            raise McpToolError(f"MCP tool '{remote}' failed: {cap(result.text, 500)}")
        return cap(result.text, max_chars)

    description = (spec.description or spec.title or remote).strip()
    return _make_tool(name or remote, description, compact_schema(schema), call, is_untrusted)


def _make_tool(name: str, description: str, parameters: dict[str, Any], fn: Callable[..., Any], untrusted: bool) -> Tool:
    # Tool gains an ``untrusted`` field in the tool agent's fencing work; pass it where it exists.
    extra = {"untrusted": untrusted} if "untrusted" in getattr(Tool, "__dataclass_fields__", {}) else {}
    return Tool(name=name, description=description, parameters=parameters, fn=fn, **extra)


def mcp_tools(server: Any, include: Sequence[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT, max_chars: int = DEFAULT_MAX_CHARS,
              untrusted: bool | None = None, prefix: str = "") -> list[Tool]:
    """The tools of an MCP server (a URL, a command, StdioServerParameters, or an ``McpClient``) as agentkit Tools.

    ``include`` keeps only those names (unknown names raise ConfigError listing the server's tools); ``prefix``
    renames them (``docs_retrieve``) so several servers' tools can share one agent. Pass a connected
    ``McpClient`` (``with McpClient(cmd) as c: mcp_tools(c)``) to reuse one connection for every call.
    """
    client = server if isinstance(server, McpClient) else McpClient(server, timeout)
    specs = client.list_tools()
    if include is not None:
        known = {s.name for s in specs}
        unknown = [n for n in include if n not in known]
        if unknown:
            raise ConfigError(f"MCP server {client.endpoint} has no tool {', '.join(unknown)}", f"its tools: {', '.join(sorted(known)) or '(none)'}")
        specs = [s for s in specs if s.name in include]
    return [tool_from_mcp(client, s, timeout=timeout, max_chars=max_chars, untrusted=untrusted, name=f"{prefix}{s.name}") for s in specs]


def result_json(result: ToolResult) -> Any:
    """The structured result, else the text parsed as JSON, else None."""
    if result.structured is not None:
        return result.structured
    try:
        return json.loads(result.text)
    except ValueError:
        return None
