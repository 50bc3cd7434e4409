"""The Model Context Protocol, both ways (needs the ``mcp`` extra).

agentkit as a server: ``server(kb=..., llm=...)`` returns the SDK's ``MCPServer`` with tools (``retrieve``,
``ask``, ``web_search``, ``fetch_page``, optionally ``ingest``), ``kb://`` resources and the built-in role
prompts; add your own tools with its decorators and run it with ``serve(srv, transport=...)``
(CLI: ``agentkit mcp serve``).

MCP servers as a tool source: ``mcp_tools(server)`` turns any server's tools into ``Tool``s for the tool agent;
``McpRetriever``/``McpToolStep`` use one in pipelines. ``McpClient`` reads resources and prompts too.
"""

from agentkit.mcp.client import McpClient, McpEndpoint, McpToolError, ToolResult, mcp_tools, tool_from_mcp
from agentkit.mcp.server import KnowledgeBases, ServerOptions, http_app, kb_uri, serve, server
from agentkit.mcp.steps import McpRetriever, McpToolStep

__all__ = [
    "KnowledgeBases",
    "McpClient",
    "McpEndpoint",
    "McpRetriever",
    "McpToolError",
    "McpToolStep",
    "ServerOptions",
    "ToolResult",
    "http_app",
    "kb_uri",
    "mcp_tools",
    "serve",
    "server",
    "tool_from_mcp",
]
