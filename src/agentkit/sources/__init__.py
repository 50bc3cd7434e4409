"""Where a pipeline's context comes from: a knowledge base, the web, or both fused.

This layer composes retrievers (knowledge bases) with tools (search, fetching); neither of those imports it.
"""

from agentkit.retrievers.open import open_knowledge_base
from agentkit.sources.select import DEFAULT_SEARCH, SOURCES, build_retriever, default_search_spec, retriever_from_dict
from agentkit.sources.web import MultiRetriever, WebRetriever

__all__ = ["DEFAULT_SEARCH", "SOURCES", "build_retriever", "default_search_spec", "open_knowledge_base", "retriever_from_dict", "MultiRetriever", "WebRetriever"]
