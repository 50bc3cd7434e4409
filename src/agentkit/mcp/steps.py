"""An MCP tool as a retriever and as a pipeline step.

``McpRetriever(server, "retrieve")`` calls a tool with the query and turns its answer into chunks: an agentkit
server's ``retrieve`` results keep their source, span and score; any other tool's text becomes one chunk citing
``mcp:TOOL`` (spans index that text only). ``McpToolStep`` runs one in a pipeline and adds its chunks to the
contexts the answer step sees; it round-trips through ``to_dict``/``from_dict`` (the ``mcp_tool`` step plugin).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from agentkit.errors import ConfigError
from agentkit.mcp.client import DEFAULT_MAX_CHARS, DEFAULT_TIMEOUT, McpClient, McpEndpoint, McpToolError, cap, check_arguments, result_json
from agentkit.pipeline import QAState
from agentkit.retrievers.base import RetrievedChunk


class McpRetriever:
    """``retrieve(query, k)`` through an MCP tool: ``{query_argument: query, k_argument: k, **arguments}``."""

    def __init__(self, server: Any, tool: str = "retrieve", *, query_argument: str = "query", k_argument: str | None = "k",
                 arguments: Mapping[str, Any] | None = None, untrusted: bool | None = None, timeout: float = DEFAULT_TIMEOUT,
                 max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if not tool or not query_argument:
            raise ConfigError("an MCP retriever needs a tool name and the name of its query argument", "e.g. McpRetriever(url, 'retrieve', query_argument='query')")
        self.client = server if isinstance(server, McpClient) else McpClient(server, timeout)
        self.tool = tool
        self.query_argument = query_argument
        self.k_argument = k_argument
        self.arguments = dict(arguments or {})
        self.untrusted = untrusted
        self.timeout = timeout
        self.max_chars = max_chars
        self._schema: dict[str, Any] | None = None
        self._open_world: bool | None = None

    def _describe(self) -> None:
        if self._schema is not None:
            return
        specs = {s.name: s for s in self.client.list_tools()}
        if self.tool not in specs:
            raise ConfigError(f"MCP server {self.client.endpoint} has no tool '{self.tool}'", f"its tools: {', '.join(sorted(specs)) or '(none)'}")
        spec = specs[self.tool]
        self._schema = dict(spec.input_schema or {})
        hint = getattr(spec.annotations, "open_world_hint", None) if spec.annotations else None
        self._open_world = hint is not False

    def to_dict(self) -> dict[str, Any]:
        return {"type": "mcp", "server": self.client.endpoint.to_dict(), "tool": self.tool, "query_argument": self.query_argument,
                "k_argument": self.k_argument, "arguments": self.arguments, "untrusted": self.untrusted, "timeout": self.timeout,
                "max_chars": self.max_chars}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> McpRetriever:
        return cls(McpEndpoint.from_dict(data["server"]), data.get("tool", "retrieve"), query_argument=data.get("query_argument", "query"),
                   k_argument=data.get("k_argument", "k"), arguments=data.get("arguments"), untrusted=data.get("untrusted"),
                   timeout=data.get("timeout", DEFAULT_TIMEOUT), max_chars=data.get("max_chars", DEFAULT_MAX_CHARS))

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]:
        self._describe()
        arguments = {**self.arguments, self.query_argument: query}
        if self.k_argument and self.k_argument in (self._schema or {}).get("properties", {}):
            arguments[self.k_argument] = k
        check_arguments(self._schema, arguments, self.tool)
        result = self.client.call_tool(self.tool, arguments, self.timeout)
        if result.is_error:
            raise McpToolError(f"MCP tool '{self.tool}' failed: {cap(result.text, 500)}")
        untrusted = self.untrusted if self.untrusted is not None else bool(self._open_world)
        data = result_json(result)
        if isinstance(data, dict) and isinstance(data.get("results"), list) and all(isinstance(r, dict) and "text" in r and "source" in r for r in data["results"]):
            return [_chunk_from_hit(r, untrusted) for r in data["results"][:k]]
        text = cap(result.text, self.max_chars)
        if not text.strip():
            return []
        source = f"mcp:{self.tool}"
        chunk_id = hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:32]
        return [RetrievedChunk(text, source, 0, len(text), 1.0, chunk_id, {"tool": self.tool, "server": str(self.client.endpoint)},
                               untrusted=untrusted, span_of="chunk_text")]


def _chunk_from_hit(hit: Mapping[str, Any], untrusted: bool) -> RetrievedChunk:
    """A hit of an agentkit server's ``retrieve``: its own untrusted flag counts, or the tool's when the tool reaches the web."""
    span_of = hit.get("span_of") if hit.get("span_of") in ("source_text", "extracted_text", "chunk_text") else "chunk_text"
    text = str(hit["text"])
    metadata = {key: hit[key] for key in ("kb", "uri") if hit.get(key)}
    chunk_id = hashlib.sha256(f"{hit['source']}\0{hit.get('start')}\0{text}".encode()).hexdigest()[:32]
    return RetrievedChunk(text, str(hit["source"]), int(hit.get("start", 0)), int(hit.get("end", len(text))), float(hit.get("score", 0.0)), chunk_id,
                          metadata, untrusted=bool(hit.get("untrusted")) or untrusted, span_of=span_of)  # type: ignore[arg-type]


class McpToolStep:
    """A pipeline step: look up ``state.search_query`` with an MCP tool and add the chunks to ``contexts``."""

    reads = ("question",)
    writes = ("contexts",)

    def __init__(self, retriever: McpRetriever, k: int = 4, name: str | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k={k!r} must be a whole number >= 1", "retrieve at least one chunk")
        self.retriever = retriever
        self.k = k
        self.name = name or f"mcp_{retriever.tool}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "mcp_tool", "name": self.name, "k": self.k, "retriever": self.retriever.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> McpToolStep:
        return cls(McpRetriever.from_dict(data["retriever"]), data.get("k", 4), data.get("name"))

    def __call__(self, state: QAState) -> QAState:
        return state.replace(contexts=state.contexts + tuple(self.retriever.retrieve(state.search_query, self.k)))
