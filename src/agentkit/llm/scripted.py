"""A deterministic stand-in LLM for tests and dry runs: replies come from a script, not a model."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from agentkit.llm.base import LLM, GenerationParams, Message, StreamInfo

Reply = str | Callable[[list[Message]], str]


class ScriptedLLM(LLM):
    """Returns ``replies`` in order (cycling on the last); a callable reply sees the messages.

    Every call's messages are kept in ``calls`` so tests can assert on prompts. ``delay`` seconds
    per piece simulate a slow model; tokens are whitespace-separated words.
    """

    def __init__(self, replies: Sequence[Reply] = ("ok",), context_window: int = 4096, delay: float = 0.0, spec: str = "scripted://") -> None:
        if not replies:
            raise ValueError("ScriptedLLM needs at least one reply")
        self.replies = list(replies)
        self.context_window = context_window
        self.delay = delay
        self.spec = spec
        self.calls: list[list[Message]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        reply = self.replies[min(len(self.calls), len(self.replies) - 1)]
        self.calls.append(messages)
        text = reply(messages) if callable(reply) else reply
        words = text.split(" ")
        if len(words) > params.max_tokens:
            words, info.finish_reason = words[: params.max_tokens], "length"
        out = " ".join(words)
        for stop in params.stop:
            if stop in out:
                out = out[: out.index(stop)]
        for i, word in enumerate(out.split(" ")):
            if self.delay:
                time.sleep(self.delay)
            yield word if i == 0 else " " + word
