"""LangChain both ways: agentkit pieces inside LCEL chains, LangChain pieces inside agentkit pipelines.
Real embedded model, real Chroma stores, ChatOllama against the Ollama protocol double."""

from __future__ import annotations

import pytest

from agentkit import pipeline
from agentkit.errors import BackendUnavailableError
from agentkit.integrations.langchain import AgentkitChatModel, AgentkitRetriever, LangChainLLM, LangChainRetriever
from agentkit.llm.scripted import ScriptedLLM
from agentkit.retrievers import KnowledgeBase
from tests.ollama_double import OllamaDouble


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


@pytest.mark.slow
def test_embedded_model_as_langchain_chat_model_streams(embedded_llm) -> None:  # type: ignore[no-untyped-def]
    model = AgentkitChatModel(llm=embedded_llm, max_tokens=12)
    pieces = [c.content for c in model.stream("Say hello.")]
    assert len(pieces) > 1 and "".join(pieces).strip()
    message = model.invoke("Say hello.")
    assert message.content == "".join(pieces) and message.usage_metadata["output_tokens"] > 0


def test_langchain_chroma_retriever_in_agentkit_pipeline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    from agentkit.embeddings import minilm_path

    embeddings = HuggingFaceEmbeddings(model_name=str(minilm_path()), model_kwargs={"device": "cpu"})
    store = Chroma.from_documents(
        [Document("Jupiter has 95 known moons.", metadata={"source": "jupiter.md", "start": 0, "end": 27}),
         Document("Mars is red because of iron oxide.", metadata={"source": "mars.md"})],
        embeddings, client=chromadb.PersistentClient(path=str(tmp_path / "lc")), collection_name="planets",
    )
    retriever = LangChainRetriever(store.as_retriever())
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
