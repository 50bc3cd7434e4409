"""Guardrails: checks on a model's output that pass it, retry with adjusted parameters, replace it, or fall
back to the next model in a chain. ``GuardedChat.reply`` runs the chain and records every decision.

Built-in guards: ``AttachmentClaims`` (the answer talks about an image/file the turn never had → fall back),
``Degenerate`` (empty, cut off at max_tokens, or looping → retry with more room / more penalty),
``LanguageRule`` (the script rule of ``agentkit.language``: Chinese in the wrong script is converted with OpenCC,
another language is retried, and kept with a note when retries do not help). Timeouts and backend errors move to
the next model; when every model failed, the reply says so instead of failing silently.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentkit.errors import AgentkitError
from agentkit.language import enforce, normalize_language, wrong_language_note
from agentkit.llm import LLM, GenerationParams
from agentkit.llm.base import Completion, Message


@dataclass(frozen=True)
class Turn:
    """What the user sent this turn, as far as guards need to know."""

    text: str
    attachments: tuple[str, ...] = ()
    #: files earlier turns carried whose descriptions are still in the messages the model sees (a follow-up
    #: question about an earlier photo may talk about it)
    in_view: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    action: str  # pass | retry | fallback | replace
    reason: str = ""
    replacement: str | None = None
    params: GenerationParams | None = None
    #: for a retry: when no model does better, keep the answer with this note instead of failing the turn
    #: (an answer in the wrong language still answers; the user should see it and why it is marked)
    keep_note: str | None = None


PASS = Check("pass")


class Guard(Protocol):
    name: str

    def check(self, turn: Turn, completion: Completion, params: GenerationParams) -> Check: ...


# What the user's own turn may say about media: when it already talks about an image or a file, an answer
# that does too is following the user, not inventing an attachment.
_USER_MEDIA = re.compile(
    r"\b(the|this|my|attached|uploaded)\s+(image|photo|picture|screenshot|file|attachment|document|pdf|video)\b"
    r"|圖片|图片|照片|附件|截圖|截图|圖中|图中|上傳|上传",
    re.IGNORECASE,
)

_MEDIA = r"(?:image|photo(?:graph)?|picture|pic|screen\s?shot|file|attachment|document|pdf|video|scan|x-ray|diagram|chart|spreadsheet|recording)s?"
_VISUAL = r"(?:image|photo(?:graph)?|picture|screen\s?shot|video|scan|x-ray|diagram|chart)s?"
_ZH_MEDIA = r"(?:圖片|图片|照片|相片|截圖|截图|螢幕截圖|屏幕截图|檔案|档案|文件|附件|影片|视频|表格|PDF|pdf|圖|图)"
_ZH_VISUAL = r"(?:圖片|图片|照片|相片|截圖|截图|影片|视频|附件|圖|图)"
# A claim presupposes that this turn carried media: the user's act of sending it ("the photo you sent",
# "您上傳的圖片"), the attachment itself, or a description of what it shows ("the image shows", "圖中").
# Instructions about files ("save the file", "open the image with Pillow", "用 Pillow 開啟圖片") are not claims.
_CLAIMS = [re.compile(p, re.IGNORECASE) for p in (
    rf"\byour\s+(?:attached|uploaded|shared|provided)\s+{_MEDIA}\b",
    r"\byour\s+attachments?\b",
    r"\b(?:the|this|that)\s+(?:attached\b|attachments?\b)",
    rf"\b{_MEDIA}\s+(?:that\s+|which\s+)?you(?:'ve|\s+have|\s+just)?\s+(?:sent|uploaded|attached|shared|provided|posted|included|submitted|pasted)\b",
    rf"\b(?:the|this|that|your)\s+{_VISUAL}\s+(?:clearly\s+|also\s+)?(?:shows(?!\s+up)|depicts|displays|contains|features|illustrates|reveals|captures|appears\s+to|seems\s+to|is\s+of)\b",
    rf"\b(?:I|we)\s+(?:can\s+|could\s+)?(?:see|notice|observe)\b[^.!?\n]{{0,40}}?\b(?:in|on|from)\s+(?:the|this|your)\s+{_MEDIA}\b",
    rf"^\W*(?:in|on|from|based\s+on|judging\s+(?:by|from)|looking\s+at|according\s+to)\s+(?:the|this|your)\s+{_MEDIA}\s*[,:;，]",
    rf"^\W*(?:in|on)\s+(?:this|your)\s+{_VISUAL}\b(?!\s+(?:processing|editing|editor|format|file|library|tutorial|example))",
    rf"\blooked\s+at\s+(?:the|this|your)\s+{_MEDIA}\s*[,:;]",
    rf"\bthanks?\s+(?:you\s+)?for\s+(?:the|this|your|sharing\s+the|sending\s+the)\s+{_MEDIA}\b",
    rf"(?:您|你)(?:剛才|剛剛|刚才|刚刚|所)?(?:上傳|上传|傳來|传来|傳送|传送|發來|发来|發送|发送|傳|传|發|发|提供|附上|分享|貼上|贴上|貼|贴)了?的\s*(?:這|这|那)?(?:張|张|份|個|个|段|支)?\s*{_ZH_MEDIA}",
    r"(?<!地)(?:圖|图)中|附件(?:中|裡|里|內|内)",
    rf"{_ZH_VISUAL}(?:中|裡|里)(?:可以|可|能)?(?:看到|看出|聽到|听到|顯示|显示|看起來|看起来|的(?!每|所有|任何))",
    rf"(?:從|从|根據|根据|看了|看過|看过)(?:這|这|該|该)?(?:張|张|份|段)?{_ZH_VISUAL}(?:來看|来看|可以看|可看|中|裡|里|顯示|显示)",
    rf"(?:這|这|該|该)(?:張|张|份|段|支){_ZH_MEDIA}(?:顯示|显示|中|裡|里|拍的|拍攝|拍摄|是|提到)",
)]
# A sentence that denies, asks, supposes or instructs ("I can't see the image you sent", "如果您上傳截圖",
# "把照片中的人物去背") before the phrase claims nothing.
_HEDGE = re.compile(
    r"\b(?:no|not|never|cannot|can't|couldn't|don't|doesn't|didn't|haven't|hasn't|isn't|wasn't|without|unable|if|please|could\s+you|can\s+you|would\s+you)\b|n't\b"
    r"|沒|没|未|無法|无法|看不到|看不见|看不見|不能|如果|若是|假如|請|请|把",
    re.IGNORECASE,
)
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n+")


def attachment_claim(text: str) -> str | None:
    """The first phrase in ``text`` that talks as if the turn carried an image, file or video; ``None`` if none.

    Checked sentence by sentence; a sentence that denies, asks, supposes or instructs before the phrase is no claim.
    The labelled corpus in tests/fixtures/attachment_claims.tsv (English, Traditional and Simplified Chinese)
    is the contract: every claim found, no non-claim flagged.
    """
    for sentence in _SENTENCES.split(text):
        for pattern in _CLAIMS:
            hit = pattern.search(sentence)
            if hit and not _HEDGE.search(sentence[: hit.start()]):
                return hit.group(0).strip()
    return None


class AttachmentClaims:
    name = "attachment-claims"

    def check(self, turn: Turn, completion: Completion, params: GenerationParams) -> Check:
        if turn.attachments or turn.in_view or _USER_MEDIA.search(turn.text):
            return PASS
        claim = attachment_claim(completion.text)
        if claim is not None:
            return Check("fallback", f"mentions {claim!r} but the turn had no attachment")
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


@dataclass
class LanguageRule:
    """The answer-language rule (``agentkit.language.enforce``): Chinese in the other script is converted (OpenCC),
    text in another language is retried and, when no model does better, kept with a note. ``language`` takes any
    usual spelling of the tag (``zh_TW``, ``zh-Hant``); an unknown one raises ConfigError."""

    language: str = "zh-TW"
    name: str = "language"

    def __post_init__(self) -> None:
        self.language = normalize_language(self.language) or "zh-TW"

    def check(self, turn: Turn, completion: Completion, params: GenerationParams) -> Check:
        verdict = enforce(completion.text, self.language)
        if verdict.action == "wrong-language":
            return Check("retry", verdict.reason, params=params.replace(seed=(params.seed or 0) + 1), keep_note=wrong_language_note(self.language))
        if verdict.action == "converted":
            return Check("replace", verdict.reason, replacement=verdict.text)
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


#: tokens kept free in a window beyond the prompt and the reply (token counts of servers are estimates)
SAFETY_MARGIN = 32


def fit_to_window(model: LLM, messages: Sequence[Message], params: GenerationParams, margin: int = SAFETY_MARGIN) -> GenerationParams:
    """``params`` with ``max_tokens`` lowered to what ``model``'s window leaves after ``messages`` (never below 1):
    a reply may not ask for more tokens than the window has left (``--effort high`` asks for 4096)."""
    room = model.context_window - model.count_message_tokens(messages) - margin
    return params if params.max_tokens <= room else params.replace(max_tokens=max(1, room))


class GuardedChat:
    """``GuardedChat([pro, standard], [AttachmentClaims(), Degenerate()]).reply(messages, Turn(text))``."""

    def __init__(self, models: Sequence[LLM], guards: Sequence[Any] = (), max_retries: int = 2,
                 fallback_note: str = "(answered by the fallback model {model}: {reason})",
                 failure_text: str = "(no reply: {reason})") -> None:
        if not models:
            raise ValueError("GuardedChat needs at least one model")
        self.models = list(models)
        self.guards = list(guards)
        self.max_retries = max_retries
        self.fallback_note = fallback_note
        self.failure_text = failure_text

    def reply(self, messages: list[Message], turn: Turn, params: GenerationParams | None = None,
              first: Completion | AgentkitError | None = None) -> GuardedReply:
        """Ask each model in turn until one's answer passes every guard; a fallback's answer carries the note.

        Every call's ``max_tokens`` is fitted to that model's window (``fit_to_window``). ``first`` is what
        ``models[0]`` already answered (or raised) for these messages and fitted params — e.g. streamed live
        by ``ChatEngine`` — and is judged instead of being generated again.
        """
        decisions: list[Decision] = []
        reason = ""
        kept: tuple[GuardedReply, str, str] | None = None  # (answer a guard marked keep-with-note, guard, reason): used when no model does better
        for index, model in enumerate(self.models):
            current = fit_to_window(model, messages, params or GenerationParams())
            for attempt in range(self.max_retries + 1):
                try:
                    completion = first if index == attempt == 0 and first is not None else model.generate(messages, current)
                    if isinstance(completion, AgentkitError):
                        raise completion
                except AgentkitError as exc:  # timeout, server down, context overflow: next model
                    reason = exc.message
                    decisions.append(Decision(model.spec, attempt, "error", "fallback", reason))
                    break
                text, verdict, taken = run_guards(self.guards, turn, completion, current, model.spec, attempt)
                decisions += taken
                if verdict.action == "retry" and attempt < self.max_retries:
                    retry = fit_to_window(model, messages, verdict.params or current)
                    if retry != current:
                        reason, current = verdict.reason, retry
                        continue
                    # Only more room would help, and the window has none left: the same call would repeat this answer.
                    decisions.append(Decision(model.spec, attempt, "window", "pass", f"kept: no room left in the {model.context_window}-token window to retry"))
                    verdict = PASS
                if verdict.action == "pass":
                    if index > 0:
                        text = f"{text}\n{self.fallback_note.format(model=model.spec, reason=reason)}"
                    return GuardedReply(text, model.spec, index > 0, decisions, completion)
                reason = verdict.reason
                if verdict.keep_note and kept is None and taken:
                    kept = GuardedReply(f"{text}\n{verdict.keep_note}", model.spec, index > 0, [], completion), taken[-1].guard, verdict.reason
                break  # fallback, or retries used up
        if kept is not None:
            answer, guard, why = kept
            decisions.append(Decision(answer.model, self.max_retries, guard, "keep", f"kept with a note: {why}"))
            return GuardedReply(answer.text, answer.model, answer.fallback, decisions, answer.completion)
        return GuardedReply(self.failure_text.format(reason=reason or "every model failed"), "", True, decisions)
