"""The study notes' idea, "MCP with a document database gives a RAG-like effect", end to end and offline:

1. a knowledge base is built from examples/docs (the embedded MiniLM embedder);
2. this script starts itself as an MCP server over stdio: ``agentkit.mcp.server`` over that knowledge base, plus
   one tool of its own (``list_documents``) added with the SDK's ``@srv.tool()`` decorator. Any MCP client
   (Claude Desktop, an IDE, ``agentkit mcp tools``) could use it the same way;
3. the tool agent takes the server's tools with ``mcp_tools`` and answers by calling them, and a pipeline
   answers with the server's ``retrieve`` tool as its retrieval step.

The embedded SmolLM2-135M is too small to be a tool agent: it tends to copy a tool's schema instead of filling
it in (the schema check then refuses the call, and the agent sees why) or to answer without a tool. Give the
agent a real model with ``--llm ollama://llama3.2`` or ``--llm openai://127.0.0.1:8000/v1#MODEL``; the pipeline
path works with the embedded model too.

    .venv/bin/python examples/mcp_document_store.py ["your question"] [--llm SPEC]

The same server from the command line: ``agentkit mcp serve --kb .agentkit/mcp-example-kb`` (stdio), or add
``--transport streamable-http --port 8765`` and connect to http://127.0.0.1:8765/mcp.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

HERE = Path(__file__).resolve().parent
KB = Path(".agentkit/mcp-example-kb")


def serve(kb: str) -> None:
    """The server side: agentkit's tools over the knowledge base, and one tool of our own."""
    from agentkit.mcp import serve as run
    from agentkit.mcp import server

    srv = server({"docs": kb})

    @srv.tool()
    def list_documents() -> list[str]:
        """The names of the documents in the store."""
        return sorted(p.name for p in (HERE / "docs").glob("*.md"))

    run(srv, "stdio")


def main() -> None:
    from agentkit.agents.tool_agent import ToolAgent
    from agentkit.chunking import make_splitter
    from agentkit.llm import GenerationParams
    from agentkit.mcp import McpClient, McpEndpoint, McpRetriever, McpToolStep, mcp_tools
    from agentkit.pipeline import Answer, Pipeline
    from agentkit.retrievers import KnowledgeBase

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="How many moons does Saturn have?")
    parser.add_argument("--llm", default="llama-cpp://default")
    args = parser.parse_args()

    report = KnowledgeBase(KB, splitter=make_splitter("markdown", chunk_size=400, chunk_overlap=0)).ingest([HERE / "docs"])
    print(f"knowledge base {KB}: {report.documents} documents, {report.chunks_total} chunks ({report.chunks_added} new)")

    # The child gets only what it needs from our environment (an MCP server is another program).
    env = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "ANONYMIZED_TELEMETRY", "PYTHONPATH", "AGENTKIT_CACHE_DIR") if k in os.environ}
    with McpClient(McpEndpoint(command=(sys.executable, str(Path(__file__).resolve()), "--serve", str(KB)), env=env), timeout=120) as client:
        tools = mcp_tools(client, include=["retrieve", "list_documents"])
        print("tools from the MCP server:", ", ".join(t.name for t in tools))

        run = ToolAgent(args.llm, tools, max_steps=3, params=GenerationParams(max_tokens=128, timeout=600)).run(args.question)
        print(f"\nagent: {run.answer}")
        for call in run.calls:
            print(f"  called {call.tool}({call.arguments}) in {call.seconds:.2f}s{' (error)' if call.error else ''}")

        pipe = Pipeline([McpToolStep(McpRetriever(client, "retrieve"), k=3), Answer(args.llm)], "mcp-rag")
        result = pipe.run(args.question)
        print(f"\npipeline: {result.answer}")
        for s in result.sources:
            print(f"  source: {Path(s.source).name} [{s.start}:{s.end}] {s.metadata.get('uri', '')}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        main()
