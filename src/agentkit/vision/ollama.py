"""Vision through Ollama's native ``/api/chat`` and its official client.

Wire format (ollama/ollama ``api/types.go``: ``Message.Images []ImageData`` with ``type ImageData []byte``, which
Go's JSON reads as standard base64; ``docs/api.md``, "Chat request (with images)"): the user message carries
``"images": ["<base64 without a data: prefix>"]`` beside a plain-string ``content``. Before sending, the model's
``capabilities`` (``/api/show``) must list ``vision``: Ollama itself does not refuse images for a text-only model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentkit.errors import ConfigError
from agentkit.llm import Completion, GenerationParams, Usage
from agentkit.llm.ollama import ollama_error, ollama_host
from agentkit.llm.reasoning import split_reasoning
from agentkit.spec import Spec
from agentkit.vision.base import VisionModel
from agentkit.vision.image import PreparedImage


@dataclass(frozen=True)
class OllamaVisionOptions:
    """``ollama://MODEL?host=http://h:11434&n_ctx=8192``; without ``n_ctx`` the model's own context length applies."""

    host: str | None = None
    n_ctx: int | None = None


class OllamaVision(VisionModel):
    def __init__(self, model: str, host: str | None = None, context_window: int | None = None, spec: str = "") -> None:
        if not model:
            raise ConfigError("no Ollama vision model named", "e.g. ollama://qwen2.5vl")
        self.model = model
        self.host = ollama_host(host)
        self.context_window = context_window
        self.spec = spec or f"ollama://{model}"
        self._capabilities: frozenset[str] | None = None

    @classmethod
    def from_spec(cls, spec: Spec, options: OllamaVisionOptions | None) -> OllamaVision:
        options = options or OllamaVisionOptions()
        return cls(spec.target, options.host, options.n_ctx, spec=spec.raw)

    def messages(self, system: str, prompt: str, images: Sequence[PreparedImage]) -> list[dict[str, Any]]:
        """The messages as sent: images as base64 strings on the user message."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt, "images": [image.base64() for image in images]})
        return messages

    def options(self, params: GenerationParams) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p, "num_predict": params.max_tokens,
                                   "repeat_penalty": params.repeat_penalty}
        if params.seed is not None:
            options["seed"] = params.seed
        if self.context_window:
            options["num_ctx"] = self.context_window
        return options

    async def _achat(self, system: str, prompt: str, images: Sequence[PreparedImage], params: GenerationParams) -> Completion:
        import ollama

        try:
            async with ollama.AsyncClient(host=self.host, timeout=params.timeout) as client:
                await self._check_vision(client)
                response = await client.chat(model=self.model, messages=self.messages(system, prompt, images), options=self.options(params), stream=False)
        except ConfigError:
            raise
        except Exception as exc:
            raise ollama_error(exc, self.host, self.model, params.timeout) from None
        text, reasoning = split_reasoning(response.message.content or "")
        thinking = getattr(response.message, "thinking", None) or ""
        return Completion(text, "\n\n".join(r for r in (thinking, reasoning) if r), Usage(response.prompt_eval_count or 0, response.eval_count or 0),
                          "length" if response.done_reason == "length" else "stop")

    async def _check_vision(self, client: Any) -> None:
        if self._capabilities is None:
            shown = await client.show(self.model)
            self._capabilities = frozenset(getattr(shown, "capabilities", None) or ())
        # Ollama before 0.6.4 lists no capabilities: then only the answer can tell.
        if self._capabilities and "vision" not in self._capabilities:
            raise ConfigError(f"the Ollama model {self.model} cannot see images (its capabilities: {', '.join(sorted(self._capabilities))})",
                              "use a vision model, e.g. ollama pull qwen2.5vl and --vision-llm ollama://qwen2.5vl")
