"""agentkit as an MCP server and MCP servers as tools, driven by the real ``mcp`` client over stdio and over
streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("mcp")

from mcp import Client, MCPError, StdioServerParameters

from agentkit.agents import QA
from agentkit.agents.tool_agent import ToolAgent
from agentkit.chunking import make_splitter
from agentkit.errors import ConfigError, InputError
from agentkit.llm import ScriptedLLM
from agentkit.mcp import McpClient, McpEndpoint, McpRetriever, McpToolError, McpToolStep, kb_uri, mcp_tools, server
from agentkit.mcp.server import parse_kb_arguments, render_role, span_text
from agentkit.pipeline import Answer, Pipeline
from agentkit.retrievers import KnowledgeBase
from agentkit.retrievers.base import RetrievedChunk

from .conftest import ROOT, HashEmbedder, free_port, run_cli, wait_for_port
from .mcp_servers import Serving, agentkit_server, toy_server
from .ollama_double import OllamaDouble

SATURN = "# Saturn\n\nSaturn has 274 known moons. Titan is the largest of them.\n\nSaturn's rings are made of ice and rock.\n"
TAIPEI = "臺北市位於臺灣北部。臺北101曾是世界最高的建築。\n\n淡水河流經臺北。\n"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mcp-docs")
    (folder / "saturn.md").write_text(SATURN, encoding="utf-8")
    (folder / "臺北.txt").write_text(TAIPEI, encoding="utf-8")  # a CJK name in kb:// uris
    return folder


@pytest.fixture(scope="module")
def kb_dir(docs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knowledge base of small, overlapping chunks; servers open it in bm25 mode (no embedder model needed)."""
    target = tmp_path_factory.mktemp("mcp-kb") / "kb"
    KnowledgeBase(target, embedder=HashEmbedder(), splitter=make_splitter("recursive", chunk_size=40, chunk_overlap=15)).ingest([docs])
    return target


def stdio_cli(*args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "agentkit.cli", "mcp", "serve", *args], env=ENV, cwd=str(ROOT))


def text_of(result) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(c.text for c in result.content if c.type == "text")


# ---- agentkit mcp serve over stdio ---------------------------------------------------------------------------


def test_stdio_server_tools_resources_prompts_and_bad_arguments(kb_dir: Path, docs: Path, web_site) -> None:  # type: ignore[no-untyped-def]
    saturn = str(docs / "saturn.md")
    with OllamaDouble("Saturn has 274 known moons.") as ollama:
        params = stdio_cli("--kb", f"docs=chroma://{kb_dir}?mode=bm25", "--llm", f"ollama://tiny?host={ollama.url}", "--search-backend", f"local://{docs}",
                           "--allow-private")

        async def session() -> None:
            async with Client(params) as client:
                names = sorted(t.name for t in (await client.list_tools()).tools)
                assert names == ["ask", "fetch_page", "retrieve", "web_search"]  # no ingest without --allow-ingest

                found = await client.call_tool("retrieve", {"query": "How many moons does Saturn have?", "k": 3})
                assert not found.is_error
                hits = found.structured_content["results"]
                assert hits and hits[0]["source"] == saturn and "274" in hits[0]["text"]
                for hit in hits:  # exact spans into the source file, and a uri that reads them back
                    assert Path(hit["source"]).read_text(encoding="utf-8")[hit["start"]:hit["end"]] == hit["text"]
                    assert hit["uri"] == kb_uri("docs", hit["source"], hit["start"], hit["end"]) and hit["untrusted"] is False
                    assert (await client.read_resource(hit["uri"])).contents[0].text == hit["text"]

                chinese = (await client.call_tool("retrieve", {"query": "臺北 建築", "k": 1})).structured_content["results"][0]
                assert "臺北101" in chinese["text"] and "%E8%87%BA%E5%8C%97.txt" in chinese["uri"]
                assert (await client.read_resource(chinese["uri"])).contents[0].text == TAIPEI[chinese["start"]:chinese["end"]]

                answer = await client.call_tool("ask", {"question": "How many moons does Saturn have?", "k": 2})
                assert not answer.is_error, text_of(answer)
                assert answer.structured_content["answer"] == "Saturn has 274 known moons."
                assert answer.structured_content["sources"] and set(answer.structured_content["timings"]) == {"retrieve", "answer", "total"}
                assert any("274" in m["content"] for _, body in ollama.requests for m in body.get("messages", []))  # the context reached the model

                listing = json.loads((await client.read_resource("kb://docs")).contents[0].text)
                assert {s["source"] for s in listing["sources"]} == {saturn, str(docs / "臺北.txt")}
                chunks = json.loads((await client.read_resource(kb_uri("docs", saturn))).contents[0].text)["chunks"]
                assert [SATURN[c["start"]:c["end"]] for c in chunks] == [c["text"] for c in chunks]
                # a span across two adjoining chunks is laid together from both
                first, second = next((a, b) for a, b in itertools.pairwise(chunks) if a["end"] >= b["start"])
                span = await client.read_resource(kb_uri("docs", saturn, first["start"] + 2, second["end"] - 2))
                assert span.contents[0].text == SATURN[first["start"] + 2:second["end"] - 2]
                with pytest.raises(MCPError, match="has no source"):
                    await client.read_resource(kb_uri("docs", "/etc/passwd", 0, 10))
                with pytest.raises(MCPError, match="bad span"):
                    await client.read_resource(kb_uri("docs", saturn) + "#20-10")

                web = await client.call_tool("web_search", {"query": "Saturn rings", "n": 1})
                assert web.structured_content["untrusted"] is True and web.structured_content["results"][0]["url"].endswith("saturn.md")
                page = await client.call_tool("fetch_page", {"url": web_site.url("/hidden.html")})
                assert not page.is_error, text_of(page)
                assert page.structured_content["untrusted"] is True and "Io is a moon" in page.structured_content["text"]
                assert "IGNORE ALL PREVIOUS" not in page.structured_content["text"]  # hidden text stays out

                prompt = await client.get_prompt("qa", {"question": "土星有幾顆衛星？", "context": "Saturn has 274 moons.", "language": "zh-TW"})
                text = prompt.messages[0].content.text
                # the same layout as the pipelines send, up to the per-prompt random mark of block headers
                same = re.compile(r"\| [0-9a-f]{8}\]")
                assert same.sub("| N]", text) == same.sub("| N]", render_role(QA, "土星有幾顆衛星？", "zh-TW", "Saturn has 274 moons."))
                assert "Traditional Chinese" in text and '"""\n土星有幾顆衛星？\n"""' in text
                assert {p.name for p in (await client.list_prompts()).prompts} == {"question-extraction", "keyword-extraction", "qa"}

                for arguments, message in (({"query": "Saturn", "k": 0}, "greater than or equal to 1"), ({"query": ""}, "at least 1 character"),
                                           ({"query": "Saturn", "filters": {"author": "x"}}, "Extra inputs are not permitted"),
                                           ({"query": "Saturn", "mode": "fuzzy"}, "dense"), ({"query": "Saturn", "kb": "other"}, "no knowledge base named 'other'")):
                    bad = await client.call_tool("retrieve", arguments)
                    assert bad.is_error and message in text_of(bad), (arguments, text_of(bad))

        anyio.run(session)


# ---- agentkit mcp serve over streamable HTTP ------------------------------------------------------------------


def test_streamable_http_server_answers_retrieve_and_ask_with_progress(kb_dir: Path) -> None:
    port = free_port()
    with OllamaDouble("Titan is the largest moon of Saturn.") as ollama:
        proc = subprocess.Popen([sys.executable, "-m", "agentkit.cli", "mcp", "serve", "--kb", f"chroma://{kb_dir}?mode=bm25", "--llm",
                                 f"ollama://tiny?host={ollama.url}", "--pipeline", "rag-agent", "--transport", "streamable-http", "--port", str(port)],
                                env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_port(port, proc, timeout=120)

            async def session() -> None:
                async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                    assert "retrieve" in {t.name for t in (await client.list_tools()).tools}
                    found = await client.call_tool("retrieve", {"query": "Titan largest moon", "k": 2, "mode": "bm25"})
                    assert "Titan" in found.structured_content["results"][0]["text"]
                    assert found.structured_content["results"][0]["kb"] == "kb"  # named after the directory
                    progress: list[tuple[float, float | None, str | None]] = []

                    async def on_progress(done: float, total: float | None, message: str | None) -> None:
                        progress.append((done, total, message))

                    answer = await client.call_tool("ask", {"question": "Which is Saturn's largest moon?"}, progress_callback=on_progress)
                    assert answer.structured_content["answer"] == "Titan is the largest moon of Saturn."
                    assert answer.structured_content["pipeline"] == "rag-agent"
                    steps = [m for _, _, m in progress]
                    assert [s.split(": ")[-1] for s in steps[:-1]] == ["extract_question", "extract_keywords", "retrieve", "answer"] and steps[-1] == "done"
                    assert [d for d, _, _ in progress] == [0, 1, 2, 3, 4] and {t for _, t, _ in progress} == {4}

            anyio.run(session)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# ---- time limits and cancellation -----------------------------------------------------------------------------


def _stops_counting(llm, seconds: float = 1.0) -> bool:  # type: ignore[no-untyped-def]
    before = llm.pieces
    time.sleep(seconds)
    return llm.pieces == before


def test_call_past_its_time_limit_is_cancelled_and_its_model_stops(kb_dir: Path) -> None:
    # rag-agent's first step asks the model for up to 96 words, 0.2 s each: ~19 s, far past the 1.5 s limit
    srv, llm = agentkit_server(str(kb_dir), delay=0.2, timeout=1.5, reply=" ".join(["moon"] * 400), pipeline="rag-agent")
    with Serving(srv) as url:
        async def session() -> None:
            async with Client(url) as client:
                result = await client.call_tool("ask", {"question": "How many moons?"})
                assert result.is_error and "did not finish within 1.5 s and was cancelled" in text_of(result)

        anyio.run(session)
        assert 0 < llm.pieces < 96
        assert _stops_counting(llm)  # the worker stopped mid-generation; it was not left running


def test_client_cancelling_a_slow_call_stops_it_on_the_server(kb_dir: Path) -> None:
    srv, llm = agentkit_server(str(kb_dir), delay=0.05, timeout=60, reply=" ".join(["moon"] * 400))
    with Serving(srv) as url:
        client = McpClient(url, timeout=1.5)
        with pytest.raises(McpToolError, match=r"did not answer within 1\.5 s"):
            client.call_tool("ask", {"question": "How many moons?"})
        deadline = time.monotonic() + 15
        while not _stops_counting(llm, 0.5) and time.monotonic() < deadline:
            pass
        assert 0 < llm.pieces < 400 and _stops_counting(llm)
        assert client.call_tool("retrieve", {"query": "Titan", "k": 1}).structured  # the server still serves


def test_ingest_only_when_allowed_with_progress(kb_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "kb"
    shutil.copytree(kb_dir, copy)
    srv, _ = agentkit_server(str(copy))
    assert "ingest" not in {t.name for t in anyio.run(_tool_names, srv)}
    # a knowledge-base object: the test embedder is no spec a server could load by name
    srv = server({"docs": KnowledgeBase(copy, embedder=HashEmbedder(), mode="bm25")}, llm=ScriptedLLM(), allow_ingest=True)
    new = tmp_path / "mars.md"
    new.write_text("Mars has two moons, Phobos and Deimos.\n", encoding="utf-8")

    async def session() -> None:
        async with Client(srv) as client:
            progress: list[float] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(done)

            report = await client.call_tool("ingest", {"paths": [str(new)]}, progress_callback=on_progress)
            assert not report.is_error, text_of(report)
            assert report.structured_content["kb"] == "docs" and report.structured_content["chunks_added"] >= 1 and progress
            found = await client.call_tool("retrieve", {"query": "Phobos Deimos", "k": 1})
            assert found.structured_content["results"][0]["source"] == str(new)
            listing = json.loads((await client.read_resource("kb://docs")).contents[0].text)  # resources see the new source
            assert str(new) in {s["source"] for s in listing["sources"]}
            missing = await client.call_tool("ingest", {"paths": [str(tmp_path / "nope.md")]})
            assert missing.is_error

    anyio.run(session)


async def _tool_names(srv):  # type: ignore[no-untyped-def]
    async with Client(srv) as client:
        return (await client.list_tools()).tools


def test_fetch_page_refuses_private_addresses_unless_allowed(kb_dir: Path, web_site) -> None:  # type: ignore[no-untyped-def]
    srv, _ = agentkit_server(str(kb_dir))

    async def session() -> None:
        async with Client(srv) as client:
            refused = await client.call_tool("fetch_page", {"url": web_site.url("/utf8.html")})
            assert refused.is_error and "non-public address" in text_of(refused)
            scheme = await client.call_tool("fetch_page", {"url": "file:///etc/passwd"})
            assert scheme.is_error and "not http or https" in text_of(scheme)

    anyio.run(session)


# ---- MCP tools inside agentkit --------------------------------------------------------------------------------


def test_tool_agent_answers_with_a_tool_from_an_mcp_server_over_stdio() -> None:
    command = [sys.executable, str(ROOT / "tests" / "mcp_servers.py"), "toy"]

    def answer(messages) -> str:  # type: ignore[no-untyped-def]
        observation = messages[-1].content
        count = re.findall(r"\b\d+\b", observation)[-1]  # the tool's result: the last number of the fenced observation
        return json.dumps({"answer": f"Saturn has {count} known moons."})

    llm = ScriptedLLM([json.dumps({"tool": "moon_count", "arguments": {"planet": "saturn"}}), answer])
    with McpClient(McpEndpoint(command=tuple(command), env={"PYTHONPATH": ENV["PYTHONPATH"]})) as client:
        tools = mcp_tools(client, include=["moon_count", "echo"])
        assert [t.name for t in tools] == ["moon_count", "echo"]
        assert tools[0].parameters["properties"]["planet"]["enum"] == ["earth", "mars", "jupiter", "saturn"]
        run = ToolAgent(llm, tools, native=False).run("How many moons does Saturn have?")
    assert [(c.tool, c.result, c.error) for c in run.calls] == [("moon_count", "274", False)]
    assert run.answer == "Saturn has 274 known moons."


def test_mcp_tools_check_arguments_bound_time_and_output() -> None:
    calls: list[str] = []
    with Serving(toy_server(calls)) as url:
        tools = {t.name: t for t in mcp_tools(url, timeout=1.0, max_chars=50)}
        with pytest.raises(InputError, match="'planet': 'pluto' is not one of"):
            tools["moon_count"](planet="pluto")
        with pytest.raises(InputError, match="'times': 'x' is not of type 'integer'"):
            tools["echo"](text="a", times="x")
        assert calls == []  # refused before anything was sent
        assert tools["moon_count"](planet="jupiter") == "95"
        long = tools["echo"](text="月亮", times=100)
        assert long.startswith("月亮" * 25) and long.endswith("[... cut: 150 more characters]")
        started = time.monotonic()
        with pytest.raises(McpToolError, match="did not answer within 1 s"):
            tools["slow"](seconds=30)
        assert time.monotonic() - started < 15
        with pytest.raises(ConfigError, match="has no tool nope"):
            mcp_tools(url, include=["nope"])


def test_models_see_compact_schemas_and_calls_are_checked_against_the_full_one() -> None:
    with Serving(toy_server()) as url:
        (note,) = mcp_tools(url, include=["note"])
        assert note.parameters == {"type": "object", "properties": {"title": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["title"]}
        assert note(title="moons", limit=None) == "moons:None"  # null is still allowed by the server's schema
        with pytest.raises(InputError, match="'title' is a required property"):
            note(limit=3)


def test_mcp_tools_work_inside_a_running_event_loop() -> None:
    with Serving(toy_server()) as url:
        async def notebook_cell() -> str:
            tools = {t.name: t for t in mcp_tools(url)}  # the sync API, called from async code
            return str(tools["moon_count"](planet="mars"))

        assert asyncio.run(notebook_cell()) == "2"


def test_connection_failures_are_one_line_errors() -> None:
    from agentkit.errors import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="cannot connect to the MCP server"):
        McpClient(f"http://127.0.0.1:{free_port()}/mcp", timeout=5).list_tools()
    with pytest.raises(BackendUnavailableError, match="cannot connect"):
        McpClient([sys.executable, "-c", "print('not mcp')"], timeout=5).list_tools()
    with pytest.raises(ConfigError, match="not an MCP server address"):
        McpClient("ftp://example.org/mcp")


def test_mcp_retriever_keeps_spans_and_marks_open_world_text_untrusted(kb_dir: Path, docs: Path) -> None:
    srv, _ = agentkit_server(str(kb_dir))
    with Serving(srv) as agentkit_url, Serving(toy_server()) as toy_url:
        hits = McpRetriever(agentkit_url, "retrieve").retrieve("Titan largest moon", 2)
        assert hits[0].source == str(docs / "saturn.md") and SATURN[hits[0].start:hits[0].end] == hits[0].text
        assert hits[0].span_of == "source_text" and not hits[0].untrusted and hits[0].metadata["uri"].startswith("kb://docs/")
        web = McpRetriever(toy_url, "web_snippets", k_argument=None).retrieve("Saturn", 3)
        assert len(web) == 1 and web[0].untrusted and web[0].source == "mcp:web_snippets" and web[0].span_of == "chunk_text"
        echo = McpRetriever(toy_url, "echo", query_argument="text", k_argument=None).retrieve("hello", 3)
        assert echo[0].untrusted  # a tool that does not say it stays in a closed world counts as open (MCP's default)
        closed = McpRetriever(toy_url, "moon_count", query_argument="planet", k_argument=None).retrieve("saturn", 1)
        assert closed[0].text == "274" and not closed[0].untrusted

        llm = ScriptedLLM(["Titan."])
        step = McpToolStep(McpRetriever(agentkit_url, "retrieve"), k=2)
        pipe = Pipeline([step, Answer(llm)], "mcp-rag")
        question = "Which is Saturn's largest moon?"
        result = pipe.run(question)
        direct = McpRetriever(agentkit_url, "retrieve").retrieve(question, 2)
        assert result.answer == "Titan." and [s.text for s in result.sources] == [h.text for h in direct]
        assert "Titan is the largest" in llm.calls[0][1].content
        again = Pipeline.from_dict(json.loads(json.dumps(Pipeline([step], "x").to_dict())))  # the mcp_tool step plugin
        assert again.steps[0].to_dict() == step.to_dict()
        assert [c.text for c in again.steps[0].retriever.retrieve("Titan largest moon", 2)] == [h.text for h in hits]


# ---- small pieces ------------------------------------------------------------------------------------------------


def test_kb_arguments_are_named() -> None:
    assert parse_kb_arguments([".agentkit/demo-kb", "notes=chroma://x?mode=bm25", "chroma+http://127.0.0.1:8000/papers"]) == {
        "demo-kb": ".agentkit/demo-kb", "notes": "chroma://x?mode=bm25", "papers": "chroma+http://127.0.0.1:8000/papers"}
    assert parse_kb_arguments(["chroma://a/kb?mode=bm25"]) == {"kb": "chroma://a/kb?mode=bm25"}  # '=' inside options is not a name
    with pytest.raises(ConfigError, match="two knowledge bases are named 'kb'"):
        parse_kb_arguments(["a/kb", "b/kb"])
    with pytest.raises(ConfigError, match="cannot name"):
        parse_kb_arguments({"bad name": "x"})


def test_cli_serve_rejects_bad_setups_in_one_line(tmp_path: Path) -> None:
    for args, message in ((["--kb", str(tmp_path / "missing")], "no knowledge base at"), (["--pipeline", "rag"], "needs a retriever"),
                          (["--transport", "carrier-pigeon"], "unknown transport"), (["--pipeline", "nope"], "unknown pipeline 'nope'")):
        done = run_cli("mcp", "serve", *args, timeout=120)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


def test_cli_lists_and_calls_tools_of_a_server() -> None:
    command = f"{sys.executable} {ROOT / 'tests' / 'mcp_servers.py'} toy"
    listed = run_cli("mcp", "tools", command, "--env", f"PYTHONPATH={ENV['PYTHONPATH']}", timeout=120)
    assert listed.returncode == 0 and "moon_count(planet)" in listed.stdout, listed.stderr
    called = run_cli("mcp", "call", command, "moon_count", '{"planet": "earth"}', "--env", f"PYTHONPATH={ENV['PYTHONPATH']}", timeout=120)
    assert called.returncode == 0 and called.stdout.strip() == "1", called.stderr
    bad = run_cli("mcp", "call", command, "moon_count", '{"planet": "vulcan"}', "--env", f"PYTHONPATH={ENV['PYTHONPATH']}", timeout=120)
    assert bad.returncode == 2 and "'planet': 'vulcan' is not one of" in bad.stderr


def _chunks(text: str, size: int, overlap: int) -> list[RetrievedChunk]:
    return [RetrievedChunk(c.text, "doc", c.start, c.end, 0.0) for c in make_splitter("recursive", chunk_size=size, chunk_overlap=overlap).split(text)]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab 臺北。\n."), min_size=1, max_size=300), st.integers(10, 60), st.integers(0, 9), st.data())
def test_span_text_is_the_source_slice_wherever_chunks_cover_it(text: str, size: int, overlap: int, data) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(text, size, overlap)
    if not chunks:
        return
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    covered = all(any(c.start <= p < c.end for c in chunks) for p in range(start, end))
    if covered:
        assert span_text(chunks, start, end) == text[start:end]
    else:
        from mcp.server.mcpserver.exceptions import ResourceNotFoundError

        with pytest.raises(ResourceNotFoundError, match="not covered"):
            span_text(chunks, start, end)
