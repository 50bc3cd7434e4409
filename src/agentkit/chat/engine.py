"""One chat turn end to end: route → trim history to the window → stream the reply → guardrails (retry, replace,
fall back) → save. ``ChatEngine.respond`` returns the final text and every decision for the trace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentkit.chat.guardrails import SAFETY_MARGIN, Decision, GuardedChat, Turn, fit_to_window
from agentkit.plugins import registry
from agentkit.chat.router import Route, Router, effort_params
from agentkit.chat.session import ChatSession, SessionStore, trim
from agentkit.errors import AgentkitError
from agentkit.llm import LLM, GenerationParams, load_llm
from agentkit.llm.base import Completion, Message


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
        guards = registry("guard")  # built by name: a plugin's guard is added the same way
        self.guards: list[Any] = [guards.build("degenerate"), guards.build("attachment-claims")]
        if language in ("zh-TW", "zh-CN"):
            self.guards.append(guards.build("language-rule", language=language))
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
        # The reply may claim at most half the window, so the history always keeps room; the reply's
        # max_tokens is then fitted to what the trimmed history leaves (fit_to_window).
        reply_room = min(self.params.max_tokens, first.context_window // 2)
        messages = trim(session.system, session.messages, first.context_window - reply_room - SAFETY_MARGIN, first.count_tokens)
        turn = Turn(text, attachments)
        streamed = self._stream_first(first, messages, fit_to_window(first, messages, self.params), on_token)
        # The guards judge the streamed answer; retries and fallbacks run without streaming (the first
        # stream is already on screen), and a fallback's answer keeps its note.
        reply = GuardedChat(chain, self.guards).reply(messages, turn, self.params, first=streamed)
        result = TurnResult(reply.text, reply.model, route, reply.decisions, streamed.text if isinstance(streamed, Completion) else "")
        session.add("assistant", result.text)
        if self.store:
            self.store.save(session)
        return result

    def _stream_first(self, model: LLM, messages: list[Message], params: GenerationParams, on_token: Callable[[str], None] | None) -> Completion | AgentkitError:
        """Stream the first model's reply live; its completion, or the error it raised."""
        try:
            return model.generate(messages, params, on_token=on_token)
        except AgentkitError as exc:
            return exc
