"""agentkit: question-answering agents and RAG pipelines on local models.

    from agentkit import pipeline, KnowledgeBase
    kb = KnowledgeBase(".agentkit/kb"); kb.ingest(["docs/"])
    result = pipeline.create("rag", llm="llama-cpp://default", retriever=kb).run("What is X?")
"""

from agentkit import pipeline
from agentkit.agents import LLMAgent, Role
from agentkit.errors import AgentkitError
from agentkit.llm import GenerationParams, Message, load_llm
from agentkit.retrievers import KnowledgeBase, RetrievedChunk

__version__ = "0.1.0"
__all__ = ["pipeline", "LLMAgent", "Role", "AgentkitError", "GenerationParams", "Message", "load_llm", "KnowledgeBase", "RetrievedChunk", "__version__"]
