"""The built-in steps. Each is a small class whose ``__call__`` maps a QAState to a new QAState.

Each declares the state fields it needs (``reads``) and fills (``writes``); ``Pipeline`` checks the chain when it
is built. Each round-trips through ``to_dict``/``from_dict`` (models and retrievers as spec strings), which is what
lets a run's ``run.json`` rebuild the pipeline that produced it.
"""

from __future__ import annotations

import re
from typing import Any

from agentkit.agents import KEYWORD_EXTRACTION, QA, QUESTION_EXTRACTION, ContextBlock, LLMAgent
from agentkit.agents.llm_agent import AgentOutput
from agentkit.errors import ConfigError
from agentkit.language import wrong_language_note
from agentkit.llm import LLM, GenerationParams
from agentkit.pipeline.core import QAState
from agentkit.retrievers.base import Retriever
from agentkit.vision import ImageDescriber, VisionModel


def _with_output(state: QAState, out: AgentOutput, **changes: Any) -> QAState:
    return state.replace(usage=state.usage + out.usage, **changes)


class ExtractQuestion:
    """Rewrites a long message into the one question it asks (sets ``query``)."""

    name = "extract_question"
    reads = ("question",)
    writes = ("query",)

    def __init__(self, llm: LLM | str | None = None, params: GenerationParams | None = None) -> None:
        self.agent = LLMAgent.from_role(QUESTION_EXTRACTION, llm, params=params or GenerationParams(max_tokens=96))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "llm": self.agent.llm.spec, "params": self.agent.params.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], llm: LLM | None = None) -> ExtractQuestion:
        return cls(llm or data["llm"], GenerationParams.from_dict(data.get("params", {})))

    def __call__(self, state: QAState) -> QAState:
        return self._apply(state, self.agent.run(state.question))

    def _apply(self, state: QAState, out: AgentOutput) -> QAState:
        # A weak model may return nothing useful, or a sentence about something else (SmolLM2 often says
        # "The user wants to know ..."): when the rewrite shares too few words with the input, keep the input.
        query = _first_line(out.text)
        if not query or _overlap(query, state.question) < 0.5:
            query = state.question
        return _with_output(state, out, query=query)


class ExtractKeywords:
    """Turns the question into search keywords (sets ``keywords``)."""

    name = "extract_keywords"
    reads = ("question",)
    writes = ("keywords",)

    def __init__(self, llm: LLM | str | None = None, max_keywords: int = 6, params: GenerationParams | None = None, grounded: bool = True) -> None:
        if max_keywords < 1:
            raise ConfigError(f"max_keywords={max_keywords} must be >= 1", "keep at least one keyword")
        self.agent = LLMAgent.from_role(KEYWORD_EXTRACTION, llm, params=params or GenerationParams(max_tokens=48))
        self.max_keywords = max_keywords
        #: keep only keywords that share a word (or CJK character pair) with the question: drops a weak
        #: model's filler ("The", "user") at the cost of cross-language expansions
        self.grounded = grounded

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "llm": self.agent.llm.spec, "max_keywords": self.max_keywords, "grounded": self.grounded,
                "params": self.agent.params.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], llm: LLM | None = None) -> ExtractKeywords:
        return cls(llm or data["llm"], data.get("max_keywords", 6), GenerationParams.from_dict(data.get("params", {})), data.get("grounded", True))

    def __call__(self, state: QAState) -> QAState:
        return self._apply(state, self.agent.run(state.query or state.question))

    def _apply(self, state: QAState, out: AgentOutput) -> QAState:
        keywords = parse_keywords(out.text, self.max_keywords * 2 if self.grounded else self.max_keywords)
        if self.grounded:
            source = f"{state.question} {state.query}"
            keywords = tuple(k for k in keywords if _overlap(k, source) > 0)[: self.max_keywords]
        return _with_output(state, out, keywords=keywords)


class Retrieve:
    """Looks up ``state.search_query`` in any retriever (sets ``contexts``)."""

    name = "retrieve"
    reads = ("question",)
    writes = ("contexts",)

    def __init__(self, retriever: Retriever, k: int = 4) -> None:
        if not isinstance(retriever, Retriever):
            raise ConfigError(f"{retriever!r} is not a retriever", "pass an object with retrieve(query, k)")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k={k!r} must be a whole number >= 1", "retrieve at least one chunk")
        self.retriever = retriever
        self.k = k

    def to_dict(self) -> dict[str, Any]:
        to_dict = getattr(self.retriever, "to_dict", None)
        if to_dict is None:
            raise ConfigError(f"the retriever {self.retriever!r} cannot be saved", "give it to_dict(), or rebuild this pipeline in code")
        return {"type": self.name, "k": self.k, "retriever": to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], retriever: Retriever | None = None) -> Retrieve:
        from agentkit.sources.select import retriever_from_dict

        return cls(retriever or retriever_from_dict(data["retriever"]), data.get("k", 4))

    def __call__(self, state: QAState) -> QAState:
        return state.replace(contexts=tuple(self.retriever.retrieve(state.search_query, self.k)))


class DescribeImage:
    """Describes each attached image with a vision model (sets ``descriptions``).

    A vision model that fails or times out does not fail the run: its description carries the error and a note,
    which ``Answer`` shows. A file that is not a readable image is a user error (InputError) before any call."""

    name = "describe_image"
    reads = ("images",)
    writes = ("descriptions",)

    def __init__(self, vision: VisionModel | str | ImageDescriber) -> None:
        self.describer = vision if isinstance(vision, ImageDescriber) else ImageDescriber(vision)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, **self.describer.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], vision: VisionModel | None = None) -> DescribeImage:
        return cls(ImageDescriber.from_dict(data, vision))

    def __call__(self, state: QAState) -> QAState:
        prepared = [self.describer.prepare(path) for path in state.images]  # every file checked before the first call
        descriptions = tuple(self.describer.describe(image, state.question) for image in prepared)
        usage = state.usage
        for d in descriptions:
            usage = usage + d.usage
        return state.replace(descriptions=descriptions, usage=usage)


class Answer:
    """Answers the question over ``contexts`` fitted to the window (sets ``answer`` and ``sources``).

    Image descriptions (``DescribeImage``) enter as system messages; the note of an image that could not be
    analyzed is appended to the answer, so the fallback is visible wherever the answer goes. ``language`` is enforced
    by the agent (Chinese converted to the asked script); an answer still in another language after a retry gets a
    note in ``notes``, not in its text (distillation must not store the note as part of an answer)."""

    name = "answer"
    reads = ("question",)
    writes = ("answer", "reasoning", "sources", "notes")

    def __init__(self, llm: LLM | str | None = None, language: str | None = None, params: GenerationParams | None = None, system: str = "") -> None:
        # ``system``: a persona put before the role's own system message (distillation's --system), so the answer
        # is written the way the student will be asked to answer.
        self.system = system
        role = QA.replace(description=f"{system}\n\n{QA.description}") if system.strip() else QA
        self.agent = LLMAgent.from_role(role, llm, language=language, params=params or GenerationParams())

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.name, "llm": self.agent.llm.spec, "language": self.agent.language, "params": self.agent.params.to_dict()}
        return data | ({"system": self.system} if self.system else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any], llm: LLM | None = None) -> Answer:
        return cls(llm or data["llm"], data.get("language"), GenerationParams.from_dict(data.get("params", {})), data.get("system", ""))

    def _blocks(self, state: QAState) -> list[ContextBlock]:
        return [ContextBlock(c.text, c.label, c.untrusted) for c in state.contexts]

    def __call__(self, state: QAState) -> QAState:
        notes = [d.system_message() for d in state.descriptions]
        return self._apply(state, self.agent.run(state.question, self._blocks(state), notes))

    def _apply(self, state: QAState, out: AgentOutput) -> QAState:
        # Sources are the contexts that actually reached the prompt, in order (cut ones keep their span).
        used = state.contexts[: len(out.context_used)]
        answer = "\n".join([out.text] + [d.note for d in state.descriptions if d.note])
        notes = state.notes + ((wrong_language_note(self.agent.language),) if out.language_missed else ())
        return _with_output(state, out, answer=answer, reasoning=out.reasoning, sources=used, notes=notes)


def _overlap(text: str, reference: str) -> float:
    """Share of ``text``'s search tokens (words, CJK characters and bigrams) that occur in ``reference``."""
    from agentkit.retrievers.bm25 import tokenize

    tokens = set(tokenize(text))
    return len(tokens & set(tokenize(reference))) / len(tokens) if tokens else 0.0


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().strip('"“”「」').strip()
        if line:
            return re.sub(r"^(question|問題|问题)\s*[:：]\s*", "", line, flags=re.IGNORECASE)
    return ""


def parse_keywords(text: str, limit: int) -> tuple[str, ...]:
    """Keywords from free-form model output: split on commas, 、, newlines, bullets; de-duplicated."""
    text = re.sub(r"^(keywords?|關鍵字|关键词)\s*[:：]", "", text.strip(), flags=re.IGNORECASE)
    parts = re.split(r"[,，、;；\n]|\s{2,}|(?:^|\s)[-*•]\s|\d+[.)]\s", text)
    seen: dict[str, None] = {}
    for part in parts:
        for word in ([part] if len(part) <= 40 else part.split()):
            word = word.strip(" \t\"'“”「」.。")
            if word and word.lower() not in (k.lower() for k in seen):
                seen[word] = None
    return tuple(seen)[:limit]
