"""LangChain, both ways.

agentkit → LangChain: ``AgentkitRetriever`` (any agentkit retriever as a ``BaseRetriever``) and
``AgentkitChatModel`` (any agentkit LLM as a ``BaseChatModel``, with ``bind_tools`` and ``with_structured_output``),
so agentkit pieces plug into LCEL chains and LangChain tool loops.

LangChain → agentkit: ``LangChainRetriever`` (any LangChain retriever, e.g. a ``langchain-chroma`` store's
``as_retriever()``) and ``LangChainLLM`` (any LangChain chat model, e.g. ``ChatOllama``), usable in every
agentkit pipeline step. Needs ``langchain-core``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers import BaseOutputParser, JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict

from agentkit.errors import BackendUnavailableError, ConfigError
from agentkit.llm import LLM, Completion, GenerationParams, load_llm
from agentkit.llm.base import Message, StreamInfo
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


def _content(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)


def _wire_calls(message: AIMessage) -> tuple[dict[str, Any], ...]:
    """LangChain's ``tool_calls`` in the OpenAI wire shape that ``Message.tool_calls`` carries."""
    return tuple({"id": c.get("id") or "", "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["args"], ensure_ascii=False)}}
                 for c in message.tool_calls)


def _to_messages(messages: Sequence[BaseMessage], native_tools: bool = True) -> list[Message]:
    """LangChain messages as agentkit messages. Tool turns go over as native ``tool_calls`` / ``tool`` messages, or,
    for a backend without native tool calling, in the JSON protocol its tool prompt asked for."""
    out: list[Message] = []
    names = {c.get("id"): c["name"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
    for m in messages:
        if isinstance(m, AIMessage) and m.tool_calls:
            if native_tools:
                out.append(Message("assistant", _content(m), tool_calls=_wire_calls(m)))
            else:
                calls = [{"tool": c["name"], "arguments": c["args"]} for c in m.tool_calls]
                out.append(Message("assistant", json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)))
        elif isinstance(m, ToolMessage):
            if native_tools:
                out.append(Message("tool", _content(m), tool_call_id=m.tool_call_id))
            else:
                name = m.name or names.get(m.tool_call_id, "the tool")
                out.append(Message("user", f"Observation from {name}{' (error)' if m.status == 'error' else ''}:\n{_content(m)}"))
        else:
            out.append(Message(_ROLES.get(m.type, "user"), _content(m)))  # type: ignore[arg-type]
    return out


def _tool_protocol(tools: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """For backends without native tools: the agentkit tool agent's JSON protocol (system text, schema)."""
    from agentkit.agents.tool_agent import SYSTEM

    catalog = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    schema = {"anyOf": [
        {"type": "object", "properties": {"tool": {"type": "string", "enum": [t["name"] for t in tools]}, "arguments": {"type": "object"}}, "required": ["tool", "arguments"]},
        {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    ]}
    return SYSTEM.format(tools=catalog), schema


class AgentkitChatModel(BaseChatModel):
    """``AgentkitChatModel(llm="llama-cpp://default", max_tokens=128)`` — any agentkit backend as a chat model.

    ``bind_tools(tools)`` sends the tools as OpenAI-style function specs (``GenerationParams.tools``) to backends
    with native tool calling, and otherwise asks for agentkit's JSON tool protocol (a grammar on llama.cpp); either
    way the reply's calls come back as ``AIMessage.tool_calls``. ``with_structured_output(schema)`` constrains the
    reply with ``GenerationParams.json_schema`` and parses it (a pydantic model, or a dict for a JSON schema).
    """

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

    def _params(self, stop: list[str] | None, **changes: Any) -> GenerationParams:
        return GenerationParams(max_tokens=self.max_tokens, temperature=self.temperature, stop=tuple(stop or ()), **changes)

    def bind_tools(self, tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """This model with ``tools`` (LangChain tools, functions, pydantic models or OpenAI specs) offered on every call."""
        if tool_choice not in (None, "auto"):
            raise ConfigError(f"tool_choice={tool_choice!r} is not supported by agentkit backends", "leave tool_choice unset (the model decides)")
        specs = [convert_to_openai_tool(t)["function"] for t in tools]
        return self.bind(tools=specs, **kwargs)  # the same binding LangChain's own models return

    def with_structured_output(self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any) -> Runnable[Any, Any]:
        """Replies constrained to ``schema`` and parsed: a pydantic model's instance, or a dict for a JSON schema
        (or an OpenAI function spec / TypedDict). With ``include_raw``: ``{"raw", "parsed", "parsing_error"}``."""
        if kwargs:
            raise ConfigError(f"unsupported with_structured_output option(s): {', '.join(sorted(kwargs))}", "pass only schema and include_raw")
        parser: BaseOutputParser[Any]
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            json_schema, parser = schema.model_json_schema(), PydanticOutputParser(pydantic_object=schema)
        else:
            json_schema = schema if isinstance(schema, dict) and "properties" in schema else convert_to_openai_tool(schema)["function"]["parameters"]
            parser = JsonOutputParser()
        bound = self.bind(json_schema=json_schema)
        if not include_raw:
            return bound | parser

        def parse(raw: BaseMessage) -> dict[str, Any]:
            try:
                return {"raw": raw, "parsed": parser.invoke(raw), "parsing_error": None}
            except Exception as exc:  # reported beside the raw reply, as LangChain's own include_raw does
                return {"raw": raw, "parsed": None, "parsing_error": exc}

        return bound | RunnableLambda(parse)

    def _complete(self, messages: list[BaseMessage], stop: list[str] | None, tools: Sequence[dict[str, Any]] | None = None,
                  json_schema: dict[str, Any] | None = None) -> tuple[Completion, list[dict[str, Any]]]:
        """The completion and its tool calls in LangChain's shape (``name``, ``args``, ``id``)."""
        if not tools:
            completion = self.llm.generate(_to_messages(messages), self._params(stop, json_schema=json_schema))
            return completion, []
        if self.llm.supports_tools:
            completion = self.llm.generate(_to_messages(messages), self._params(stop, tools=tuple(tools)))
            return completion, [{"name": c["name"], "args": c["arguments"], "id": c["id"], "type": "tool_call"} for c in completion.tool_calls]
        from agentkit.agents.tool_agent import parse_action

        system, schema = _tool_protocol(tools)
        converted = _to_messages(messages, native_tools=False)
        if converted and converted[0].role == "system":
            converted[0] = Message("system", f"{converted[0].content}\n\n{system}")
        else:
            converted.insert(0, Message("system", system))
        completion = self.llm.generate(converted, self._params(stop, json_schema=schema))
        action = parse_action(completion.text)
        if action.get("tool") in {t["name"] for t in tools}:
            call = {"name": action["tool"], "args": action.get("arguments") or {}, "id": f"call_{hashlib.sha256(completion.text.encode()).hexdigest()[:12]}", "type": "tool_call"}
            return Completion("", completion.reasoning, completion.usage, "tool_calls", completion.model, completion.seconds), [call]
        answer = str(action.get("answer", completion.text)).strip()
        return Completion(answer, completion.reasoning, completion.usage, completion.finish_reason, completion.model, completion.seconds), []

    def _message(self, completion: Completion, calls: list[dict[str, Any]]) -> AIMessage:
        usage = {"input_tokens": completion.usage.prompt_tokens, "output_tokens": completion.usage.completion_tokens,
                 "total_tokens": completion.usage.prompt_tokens + completion.usage.completion_tokens}
        return AIMessage(content=completion.text, tool_calls=calls, usage_metadata=usage,
                         response_metadata={"finish_reason": completion.finish_reason, "model": self.llm.spec})

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._message(*self._complete(messages, stop, **kwargs)))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        if kwargs.get("tools") or kwargs.get("json_schema"):
            # Tool calls and structured replies are only known whole: one chunk carries them.
            message = self._message(*self._complete(messages, stop, **kwargs))
            chunks = [tool_call_chunk(name=c["name"], args=json.dumps(c["args"], ensure_ascii=False), id=c["id"], index=i) for i, c in enumerate(message.tool_calls)]
            yield ChatGenerationChunk(message=AIMessageChunk(content=message.content, tool_call_chunks=chunks, usage_metadata=message.usage_metadata))
            return
        for piece in self.llm.stream(_to_messages(messages), self._params(stop)):
            if run_manager:
                run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


# ---- LangChain → agentkit ---------------------------------------------------------------------------


class LangChainRetriever:
    """Any LangChain retriever as an agentkit retriever. ``k`` is passed where the retriever takes it
    (``search_kwargs``, on a copy: the wrapped retriever is never changed); spans come from metadata
    ``start``/``end`` (else the whole text)."""

    def __init__(self, retriever: Any) -> None:
        self.retriever = retriever

    def _asking_for(self, k: int) -> Any:
        search_kwargs = getattr(self.retriever, "search_kwargs", None)
        if isinstance(search_kwargs, dict) and hasattr(self.retriever, "model_copy"):
            return self.retriever.model_copy(update={"search_kwargs": {**search_kwargs, "k": k}})
        return self.retriever

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedChunk]:
        out = []
        for rank, doc in enumerate(self._asking_for(k).invoke(query)[:k]):
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

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
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


