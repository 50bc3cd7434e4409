"""One chat turn end to end: describe attached images → route → trim history to the window → stream the reply →
guardrails (retry, replace, fall back) → save. ``ChatEngine.respond`` returns the final text, every decision and
every image description for the trace."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.chat.guardrails import SAFETY_MARGIN, Decision, GuardedChat, Turn, fit_to_window
from agentkit.chat.router import Route, Router, effort_params
from agentkit.chat.session import Attachment, ChatSession, SessionStore, trim
from agentkit.errors import AgentkitError, ConfigError
from agentkit.language import normalize_language
from agentkit.llm import LLM, GenerationParams, load_llm
from agentkit.llm.base import Completion, Message
from agentkit.plugins import registry
from agentkit.vision import ImageDescriber, ImageDescription, PreparedImage


@dataclass
class TurnResult:
    text: str
    model: str
    route: Route
    decisions: list[Decision] = field(default_factory=list)
    streamed_text: str = ""
    #: one per attached image, in order: what the vision model said, or why it could not
    descriptions: tuple[ImageDescription, ...] = ()

    @property
    def changed_after_streaming(self) -> bool:
        return self.text != self.streamed_text

    @property
    def notes(self) -> tuple[str, ...]:
        """The visible notes of images that could not be analyzed."""
        return tuple(d.note for d in self.descriptions if d.note)


class ChatEngine:
    def __init__(self, standard: LLM | str | None = None, pro: LLM | str | None = None, language: str | None = None,
                 effort: str | None = None, max_tokens: int = 256, store: SessionStore | None = None, router: Router | None = None,
                 describer: ImageDescriber | None = None) -> None:
        self.standard = load_llm(standard)
        self.pro = load_llm(pro) if pro else None
        self.router = router or Router()
        guards = registry("guard")  # built by name: a plugin's guard is added the same way
        self.guards: list[Any] = [guards.build("degenerate"), guards.build("attachment-claims")]
        language = normalize_language(language)  # zh_TW, zh-tw, zh-Hant … read; unknown tags refused here
        if language:
            self.guards.append(guards.build("language-rule", language=language))
        base = GenerationParams(max_tokens=max_tokens)
        self.params = effort_params(effort, base) if effort else base
        self.store = store
        #: describes attached images (``None``: this engine takes no images)
        self.describer = describer

    def _chain(self, route: Route) -> list[LLM]:
        if self.pro is None:
            return [self.standard]
        return [self.pro, self.standard] if route.model == "pro" else [self.standard]

    def respond(self, session: ChatSession, text: str, images: Sequence[str | Path | PreparedImage] = (),
                on_token: Callable[[str], None] | None = None, on_image: Callable[[ImageDescription], None] | None = None) -> TurnResult:
        """Answer ``text``; each of ``images`` is described first (``on_image`` sees each description as it is
        ready), enters the history as a system message before the turn, and is recorded on the turn.

        Raises ConfigError when images come but the engine has no describer, InputError when one is not a
        readable image — in both cases before the session changes. A vision model that fails or times out
        does not fail the turn: its description carries the note, and the chat model is told it saw nothing."""
        descriptions = self._describe(text, images, on_image)
        for d in descriptions:
            session.add("system", d.system_message())
        session.add("user", text, [Attachment(d.image.name, d.image.mime, d.image.sha256, d.image.width, d.image.height, d.ok, d.model)
                                   for d in descriptions])
        route = self.router.route(text, bool(descriptions)) if self.pro else Route("standard", "single model")
        chain = self._chain(route)
        first = chain[0]
        # The reply may claim at most half the window, so the history always keeps room; the reply's
        # max_tokens is then fitted to what the trimmed history leaves (fit_to_window).
        reply_room = min(self.params.max_tokens, first.context_window // 2)
        messages = trim(session.system, session.messages, first.context_window - reply_room - SAFETY_MARGIN, first.count_tokens)
        turn = Turn(text, tuple(d.image.name for d in descriptions), _earlier_in_view(session, messages, len(descriptions)))
        streamed = self._stream_first(first, messages, fit_to_window(first, messages, self.params), on_token)
        # The guards judge the streamed answer; retries and fallbacks run without streaming (the first
        # stream is already on screen), and a fallback's answer keeps its note.
        reply = GuardedChat(chain, self.guards).reply(messages, turn, self.params, first=streamed)
        result = TurnResult(reply.text, reply.model, route, reply.decisions, streamed.text if isinstance(streamed, Completion) else "", descriptions)
        session.add("assistant", result.text)
        if self.store:
            self.store.save(session)
        return result

    def _describe(self, text: str, images: Sequence[str | Path | PreparedImage], on_image: Callable[[ImageDescription], None] | None) -> tuple[ImageDescription, ...]:
        if not images:
            return ()
        if self.describer is None:
            raise ConfigError("this chat has no vision model to look at images", "start agentkit chat with --vision-llm openai://HOST:PORT/v1#MODEL or ollama://MODEL")
        prepared = [self.describer.prepare(image) for image in images]  # every file checked before the first call
        descriptions = []
        for image in prepared:
            descriptions.append(self.describer.describe(image, text))
            if on_image is not None:
                on_image(descriptions[-1])
        return tuple(descriptions)

    def _stream_first(self, model: LLM, messages: list[Message], params: GenerationParams, on_token: Callable[[str], None] | None) -> Completion | AgentkitError:
        """Stream the first model's reply live; its completion, or the error it raised."""
        try:
            return model.generate(messages, params, on_token=on_token)
        except AgentkitError as exc:
            return exc


def _earlier_in_view(session: ChatSession, sent: list[Message], current: int) -> tuple[str, ...]:
    """Names of files earlier turns carried whose description (the system messages just before that turn) is among
    the ``sent`` messages; ``current`` is how many files this turn carried (its own turn is not "earlier")."""
    sent_ids = {id(m) for m in sent}
    newest = len(session.messages) - 1
    names = []
    for index, files in session.attachments.items():
        if index == newest and current:
            continue
        if any(id(session.messages[j]) in sent_ids for j in range(max(0, index - len(files)), index)):
            names += [a.name for a in files]
    return tuple(names)
