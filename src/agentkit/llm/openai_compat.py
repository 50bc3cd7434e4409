"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, xinference, LM Studio) over httpx."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from agentkit.errors import BackendUnavailableError, ConfigError, LLMTimeoutError, ModelNotFoundError
from agentkit.llm.base import LLM, GenerationParams, Message, StreamInfo
from agentkit.spec import Spec


@dataclass(frozen=True)
class OpenAIOptions:
    """``openai://HOST:PORT/v1?n_ctx=8192#MODEL``."""

    n_ctx: int = 4096


def estimate_tokens(text: str) -> int:
    """cl100k count: a stand-in for servers that expose no tokenizer."""
    from agentkit.chunking.tokenizers import get_tokenizer

    return int(get_tokenizer("cl100k").count(text))


class OpenAICompatLLM(LLM):
    """Chat completions over HTTP. The model name comes from the spec fragment or the server's only model."""

    supports_tools = True  # OpenAI-style `tools` / `tool_calls` (vLLM, llama.cpp server, xinference)

    def __init__(self, base_url: str, model: str = "", api_key: str | None = None, context_window: int = 4096, spec: str = "") -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base URL '{base_url}' must start with http:// or https://", "e.g. openai://127.0.0.1:8000/v1#model")
        self.base_url = base_url.rstrip("/")
        self._model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.context_window = context_window
        self.spec = spec or f"openai://{self.base_url.split('://', 1)[1]}#{model}"
        # How this server takes a JSON schema: OpenAI's and vLLM's "json_schema" form, or llama-cpp-python's
        # {"type": "json_object", "schema": ...} — learnt from the first refusal, then kept.
        self._schema_form = "json_schema"

    @classmethod
    def from_spec(cls, spec: Spec, options: OpenAIOptions) -> OpenAICompatLLM:
        if not spec.target:
            raise ConfigError(f"'{spec.raw}' names no server", "write openai://HOST:PORT/v1#MODEL")
        scheme = "https" if spec.scheme.endswith("+https") else "http"
        return cls(f"{scheme}://{spec.target}", spec.fragment, context_window=options.n_ctx, spec=spec.raw)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _request(self, method: str, path: str, timeout: float | None, **kwargs: Any) -> httpx.Response:
        try:
            response = httpx.request(method, self.base_url + path, headers=self._headers(), timeout=timeout, **kwargs)
        except httpx.TimeoutException:
            raise LLMTimeoutError(f"{self.base_url} did not answer within {timeout} s", "raise the timeout or check the server load") from None
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"cannot reach {self.base_url}: {exc}", "start the server or fix the URL in the spec") from None
        _raise_for_status(response, self.base_url)
        return response

    @property
    def model(self) -> str:
        if not self._model:
            models = self._request("GET", "/models", 10).json().get("data", [])
            if len(models) != 1:
                names = ", ".join(m.get("id", "?") for m in models) or "none"
                raise ConfigError(f"{self.base_url} serves models [{names}]", "name one after '#' in the spec, e.g. openai://host:port/v1#NAME")
            self._model = models[0]["id"]
        return self._model

    def warm_up(self) -> None:
        _ = self.model

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _body(self, messages: list[Message], params: GenerationParams, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_dict() for m in messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "stream": stream,
            # Not in OpenAI's API but honoured by vLLM and llama.cpp; others ignore it.
            "repeat_penalty": params.repeat_penalty,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.reasoning_effort:
            body["reasoning_effort"] = params.reasoning_effort
        if params.tools:
            body["tools"] = [{"type": "function", "function": t} for t in params.tools]
        if params.json_schema and not params.tools:
            if self._schema_form == "json_object":
                body["response_format"] = {"type": "json_object", "schema": params.json_schema}
            else:
                body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": params.json_schema}}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _refuses_schema_form(self, body: dict[str, Any], response: httpx.Response) -> bool:
        """Whether this refusal is about the "json_schema" form of ``response_format`` (llama-cpp-python's
        server answers 500 "Input should be 'text' or 'json_object'"): then the other form is worth one try."""
        sent = (body.get("response_format") or {}).get("type") == "json_schema"
        return sent and response.status_code >= 400 and "response_format" in response.text and "json_object" in response.text

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        try:
            yield from self._stream_once(messages, params, info)
        except _SchemaFormRefused:
            self._schema_form = "json_object"
            yield from self._stream_once(messages, params, info)

    def _stream_once(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        body = self._body(messages, params, stream=True)
        partial_calls: dict[int, dict[str, Any]] = {}
        try:
            with httpx.stream("POST", self.base_url + "/chat/completions", json=body, headers=self._headers(), timeout=params.timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    if self._refuses_schema_form(body, response):
                        raise _SchemaFormRefused
                    _raise_for_status(response, self.base_url)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if event.get("usage"):
                        info.prompt_tokens = event["usage"].get("prompt_tokens")
                        info.completion_tokens = event["usage"].get("completion_tokens")
                    for choice in event.get("choices") or []:
                        delta = choice.get("delta") or {}
                        piece = delta.get("content")
                        if piece:
                            yield piece
                        for call in delta.get("tool_calls") or []:
                            _accumulate_tool_call(partial_calls, call)
                        if choice.get("finish_reason"):
                            info.finish_reason = choice["finish_reason"]
                info.tool_calls = [_finish_tool_call(c) for _, c in sorted(partial_calls.items())]
        except httpx.TimeoutException:
            raise LLMTimeoutError(f"{self.base_url} did not answer within {params.timeout} s", "raise the timeout or lower max_tokens") from None
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"cannot reach {self.base_url}: {exc}", "start the server or fix the URL in the spec") from None


class _SchemaFormRefused(Exception):
    """Raised before anything was yielded: the server wants the other form of ``response_format``."""


def _accumulate_tool_call(partial: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
    """Streamed tool calls arrive in pieces keyed by ``index``: the id and name once, the arguments in fragments."""
    entry = partial.setdefault(int(delta.get("index", len(partial))), {"id": "", "name": "", "arguments": ""})
    entry["id"] = delta.get("id") or entry["id"]
    function = delta.get("function") or {}
    entry["name"] = function.get("name") or entry["name"]
    entry["arguments"] += function.get("arguments") or ""


def _finish_tool_call(entry: dict[str, Any]) -> dict[str, Any]:
    try:
        arguments = json.loads(entry["arguments"] or "{}")
    except ValueError:
        arguments = {"_unparsed": entry["arguments"]}  # the tool agent reports it back to the model
    return {"id": entry["id"], "name": entry["name"], "arguments": arguments}


def raise_for_status(response: httpx.Response, where: str, otherwise: str = "check the server's log") -> None:
    """An OpenAI-style error answer as one agentkit error (404: model, 401/403: key, else ``otherwise``)."""
    if response.status_code < 400:
        return
    try:
        detail: Any = response.json()
        detail = detail.get("error", detail) if isinstance(detail, dict) else detail
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
    except ValueError:
        detail = response.text[:200]
    if response.status_code == 404:
        raise ModelNotFoundError(f"{where} answered 404: {detail}", "check the model name after '#' and the /v1 path")
    if response.status_code in (401, 403):
        raise BackendUnavailableError(f"{where} refused the request ({response.status_code}): {detail}", "set OPENAI_API_KEY to a valid key")
    raise BackendUnavailableError(f"{where} answered HTTP {response.status_code}: {detail}", otherwise)


_raise_for_status = raise_for_status
