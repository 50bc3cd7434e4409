"""Routing between a standard and a "pro" model: greetings and small talk go to the standard model,
everything else to the pro model. Rules first (cheap, explainable); an optional classifier LLM for the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentkit.llm import GenerationParams

_GREETING = re.compile(
    r"^\s*(hi|hello|hey|yo|good (morning|afternoon|evening|night)|thanks?( you)?|thank you( so much)?|bye|goodbye|see you|ok(ay)?|cool|nice|great|"
    r"how are you( doing)?|what'?s up|你好|您好|哈囉|哈啰|嗨|早安|午安|晚安|謝謝|谢谢|掰掰|再見|再见|好的|收到)\W*$",
    re.IGNORECASE,
)
# Signals of work the standard model should not take: reasoning, code, analysis, many clauses.
_COMPLEX = re.compile(r"\b(why|explain|compare|analy[sz]e|prove|derive|calculate|step by step|code|debug|plan)\b|為什麼|为什么|解釋|解释|分析|比較|比较|計算|计算|證明|证明", re.IGNORECASE)

#: reasoning_effort → (max_tokens, timeout seconds)
EFFORT = {"low": (256, 60.0), "medium": (1024, 180.0), "high": (4096, 600.0)}


@dataclass(frozen=True)
class Route:
    model: str  # "standard" or "pro"
    reason: str


def effort_params(effort: str, base: GenerationParams | None = None) -> GenerationParams:
    """GenerationParams for a reasoning effort: the backend's own knob plus max tokens and timeout."""
    if effort not in EFFORT:
        from agentkit.errors import ConfigError

        raise ConfigError(f"unknown reasoning effort '{effort}'", f"use one of: {', '.join(EFFORT)}")
    max_tokens, timeout = EFFORT[effort]
    return (base or GenerationParams()).replace(reasoning_effort=effort, max_tokens=max_tokens, timeout=timeout)


class Router:
    """``Router().route("hi")`` → Route("standard", ...). With ``classifier`` (an LLM), messages the rules do not
    settle are asked "is this a simple greeting or small talk?"; otherwise they go to the pro model."""

    def __init__(self, classifier: Any = None, max_simple_chars: int = 40) -> None:
        self.classifier = classifier
        self.max_simple_chars = max_simple_chars

    def route(self, message: str, has_attachments: bool = False) -> Route:
        text = message.strip()
        if has_attachments:
            return Route("pro", "the turn has attachments")
        if _GREETING.match(text):
            return Route("standard", "greeting or small talk")
        if _COMPLEX.search(text):
            return Route("pro", "asks for reasoning or analysis")
        if len(text) > self.max_simple_chars or text.count("?") + text.count("？") > 1:
            return Route("pro", "long or multi-part message")
        if self.classifier is not None:
            from agentkit.agents import LLMAgent

            verdict = LLMAgent(
                "You classify chat messages.", "Is this message a simple greeting or small talk that needs no knowledge or reasoning? Answer yes or no.",
                self.classifier, params=GenerationParams(max_tokens=3), input_label="Message",
            ).run(text).text.strip().lower()
            if verdict.startswith(("yes", "是")):
                return Route("standard", "classifier: simple")
            return Route("pro", "classifier: not simple")
        return Route("pro", "not recognized as small talk")
