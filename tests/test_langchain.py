"""LangChain both ways: agentkit pieces inside LCEL chains, LangChain pieces inside agentkit pipelines.
Real embedded model, real Chroma stores, ChatOllama against the Ollama protocol double."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from agentkit import pipeline
from agentkit.errors import BackendUnavailableError, ConfigError
from agentkit.integrations.langchain import AgentkitChatModel, AgentkitRetriever, LangChainLLM, LangChainRetriever
from agentkit.llm.base import Message
from agentkit.llm.scripted import ScriptedLLM
from agentkit.retrievers import KnowledgeBase
from agentkit.tools.functions import calculate
from tests.ollama_double import OllamaDouble
from tests.openai_double import OpenAIDouble, text


@pytest.fixture
def planets_kb(tmp_path, hash_embedder):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "jupiter.md").write_text("Jupiter is the largest planet. It has 95 known moons.", encoding="utf-8")
    (docs / "mars.md").write_text("Mars is red because of iron oxide.", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    kb.ingest([docs])
    return kb


def test_agentkit_retriever_and_chat_model_in_lcel(planets_kb) -> None:  # type: ignore[no-untyped-def]
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    retriever = AgentkitRetriever(retriever=planets_kb, k=1)
    docs = retriever.invoke("How many moons does Jupiter have?")
    assert docs[0].metadata["source"].endswith("jupiter.md") and docs[0].page_content.startswith("Jupiter")

    llm = ScriptedLLM(["It has 95 moons."])
    prompt = ChatPromptTemplate.from_messages([("system", "Answer from the context."), ("human", "Context: {context}\nQuestion: {question}")])
    chain = {"context": retriever | (lambda ds: "\n".join(d.page_content for d in ds)), "question": RunnablePassthrough()} | prompt | AgentkitChatModel(llm=llm) | StrOutputParser()
    assert chain.invoke("How many moons does Jupiter have?") == "It has 95 moons."
    sent = llm.calls[0]
    assert [m.role for m in sent] == ["system", "user"] and "95 known moons" in sent[1].content


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as 20+30."""
    return calculate(expression)


def _tool_loop(model, question: str, max_turns: int = 4) -> tuple[AIMessage, list]:  # type: ignore[no-untyped-def]
    """The plain LangChain tool loop (no langgraph): invoke, run each tool call through the tool, repeat."""
    messages: list = [HumanMessage(question)]
    for _ in range(max_turns):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return reply, messages
        messages += [calculator.invoke(call) for call in reply.tool_calls]
    raise AssertionError("the model never stopped calling tools")


def test_bind_tools_with_native_tool_calling() -> None:
    from agentkit.llm.openai_compat import OpenAICompatLLM

    with OpenAIDouble() as server:
        model = AgentkitChatModel(llm=OpenAICompatLLM(server.url, "tool-model")).bind_tools([calculator])
        answer, messages = _tool_loop(model, "What is 20+30?")
        assert answer.content == "The answer is 50."
        call = messages[1].tool_calls[0]
        assert (call["name"], call["args"], call["id"]) == ("calculator", {"expression": "20+30"}, "call_1")
        assert isinstance(messages[2], ToolMessage) and messages[2].content == "50"
        first, second = server.bodies
        spec = first["tools"][0]["function"]
        assert spec["name"] == "calculator" and spec["parameters"]["properties"]["expression"]["type"] == "string"
        assert second["messages"][1]["tool_calls"][0]["function"] == {"name": "calculator", "arguments": '{"expression": "20+30"}'}
        assert second["messages"][2] == {"role": "tool", "content": "50", "tool_call_id": "call_1"}


def test_bind_tools_with_the_json_protocol() -> None:
    """A backend without native tools (the embedded model, here a scripted one) gets agentkit's JSON tool protocol."""
    llm = ScriptedLLM(['{"tool": "calculator", "arguments": {"expression": "20+30"}}', '{"answer": "20+30 是 50。"}'])
    answer, messages = _tool_loop(AgentkitChatModel(llm=llm).bind_tools([calculator]), "20+30 等於多少？")
    assert answer.content == "20+30 是 50。" and messages[1].tool_calls[0]["args"] == {"expression": "20+30"}
    first, second = llm.calls
    assert first[0].role == "system" and '"name": "calculator"' in first[0].content
    assert second[-1] == Message("user", "Observation from calculator:\n50")


class Planet(BaseModel):
    name: str
    moons: int


def test_with_structured_output_pydantic() -> None:
    from agentkit.llm.openai_compat import OpenAICompatLLM

    with OpenAIDouble(text('{"name": "Jupiter", "moons": 95}')) as server:
        model = AgentkitChatModel(llm=OpenAICompatLLM(server.url, "m")).with_structured_output(Planet)
        assert model.invoke("Which planet has 95 moons?") == Planet(name="Jupiter", moons=95)
        schema = server.bodies[0]["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["moons"]["type"] == "integer" and set(schema["required"]) == {"name", "moons"}
    fenced = ScriptedLLM(['```json\n{"name": "木星", "moons": 95}\n```'])
    assert AgentkitChatModel(llm=fenced).with_structured_output(Planet).invoke("哪顆行星有 95 顆衛星？") == Planet(name="木星", moons=95)


def test_with_structured_output_dict_schema_and_raw() -> None:
    schema = {"title": "planet", "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    llm = ScriptedLLM(['{"name": "Mars"}', "not json"])
    model = AgentkitChatModel(llm=llm).with_structured_output(schema, include_raw=True)
    good = model.invoke("The red planet?")
    assert good["parsed"] == {"name": "Mars"} and good["parsing_error"] is None and good["raw"].content == '{"name": "Mars"}'
    bad = model.invoke("The red planet?")
    assert bad["parsed"] is None and bad["parsing_error"] is not None
    with pytest.raises(ConfigError):
        AgentkitChatModel(llm=llm).with_structured_output(schema, method="function_calling")


@pytest.mark.slow
def test_embedded_model_as_langchain_chat_model_streams(embedded_llm) -> None:  # type: ignore[no-untyped-def]
    model = AgentkitChatModel(llm=embedded_llm, max_tokens=12)
    pieces = [c.content for c in model.stream("Say hello.")]
    assert len(pieces) > 1 and "".join(pieces).strip()
    message = model.invoke("Say hello.")
    assert message.content == "".join(pieces) and message.usage_metadata["output_tokens"] > 0


@pytest.fixture(scope="module")
def chroma_store(tmp_path_factory):  # type: ignore[no-untyped-def]
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    from agentkit.embeddings import minilm_path

    embeddings = HuggingFaceEmbeddings(model_name=str(minilm_path()), model_kwargs={"device": "cpu"})
    return Chroma.from_documents(
        [Document("Jupiter has 95 known moons.", metadata={"source": "jupiter.md", "start": 0, "end": 27}),
         Document("Mars is red because of iron oxide.", metadata={"source": "mars.md"}),
         Document("Saturn's rings are made of ice and rock.", metadata={"source": "saturn.md"}),
         Document("國立臺灣大學位於臺北市。", metadata={"source": "ntu.md"})],
        embeddings, client=chromadb.PersistentClient(path=str(tmp_path_factory.mktemp("lc"))), collection_name="planets",
    )


def test_wrapping_a_langchain_retriever_never_changes_it(chroma_store) -> None:  # type: ignore[no-untyped-def]
    wrapped = chroma_store.as_retriever(search_kwargs={"k": 10})
    chunks = LangChainRetriever(wrapped).retrieve("moons of Jupiter", 2)
    assert len(chunks) == 2 and chunks[0].source == "jupiter.md"
    assert wrapped.search_kwargs == {"k": 10} and len(wrapped.invoke("moons of Jupiter")) == 4  # the owner's k still rules


def test_langchain_chroma_retriever_in_agentkit_pipeline(chroma_store) -> None:  # type: ignore[no-untyped-def]
    retriever = LangChainRetriever(chroma_store.as_retriever())
    chunks = retriever.retrieve("moons of Jupiter", 1)
    assert len(chunks) == 1 and chunks[0].source == "jupiter.md" and (chunks[0].start, chunks[0].end) == (0, 27)
    llm = ScriptedLLM(["95."])
    result = pipeline.create("rag", llm, retriever=retriever, k=2).run("How many moons does Jupiter have?")
    assert result.answer == "95." and "Jupiter has 95 known moons." in llm.calls[0][-1].content


def test_chat_ollama_as_agentkit_llm() -> None:
    from langchain_ollama import ChatOllama

    with OllamaDouble("Ninety-five moons.") as server:
        llm = LangChainLLM(ChatOllama(model="tiny", base_url=server.url, temperature=0))
        result = pipeline.create("naive", llm).run("How many moons does Jupiter have?")
        assert result.answer == "Ninety-five moons."
        assert server.requests[0][0] == "/api/chat" and server.requests[0][1]["messages"][-1]["content"].count("Jupiter") == 1
        missing = LangChainLLM(ChatOllama(model="llama3.2", base_url=server.url))
        with pytest.raises(BackendUnavailableError, match="model 'llama3.2' not found"):
            pipeline.create("naive", missing).run("hi")


@pytest.mark.slow
@pytest.mark.parametrize("example", ["langchain_agentkit_in_lcel.py", "langchain_in_agentkit.py"])
def test_examples_run_offline(example: str) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "OLLAMA_HOST": "http://127.0.0.1:9"}  # nothing listens there: the embedded model is used
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / example)], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answer:" in proc.stdout and "source:" in proc.stdout
