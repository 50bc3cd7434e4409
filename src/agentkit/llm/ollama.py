"""Ollama through its official Python client (host from ``OLLAMA_HOST`` or ``?host=``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentkit.errors import BackendUnavailableError, ConfigError, LLMTimeoutError, ModelNotFoundError
from agentkit.llm.base import LLM, GenerationParams, Message, StreamInfo
from agentkit.llm.openai_compat import estimate_tokens
from agentkit.spec import Spec

DEFAULT_HOST = "http://127.0.0.1:11434"


@dataclass(frozen=True)
class OllamaOptions:
    """``ollama://MODEL?host=http://h:11434&n_ctx=8192``."""

    host: str | None = None
    n_ctx: int = 4096


def ollama_host(explicit: str | None = None) -> str:
    host = explicit or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
    return host if "://" in host else f"http://{host}"


def ollama_error(exc: Exception, host: str, model: str, timeout: float | None) -> Exception:
    """Map the ollama client's and httpx's exceptions to agentkit's one-line errors."""
    import httpx
    import ollama

    if isinstance(exc, httpx.TimeoutException):
        return LLMTimeoutError(f"Ollama at {host} did not answer within {timeout} s", "raise the timeout or lower max_tokens")
    if isinstance(exc, (httpx.HTTPError, ConnectionError)):
        return BackendUnavailableError(f"cannot reach Ollama at {host}", "start it with 'ollama serve' or set OLLAMA_HOST")
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404:
            return ModelNotFoundError(f"Ollama at {host} has no model '{model}': {exc.error}", f"run: ollama pull {model}")
        return BackendUnavailableError(f"Ollama at {host} answered HTTP {exc.status_code}: {exc.error}", "check the Ollama server's log")
    return exc


class OllamaLLM(LLM):
    def __init__(self, model: str, host: str | None = None, context_window: int = 4096, spec: str = "") -> None:
        if not model:
            raise ConfigError("no Ollama model named", "e.g. ollama://llama3.2:3b")
        self.model = model
        self.host = ollama_host(host)
        self.context_window = context_window
        self.spec = spec or f"ollama://{model}"
        self._capabilities: frozenset[str] | None = None  # asked of the server once, on first need

    @classmethod
    def from_spec(cls, spec: Spec, options: OllamaOptions) -> OllamaLLM:
        return cls(spec.target, options.host, options.n_ctx, spec=spec.raw)

    def _client(self, timeout: float | None) -> Any:
        import ollama

        return ollama.Client(host=self.host, timeout=timeout)

    def capabilities(self) -> frozenset[str]:
        """What the server says this model can do (``completion``, ``thinking``, ``tools``, ``vision`` ...), from
        ``/api/show``; asked once per instance. Empty when the server does not say (Ollama before 0.6.4)."""
        if self._capabilities is None:
            try:
                shown = self._client(30).show(self.model)
            except Exception as exc:
                raise ollama_error(exc, self.host, self.model, 30) from None
            self._capabilities = frozenset(getattr(shown, "capabilities", None) or ())
        return self._capabilities

    def _think(self, params: GenerationParams) -> dict[str, Any]:
        # Ollama answers 400 '"<model>" does not support thinking' to `think` on a model without the capability,
        # so it goes only where the server lists "thinking". Thinking models think by default without it.
        if params.reasoning_effort and "thinking" in self.capabilities():
            return {"think": params.reasoning_effort}
        return {}

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _options(self, params: GenerationParams) -> dict[str, Any]:
        options: dict[str, Any] = {
            "temperature": params.temperature,
            "top_p": params.top_p,
            "num_predict": params.max_tokens,
            "repeat_penalty": params.repeat_penalty,
            "num_ctx": self.context_window,
        }
        if params.stop:
            options["stop"] = list(params.stop)
        if params.seed is not None:
            options["seed"] = params.seed
        return options

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        think = self._think(params)
        thinking = False
        try:
            for part in self._client(params.timeout).chat(
                model=self.model, messages=[m.to_dict() for m in messages], options=self._options(params), stream=True,
                format=params.json_schema, **think,
            ):
                thought = getattr(part.message, "thinking", None) if part.message else None
                if thought:  # Ollama streams thoughts apart; as a <think> block they become Completion.reasoning
                    if not thinking:
                        thinking = True
                        yield "<think>"
                    yield thought
                piece = part.message.content if part.message else ""
                if piece:
                    if thinking:
                        thinking = False
                        yield "</think>"
                    yield piece
                if part.done:
                    info.prompt_tokens = part.prompt_eval_count
                    info.completion_tokens = part.eval_count
                    info.finish_reason = "length" if part.done_reason == "length" else "stop"
            if thinking:
                yield "</think>"
        except Exception as exc:
            raise ollama_error(exc, self.host, self.model, params.timeout) from None
