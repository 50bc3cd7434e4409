"""Vision over an OpenAI-compatible chat server: vLLM, llama.cpp's llama-server (with ``--mmproj``), mlx-vlm's
server, LM Studio, Ollama's ``/v1``.

Wire format (OpenAI's ``ChatCompletionContentPartTextParam`` / ``ChatCompletionContentPartImageParam``): the user
message's ``content`` is a list of parts, ``{"type": "text", "text": ...}`` first, then one
``{"type": "image_url", "image_url": {"url": "data:<mime>;base64,<data>"}}`` per image. llama.cpp's server
requires the URL to start with ``data:image/`` and its first part to end in ``base64``; Ollama's ``/v1`` accepts
only jpeg, png and webp MIME types there. The system message stays a plain string.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from agentkit.errors import BackendUnavailableError, ConfigError, LLMTimeoutError
from agentkit.llm import Completion, GenerationParams, Usage
from agentkit.llm.openai_compat import raise_for_status
from agentkit.llm.reasoning import split_reasoning
from agentkit.spec import Spec
from agentkit.vision.base import VisionModel
from agentkit.vision.image import PreparedImage


@dataclass(frozen=True)
class OpenAIVisionOptions:
    """``openai://HOST:PORT/v1#MODEL``. ``n_ctx`` is accepted so that an ``--llm`` spec works as a vision spec;
    the server's own window applies."""

    n_ctx: int | None = None


def user_content(prompt: str, images: Sequence[PreparedImage]) -> list[dict[str, Any]]:
    """The user message's content parts: the text, then each image as a data URL."""
    return [{"type": "text", "text": prompt}] + [{"type": "image_url", "image_url": {"url": image.data_url()}} for image in images]


class OpenAIVision(VisionModel):
    """One non-streamed ``POST /chat/completions`` per call. The model comes from the spec fragment, or is the
    server's only model (``GET /models``)."""

    def __init__(self, base_url: str, model: str = "", api_key: str | None = None, spec: str = "") -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base URL '{base_url}' must start with http:// or https://", "e.g. openai://127.0.0.1:8080/v1#qwen3-vl")
        self.base_url = base_url.rstrip("/")
        self._model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.spec = spec or f"openai://{self.base_url.split('://', 1)[1]}#{model}"

    @classmethod
    def from_spec(cls, spec: Spec, options: OpenAIVisionOptions | None) -> OpenAIVision:
        if not spec.target:
            raise ConfigError(f"'{spec.raw}' names no server", "write openai://HOST:PORT/v1#MODEL")
        scheme = "https" if spec.scheme.endswith("+https") else "http"
        return cls(f"{scheme}://{spec.target}", spec.fragment, spec=spec.raw)

    def body(self, model: str, system: str, prompt: str, images: Sequence[PreparedImage], params: GenerationParams) -> dict[str, Any]:
        """The request body, exactly as sent."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": user_content(prompt, images)})
        body: dict[str, Any] = {"model": model, "messages": messages, "temperature": params.temperature, "top_p": params.top_p,
                                "max_tokens": params.max_tokens, "stream": False}
        if params.seed is not None:
            body["seed"] = params.seed
        return body

    async def _achat(self, system: str, prompt: str, images: Sequence[PreparedImage], params: GenerationParams) -> Completion:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with httpx.AsyncClient(headers=headers, timeout=params.timeout) as client:
                model = self._model or await self._only_model(client)
                response = await client.post(self.base_url + "/chat/completions", json=self.body(model, system, prompt, images, params))
                _raise_for_status(response, self.base_url)
                data = response.json()
        except httpx.TimeoutException:
            raise LLMTimeoutError(f"the vision server at {self.base_url} did not answer within {params.timeout} s", "raise --vision-timeout") from None
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"cannot reach the vision server at {self.base_url}: {exc}", "start it or fix the URL in the spec") from None
        except ValueError:
            raise BackendUnavailableError(f"the vision server at {self.base_url} answered something that is not JSON", "check that the URL ends in /v1") from None
        return _completion(data, self.base_url)

    async def _only_model(self, client: httpx.AsyncClient) -> str:
        response = await client.get(self.base_url + "/models")
        _raise_for_status(response, self.base_url)
        models = response.json().get("data") or []
        if len(models) != 1:
            names = ", ".join(m.get("id", "?") for m in models) or "none"
            raise ConfigError(f"{self.base_url} serves models [{names}]", "name the vision model after '#', e.g. openai://host:port/v1#NAME")
        self._model = str(models[0]["id"])
        return self._model


def _completion(data: Any, where: str) -> Completion:
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise BackendUnavailableError(f"the vision server at {where} answered without choices[0].message", "check the server's log") from None
    if isinstance(content, list):  # some servers answer in content parts too
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    text, reasoning = split_reasoning(str(content))
    usage = data.get("usage") or {}
    return Completion(text, reasoning, Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
                      choice.get("finish_reason") or "stop")


def _raise_for_status(response: httpx.Response, where: str) -> None:
    raise_for_status(response, f"the vision server at {where}", "check that the model can see images")
