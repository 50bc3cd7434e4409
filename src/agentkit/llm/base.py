"""The one interface every LLM backend implements: messages in, text out.

A backend writes ``_stream`` (yield text pieces) and ``count_tokens``; the base turns that into
``generate`` (sync), ``agenerate`` (async), ``stream`` and ``astream``, strips ``<think>`` blocks of
reasoning models into ``Completion.reasoning``, and enforces the timeout between pieces.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agentkit.errors import ConfigError, LLMTimeoutError
from agentkit.llm.reasoning import split_reasoning

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    #: native tool calling: an assistant turn's calls (OpenAI shape), or the call id a "tool" turn answers
    tool_calls: tuple[dict[str, Any], ...] = ()
    tool_call_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = list(self.tool_calls)
        if self.tool_call_id:
            data["tool_call_id"] = self.tool_call_id
        return data


#: the longest answer, in tokens, wherever a caller does not say (library, CLI and MCP server alike)
DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class GenerationParams:
    """Sampling and limit options shared by all backends; unknown keys are rejected by ``from_dict``."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = DEFAULT_MAX_TOKENS
    repeat_penalty: float = 1.1
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    timeout: float | None = 120.0
    #: constrain the output to JSON matching this schema where the backend can (llama.cpp grammar,
    #: OpenAI-style ``response_format``, Ollama ``format``); callers still parse defensively
    json_schema: dict[str, Any] | None = dataclasses.field(default=None, hash=False)
    #: low | medium | high for reasoning models: OpenAI-style ``reasoning_effort``, Ollama ``think``;
    #: backends without the notion ignore it (the router also scales max_tokens and timeout with it)
    reasoning_effort: str | None = None
    #: OpenAI-style function specs for native tool calling (backends with ``supports_tools``)
    tools: tuple[dict[str, Any], ...] | None = dataclasses.field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 5.0:
            raise ConfigError(f"temperature={self.temperature} is out of range", "use a value in [0, 5]")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p={self.top_p} is out of range", "use a value in (0, 1]")
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens={self.max_tokens} must be positive", "use max_tokens >= 1")
        if self.repeat_penalty <= 0:
            raise ConfigError(f"repeat_penalty={self.repeat_penalty} must be positive", "use e.g. 1.1")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"timeout={self.timeout} must be positive", "use seconds > 0, or None")
        if self.reasoning_effort not in (None, "low", "medium", "high"):
            raise ConfigError(f"reasoning_effort={self.reasoning_effort!r} is not low, medium or high", "use low, medium or high")
        if isinstance(self.stop, str):  # a bare string would be split into characters
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))

    def replace(self, **changes: Any) -> GenerationParams:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"unknown generation option(s): {', '.join(sorted(unknown))}",
                f"use only: {', '.join(sorted(known))}",
            )
        return cls(**data)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens - other.prompt_tokens, self.completion_tokens - other.completion_tokens)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """A finished generation. ``text`` never contains ``<think>`` blocks; they are in ``reasoning``."""

    text: str
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    model: str = ""
    seconds: float = 0.0
    #: native tool calls the model asked for: ``{"id", "name", "arguments": dict}``
    tool_calls: tuple[dict[str, Any], ...] = ()


@dataclass
class StreamInfo:
    """What a backend learns while streaming (token counts, why it stopped); filled in by ``_stream``."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def as_messages(messages: str | Sequence[Message | dict[str, str]]) -> list[Message]:
    """Accept a bare prompt, Message objects or OpenAI-style dicts."""
    if isinstance(messages, str):
        return [Message("user", messages)]
    out = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        else:
            out.append(Message(m["role"], m["content"]))  # type: ignore[arg-type]
    return out


class LLM(ABC):
    """Base of every backend. Subclasses implement ``_stream`` and ``count_tokens``; ``__init__`` is cheap."""

    #: the spec string this backend was built from, e.g. ``llama-cpp://default``
    spec: str = ""
    #: the model's context window in tokens
    context_window: int = 4096
    #: whether ``GenerationParams.tools`` reaches the model as native tool calling (else use a JSON protocol)
    supports_tools: bool = False

    @abstractmethod
    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        """Yield raw text pieces (``<think>`` included); fill ``info`` with counts when known."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's own tokenizer (an estimate where the server has none)."""

    def count_message_tokens(self, messages: Sequence[Message]) -> int:
        # A few tokens of chat-template framing per message, as OpenAI's cookbook estimates.
        return sum(self.count_tokens(m.content) + 4 for m in messages) + 2

    def warm_up(self) -> None:  # noqa: B027 (an optional hook: backends that load lazily override it)
        """Load weights or check the server now instead of on the first call."""

    # ---- public API, shared by all backends ------------------------------------------------------

    def stream(self, messages: str | Sequence[Message | dict[str, str]], params: GenerationParams | None = None) -> Iterator[str]:
        """Yield answer text as it is generated (reasoning blocks are passed through unfiltered)."""
        params = params or GenerationParams()
        deadline = None if params.timeout is None else time.monotonic() + params.timeout
        for piece in self._stream(as_messages(messages), params, StreamInfo()):
            if deadline is not None and time.monotonic() > deadline:
                raise self._timeout(params)
            yield piece

    def generate(self, messages: str | Sequence[Message | dict[str, str]], params: GenerationParams | None = None,
                 on_token: Callable[[str], None] | None = None) -> Completion:
        """The whole completion; ``on_token`` sees each raw piece as it arrives (for live display)."""
        params = params or GenerationParams()
        msgs = as_messages(messages)
        info = StreamInfo()
        started = time.perf_counter()
        deadline = None if params.timeout is None else time.monotonic() + params.timeout
        pieces = []
        for piece in self._stream(msgs, params, info):
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)
            if deadline is not None and time.monotonic() > deadline:
                raise self._timeout(params)
        raw = "".join(pieces)
        text, reasoning = split_reasoning(raw)
        usage = Usage(
            info.prompt_tokens if info.prompt_tokens is not None else self.count_message_tokens(msgs),
            info.completion_tokens if info.completion_tokens is not None else self.count_tokens(raw),
        )
        return Completion(text, reasoning, usage, info.finish_reason, self.spec, time.perf_counter() - started, tuple(info.tool_calls))

    async def agenerate(self, messages: str | Sequence[Message | dict[str, str]], params: GenerationParams | None = None) -> Completion:
        """Async generate; backends with a native async client may override it."""
        return await asyncio.to_thread(self.generate, messages, params)

    async def astream(self, messages: str | Sequence[Message | dict[str, str]], params: GenerationParams | None = None) -> AsyncIterator[str]:
        """Async stream, bridged from the sync stream through a thread and a queue."""
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            try:
                for piece in self.stream(messages, params):
                    loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except BaseException as exc:  # re-raised in the consumer
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        task = loop.run_in_executor(None, pump)
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                yield value
            elif kind == "error":
                await task
                raise value
            else:
                break
        await task

    def _timeout(self, params: GenerationParams) -> LLMTimeoutError:
        return LLMTimeoutError(
            f"{self.spec or type(self).__name__} did not finish within {params.timeout:g} s",
            "raise the timeout (GenerationParams(timeout=...) or --timeout) or lower max_tokens",
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
