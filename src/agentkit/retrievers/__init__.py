"""Retrievers: a Chroma-backed ``KnowledgeBase`` (dense, BM25, hybrid), plus the pieces it is made of."""

from agentkit.retrievers.base import IngestReport, KnowledgeBaseProtocol, RetrievedChunk, Retriever
from agentkit.retrievers.bm25 import BM25Index, tokenize
from agentkit.retrievers.fusion import mmr, reciprocal_rank_fusion
from agentkit.retrievers.knowledge_base import MODES, KnowledgeBase, chunk_id

__all__ = [
    "RetrievedChunk", "Retriever", "KnowledgeBaseProtocol", "BM25Index", "tokenize", "mmr", "reciprocal_rank_fusion", "MODES",
    "IngestReport", "KnowledgeBase", "chunk_id",
]
