"""The one interface every vision backend implements: a system prompt, a user prompt and images in, text out.

A backend writes ``_achat`` (one request, async). The base enforces the timeout as a deadline on the whole call
— connecting, sending, waiting, reading — because a per-read timeout never fires on a server that hangs while
trickling bytes; on the deadline the request is cancelled and its connection closed. ``complete`` is the sync
API, derived with ``run_sync`` (network I/O is async-native; see ``agentkit.concurrency``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

from agentkit.concurrency import run_sync
from agentkit.errors import ConfigError, LLMTimeoutError
from agentkit.llm import Completion, GenerationParams
from agentkit.vision.image import PreparedImage

#: what a description call gets unless the caller says otherwise: room for a paragraph, 60 s in all
DEFAULT_VISION_PARAMS = GenerationParams(max_tokens=512, timeout=60.0, repeat_penalty=1.05)


class VisionModel(ABC):
    """Base of every vision backend. ``__init__`` is cheap: nothing is contacted before the first call."""

    #: the spec string this backend was built from, e.g. ``openai://127.0.0.1:8080/v1#qwen3-vl``
    spec: str = ""

    @abstractmethod
    async def _achat(self, system: str, prompt: str, images: Sequence[PreparedImage], params: GenerationParams) -> Completion:
        """One request with the images attached to the user turn; raise AgentkitError subclasses on failure."""

    async def acomplete(self, system: str, prompt: str, images: Sequence[PreparedImage], params: GenerationParams | None = None) -> Completion:
        """The model's answer about ``images``; raises LLMTimeoutError when ``params.timeout`` seconds pass first."""
        params = params or DEFAULT_VISION_PARAMS
        if not images:
            raise ConfigError("a vision call needs at least one image", "pass the prepared image(s)")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(params.timeout):
                completion = await self._achat(system, prompt, images, params)
        except TimeoutError:
            raise LLMTimeoutError(f"the vision model {self.spec} did not answer within {params.timeout:g} s",
                                  "raise --vision-timeout, attach a smaller image, or use a faster vision model") from None
        return dataclasses.replace(completion, model=self.spec, seconds=time.perf_counter() - started)

    def complete(self, system: str, prompt: str, images: Sequence[PreparedImage], params: GenerationParams | None = None) -> Completion:
        """Sync ``acomplete`` (works inside a running event loop too)."""
        return run_sync(self.acomplete(system, prompt, images, params))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
