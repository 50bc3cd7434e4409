"""agentkit inside LangChain: an agentkit knowledge base and the embedded model in an LCEL chain. Offline.

    .venv/bin/python examples/langchain_agentkit_in_lcel.py ["your question"]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from agentkit.integrations.langchain import AgentkitChatModel, AgentkitRetriever
from agentkit.retrievers import KnowledgeBase

HERE = Path(__file__).resolve().parent


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "How many moons does Jupiter have?"
    kb = KnowledgeBase(HERE.parent / ".agentkit" / "example-lcel-kb")
    kb.ingest([HERE / "docs"])  # idempotent: a re-run embeds nothing
    retriever = AgentkitRetriever(retriever=kb, k=2)
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer the question from the context in one sentence."),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ])
    chain = (
        {"context": retriever | (lambda docs: "\n\n".join(d.page_content for d in docs)), "question": RunnablePassthrough()}
        | prompt
        | AgentkitChatModel(llm="llama-cpp://default", max_tokens=64)
        | StrOutputParser()
    )
    print("question:", question)
    print("answer:  ", chain.invoke(question).strip())
    for doc in retriever.invoke(question):
        print(f"  source: {Path(doc.metadata['source']).name}:{doc.metadata['start']}-{doc.metadata['end']}")


if __name__ == "__main__":
    main()
