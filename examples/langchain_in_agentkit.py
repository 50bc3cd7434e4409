"""LangChain inside agentkit: a langchain-chroma store (LangChain's splitter and HuggingFace embeddings) as the
retriever of agentkit's rag pipeline, and a LangChain chat model as its LLM: ChatOllama when an Ollama server
answers at $OLLAMA_HOST (model from $OLLAMA_MODEL, default llama3.2), otherwise the embedded model. Offline.

    .venv/bin/python examples/langchain_in_agentkit.py ["your question"]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb
import httpx
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter

from agentkit import pipeline
from agentkit.embeddings import minilm_path
from agentkit.integrations.langchain import LangChainLLM, LangChainRetriever

HERE = Path(__file__).resolve().parent


def pick_llm() -> object:
    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    try:
        httpx.get(f"{host}/api/tags", timeout=1.0, trust_env=False).raise_for_status()
    except httpx.HTTPError:
        return "llama-cpp://default"
    from langchain_ollama import ChatOllama

    return LangChainLLM(ChatOllama(model=os.environ.get("OLLAMA_MODEL", "llama3.2"), base_url=host, temperature=0))


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "What is the capital of Taiwan?"
    splitter = RecursiveCharacterTextSplitter(chunk_size=400, chunk_overlap=0, add_start_index=True)
    docs = splitter.split_documents([Document(p.read_text(encoding="utf-8"), metadata={"source": str(p)}) for p in sorted((HERE / "docs").glob("*.md"))])
    embeddings = HuggingFaceEmbeddings(model_name=str(minilm_path()), model_kwargs={"device": "cpu"})
    client = chromadb.EphemeralClient()
    store = Chroma.from_documents(docs, embeddings, client=client, collection_name="examples")
    llm = pick_llm()
    rag = pipeline.create("rag", llm, retriever=LangChainRetriever(store.as_retriever()), k=3)
    result = rag.run(question)
    print("question:", question)
    print("llm:     ", llm if isinstance(llm, str) else llm.spec)
    print("answer:  ", result.answer.strip())
    for s in result.sources:
        print(f"  source: {Path(s.source).name}:{s.start}-{s.end}")


if __name__ == "__main__":
    main()
