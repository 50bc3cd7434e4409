"""One chat turn end to end: route → trim history to the window → stream the reply → guardrails (retry, replace,
fall back) → save. ``ChatEngine.respond`` returns the final text and every decision for the trace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentkit.chat.guardrails import AttachmentClaims, Decision, Degenerate, GuardedChat, LanguageRule, Turn, run_guards
from agentkit.chat.router import Route, Router, effort_params
from agentkit.chat.session import ChatSession, SessionStore, trim
from agentkit.llm import LLM, GenerationParams, load_llm
from agentkit.llm.base import Completion, Message

SAFETY_MARGIN = 32


@dataclass
class TurnResult:
    text: str
    model: str
    route: Route
    decisions: list[Decision] = field(default_factory=list)
    streamed_text: str = ""

    @property
    def changed_after_streaming(self) -> bool:
        return self.text != self.streamed_text


class ChatEngine:
    def __init__(self, standard: LLM | str | None = None, pro: LLM | str | None = None, language: str | None = None,
                 effort: str | None = None, max_tokens: int = 256, store: SessionStore | None = None, router: Router | None = None) -> None:
        self.standard = load_llm(standard)
        self.pro = load_llm(pro) if pro else None
        self.router = router or Router()
        self.guards: list[Any] = [Degenerate(), AttachmentClaims()] + ([LanguageRule(language)] if language in ("zh-TW", "zh-CN") else [])
        base = GenerationParams(max_tokens=max_tokens)
        self.params = effort_params(effort, base) if effort else base
        self.store = store

    def _chain(self, route: Route) -> list[LLM]:
        if self.pro is None:
            return [self.standard]
        return [self.pro, self.standard] if route.model == "pro" else [self.standard]

    def respond(self, session: ChatSession, text: str, attachments: tuple[str, ...] = (), on_token: Callable[[str], None] | None = None) -> TurnResult:
        route = self.router.route(text, bool(attachments)) if self.pro else Route("standard", "single model")
        chain = self._chain(route)
        session.add("user", text)
        first = chain[0]
        budget = first.context_window - self.params.max_tokens - SAFETY_MARGIN
        messages = trim(session.system, session.messages, budget, first.count_tokens)
        turn = Turn(text, attachments)
        streamed, completion = self._stream_first(first, messages, on_token)
        result: TurnResult
        if completion is not None:
            text_out, verdict, decisions = run_guards(self.guards, turn, completion, self.params, first.spec, 0)
            if verdict.action == "pass":
                result = TurnResult(text_out, first.spec, route, decisions, streamed)
            else:
                # Retry or fall back without streaming: the first stream is already on screen.
                params = verdict.params if verdict.action == "retry" and verdict.params else self.params
                models = chain if verdict.action == "retry" else chain[1:] or chain
                reply = GuardedChat(models, self.guards).reply(messages, turn, params)
                result = TurnResult(reply.text, reply.model, route, decisions + reply.decisions, streamed)
        else:
            reply = GuardedChat(chain[1:] or chain, self.guards).reply(messages, turn, self.params)
            result = TurnResult(reply.text, reply.model, route, [Decision(first.spec, 0, "error", "fallback", streamed)] + reply.decisions, "")
        session.add("assistant", result.text)
        if self.store:
            self.store.save(session)
        return result

    def _stream_first(self, model: LLM, messages: list[Message], on_token: Callable[[str], None] | None) -> tuple[str, Completion | None]:
        """Stream the first model's reply live; (text, completion) or (error message, None)."""
        from agentkit.errors import AgentkitError

        try:
            completion = model.generate(messages, self.params, on_token=on_token)
        except AgentkitError as exc:
            return exc.message, None
        return completion.text, completion
