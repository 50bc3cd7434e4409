"""LangChain, both ways.

agentkit → LangChain: ``AgentkitRetriever`` (any agentkit retriever as a ``BaseRetriever``) and
``AgentkitChatModel`` (any agentkit LLM as a ``BaseChatModel``), so agentkit pieces plug into LCEL chains.

LangChain → agentkit: ``LangChainRetriever`` (any LangChain retriever, e.g. a ``langchain-chroma`` store's
``as_retriever()``) and ``LangChainLLM`` (any LangChain chat model, e.g. ``ChatOllama``), usable in every
agentkit pipeline step. Needs ``langchain-core``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from agentkit.errors import BackendUnavailableError
from agentkit.llm import LLM, GenerationParams, load_llm
from agentkit.llm.base import Message, _StreamInfo
from agentkit.retrievers.base import RetrievedChunk

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


# ---- agentkit → LangChain ---------------------------------------------------------------------------


class AgentkitRetriever(BaseRetriever):
    """``AgentkitRetriever(retriever=KnowledgeBase(...), k=4)``: Documents carry source, span and scores."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    retriever: Any
    k: int = 4

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content=c.text, metadata={**c.metadata, "source": c.source, "start": c.start, "end": c.end, "score": c.score, "chunk_id": c.chunk_id})
            for c in self.retriever.retrieve(query, self.k)
        ]


def _to_messages(messages: list[BaseMessage]) -> list[Message]:
    return [Message(_ROLES.get(m.type, "user"), m.content if isinstance(m.content, str) else str(m.content)) for m in messages]


class AgentkitChatModel(BaseChatModel):
    """``AgentkitChatModel(llm="llama-cpp://default", max_tokens=128)`` — any agentkit backend as a chat model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    llm: Any = None
    max_tokens: int = 256
    temperature: float = 0.0

    def model_post_init(self, context: Any) -> None:
        self.llm = load_llm(self.llm)

    @property
    def _llm_type(self) -> str:
        return "agentkit"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"spec": self.llm.spec, "max_tokens": self.max_tokens, "temperature": self.temperature}

    def _params(self, stop: list[str] | None) -> GenerationParams:
        return GenerationParams(max_tokens=self.max_tokens, temperature=self.temperature, stop=tuple(stop or ()))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        completion = self.llm.generate(_to_messages(messages), self._params(stop))
        usage = {"input_tokens": completion.usage.prompt_tokens, "output_tokens": completion.usage.completion_tokens,
                 "total_tokens": completion.usage.prompt_tokens + completion.usage.completion_tokens}
        message = AIMessage(content=completion.text, usage_metadata=usage, response_metadata={"finish_reason": completion.finish_reason, "model": self.llm.spec})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self.llm.stream(_to_messages(messages), self._params(stop)):
            if run_manager:
                run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


# ---- LangChain → agentkit ---------------------------------------------------------------------------


class LangChainRetriever:
    """Any LangChain retriever as an agentkit retriever. ``k`` is passed where the retriever takes it
    (``search_kwargs``); spans come from metadata ``start``/``end`` (else the whole text)."""

    def __init__(self, retriever: Any) -> None:
        self.retriever = retriever

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]:
        search_kwargs = getattr(self.retriever, "search_kwargs", None)
        if isinstance(search_kwargs, dict):
            search_kwargs["k"] = k
        out = []
        for rank, doc in enumerate(self.retriever.invoke(query)[:k]):
            meta = dict(doc.metadata or {})
            start = int(meta.get("start", meta.get("start_index", 0)) or 0)
            end = int(meta.get("end", start + len(doc.page_content)))
            chunk_id = str(getattr(doc, "id", None) or hashlib.sha256(f"{meta.get('source', '')}\0{doc.page_content}".encode()).hexdigest()[:16])
            score = float(meta.get("score", 1.0 / (rank + 1)))
            out.append(RetrievedChunk(doc.page_content, str(meta.get("source", "")), start, end, score, chunk_id, meta, {"langchain_rank": rank + 1}))
        return out


class LangChainLLM(LLM):
    """Any LangChain chat model as an agentkit LLM (``LangChainLLM(ChatOllama(model="llama3.2"))``).
    Token counts are estimated with cl100k unless the model reports usage."""

    def __init__(self, model: Any, context_window: int = 8192, spec: str = "") -> None:
        self.model = model
        self.context_window = context_window
        self.spec = spec or f"langchain:{type(model).__name__}"

    def count_tokens(self, text: str) -> int:
        from agentkit.llm.openai_compat import estimate_tokens

        return estimate_tokens(text)

    def _stream(self, messages: list[Message], params: GenerationParams, info: _StreamInfo) -> Iterator[str]:
        from langchain_core.messages import AIMessage as AI
        from langchain_core.messages import HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AI}
        converted = [kinds.get(m.role, HumanMessage)(content=m.content) for m in messages]
        try:
            bound = self.model.bind(stop=list(params.stop)) if params.stop else self.model
            for chunk in bound.stream(converted):
                text = chunk.content if isinstance(chunk.content, str) else ""
                usage = getattr(chunk, "usage_metadata", None)
                if usage:
                    info.prompt_tokens = usage.get("input_tokens", info.prompt_tokens)
                    info.completion_tokens = usage.get("output_tokens", info.completion_tokens)
                if text:
                    yield text
        except Exception as exc:  # third-party models raise anything; the user gets one line, the cause stays chained
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise BackendUnavailableError(f"the LangChain model {self.spec} failed: {first_line}", "check that its server runs and the model exists") from exc


