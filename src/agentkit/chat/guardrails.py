"""Guardrails: checks on a model's output that pass it, retry with adjusted parameters, replace it, or fall
back to the next model in a chain. ``GuardedChat.reply`` runs the chain and records every decision.

Built-in guards: ``AttachmentClaims`` (the answer talks about an image/file the turn never had → fall back),
``Degenerate`` (empty, cut off at max_tokens, or looping → retry with more room / more penalty),
``LanguageRule`` (Traditional Chinese only: convert Simplified with OpenCC, retry when not Chinese at all).
Timeouts and backend errors move to the next model; when every model failed, the reply says so instead of
failing silently.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentkit.chinese import convert
from agentkit.errors import AgentkitError
from agentkit.llm import LLM, GenerationParams
from agentkit.llm.base import Completion, Message


@dataclass(frozen=True)
class Turn:
    """What the user sent this turn, as far as guards need to know."""

    text: str
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    action: str  # pass | retry | fallback | replace
    reason: str = ""
    replacement: str | None = None
    params: GenerationParams | None = None


PASS = Check("pass")


class Guard(Protocol):
    name: str

    def check(self, turn: Turn, completion: Completion, params: GenerationParams) -> Check: ...


_ATTACHMENT_CLAIM = re.compile(
    r"\b(the|this|your|attached|uploaded)\s+(image|photo|picture|screenshot|file|attachment|document|pdf|video)\b"
    r"|\b(in|from) the (image|photo|picture)\b|圖片|图片|照片|附件|截圖|截图|圖中|图中|您上傳|你上傳|您上传|你上传",
    re.IGNORECASE,
)


class AttachmentClaims:
    name = "attachment-claims"

    def check(self, turn: Turn, completion: Completion, params: GenerationParams) -> Check:
        if turn.attachments:
            return PASS
        hit = _ATTACHMENT_CLAIM.search(completion.text)
        if hit and not _ATTACHMENT_CLAIM.search(turn.text):
            return Check("fallback", f"mentions {hit.group(0)!r} but the turn had no attachment")
        return PASS


def repetitive(text: str) -> bool:
    """A loop: the text compresses far better than prose does, or one line repeats 3+ times."""
    if len(text) >= 200 and len(zlib.compress(text.encode())) / len(text.encode()) < 0.15:
        return True
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return any(lines.count(line) >= 3 for line in set(lines))


@dataclass
class Degenerate:
    max_tokens_cap: int = 4096
    name: str = "degenerate"

    def check(self, turn: Turn, completion: Completion, params: GenerationParams) -> Check:
        if not completion.text.strip():
            return Check("retry", "empty output", params=params.replace(temperature=max(params.temperature, 0.7), seed=(params.seed or 0) + 1))
        if repetitive(completion.text):
            return Check("retry", "repetitive output", params=params.replace(repeat_penalty=params.repeat_penalty + 0.2, temperature=max(params.temperature, 0.5), seed=(params.seed or 0) + 1))
        if completion.finish_reason == "length":
            if params.max_tokens >= self.max_tokens_cap:
                return Check("pass", "truncated at the token cap; kept as is")
            return Check("retry", f"truncated at max_tokens={params.max_tokens}", params=params.replace(max_tokens=min(self.max_tokens_cap, params.max_tokens * 2)))
        return PASS


_CJK = re.compile(r"[\u3400-\u9fff]")
_LETTERS = re.compile(r"[A-Za-z\u3400-\u9fff]")


@dataclass
class LanguageRule:
    """Only ``zh-TW`` (Traditional Chinese) or ``zh-CN`` (Simplified) output."""

    language: str = "zh-TW"
    name: str = "language"

    def check(self, turn: Turn, completion: Completion, params: GenerationParams) -> Check:
        text = completion.text
        letters = _LETTERS.findall(text)
        if letters and len(_CJK.findall(text)) / len(letters) < 0.3:
            return Check("retry", f"not written in {self.language}", params=params.replace(seed=(params.seed or 0) + 1))
        converted = convert(text, "s2twp" if self.language == "zh-TW" else "t2s")
        if converted != text:
            return Check("replace", f"converted to {self.language} script", replacement=converted)
        return PASS


@dataclass(frozen=True)
class Decision:
    model: str
    attempt: int
    guard: str
    action: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "attempt": self.attempt, "guard": self.guard, "action": self.action, "reason": self.reason}


def run_guards(guards: Sequence[Any], turn: Turn, completion: Completion, params: GenerationParams, model: str, attempt: int) -> tuple[str, Check, list[Decision]]:
    """Apply guards in order: replacements accumulate, the first retry/fallback stops the run.
    Returns (text after replacements, the stopping check or PASS, the decisions taken)."""
    text, decisions = completion.text, []
    for guard in guards:
        check = guard.check(turn, Completion(text, completion.reasoning, completion.usage, completion.finish_reason), params)
        if check.action == "pass":
            continue
        decisions.append(Decision(model, attempt, guard.name, check.action, check.reason))
        if check.action == "replace" and check.replacement is not None:
            text = check.replacement
            continue
        return text, check, decisions
    return text, PASS, decisions


@dataclass
class GuardedReply:
    text: str
    model: str
    fallback: bool = False
    decisions: list[Decision] = field(default_factory=list)
    completion: Completion | None = None


class GuardedChat:
    """``GuardedChat([pro, standard], [AttachmentClaims(), Degenerate()]).reply(messages, Turn(text))``."""

    def __init__(self, models: Sequence[LLM], guards: Sequence[Any] = (), max_retries: int = 2,
                 fallback_note: str = "(answered by the fallback model {model}: {reason})",
                 failure_text: str = "(could not analyze this request: {reason})") -> None:
        if not models:
            raise ValueError("GuardedChat needs at least one model")
        self.models = list(models)
        self.guards = list(guards)
        self.max_retries = max_retries
        self.fallback_note = fallback_note
        self.failure_text = failure_text

    def reply(self, messages: list[Message], turn: Turn, params: GenerationParams | None = None) -> GuardedReply:
        decisions: list[Decision] = []
        reason = ""
        for index, model in enumerate(self.models):
            current = params or GenerationParams()
            for attempt in range(self.max_retries + 1):
                try:
                    completion = model.generate(messages, current)
                except AgentkitError as exc:  # timeout, server down, context overflow: next model
                    reason = exc.message
                    decisions.append(Decision(model.spec, attempt, "error", "fallback", reason))
                    break
                text, verdict, taken = run_guards(self.guards, turn, completion, current, model.spec, attempt)
                decisions += taken
                if verdict.action == "pass":
                    if index > 0:
                        text = f"{text}\n{self.fallback_note.format(model=model.spec, reason=reason)}"
                    return GuardedReply(text, model.spec, index > 0, decisions, completion)
                reason = verdict.reason
                if verdict.action == "retry" and attempt < self.max_retries:
                    current = verdict.params or current
                    continue
                break  # fallback, or retries used up
        return GuardedReply(self.failure_text.format(reason=reason or "every model failed"), "", True, decisions)
