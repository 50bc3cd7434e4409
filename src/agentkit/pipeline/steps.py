"""The built-in steps. Each is a small class whose ``__call__`` maps a QAState to a new QAState."""

from __future__ import annotations

import re
from typing import Any

from agentkit.agents import KEYWORD_EXTRACTION, QA, QUESTION_EXTRACTION, ContextBlock, LLMAgent
from agentkit.agents.llm_agent import AgentOutput
from agentkit.errors import ConfigError
from agentkit.llm import LLM, GenerationParams
from agentkit.pipeline.core import QAState
from agentkit.retrievers.base import Retriever


def _with_output(state: QAState, out: AgentOutput, **changes: Any) -> QAState:
    return state.replace(usage=state.usage + out.usage, **changes)


class ExtractQuestion:
    """Rewrites a long message into the one question it asks (sets ``query``)."""

    name = "extract_question"

    def __init__(self, llm: LLM | str | None = None, params: GenerationParams | None = None) -> None:
        self.agent = LLMAgent.from_role(QUESTION_EXTRACTION, llm, params=params or GenerationParams(max_tokens=96))

    def __call__(self, state: QAState) -> QAState:
        return self._apply(state, self.agent.run(state.question))

    async def arun(self, state: QAState) -> QAState:
        return self._apply(state, await self.agent.arun(state.question))

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

    def __init__(self, llm: LLM | str | None = None, max_keywords: int = 6, params: GenerationParams | None = None, grounded: bool = True) -> None:
        self.agent = LLMAgent.from_role(KEYWORD_EXTRACTION, llm, params=params or GenerationParams(max_tokens=48))
        self.max_keywords = max_keywords
        #: keep only keywords that share a word (or CJK character pair) with the question: drops a weak
        #: model's filler ("The", "user") at the cost of cross-language expansions
        self.grounded = grounded

    def __call__(self, state: QAState) -> QAState:
        return self._apply(state, self.agent.run(state.query or state.question))

    async def arun(self, state: QAState) -> QAState:
        return self._apply(state, await self.agent.arun(state.query or state.question))

    def _apply(self, state: QAState, out: AgentOutput) -> QAState:
        keywords = parse_keywords(out.text, self.max_keywords * 2 if self.grounded else self.max_keywords)
        if self.grounded:
            source = f"{state.question} {state.query}"
            keywords = tuple(k for k in keywords if _overlap(k, source) > 0)[: self.max_keywords]
        return _with_output(state, out, keywords=keywords)


class Retrieve:
    """Looks up ``state.search_query`` in any retriever (sets ``contexts``)."""

    name = "retrieve"

    def __init__(self, retriever: Retriever, k: int = 4) -> None:
        if not hasattr(retriever, "retrieve"):
            raise ConfigError(f"{retriever!r} is not a retriever", "pass an object with retrieve(query, k)")
        if k < 1:
            raise ConfigError(f"k={k} must be >= 1", "retrieve at least one chunk")
        self.retriever = retriever
        self.k = k

    def __call__(self, state: QAState) -> QAState:
        return state.replace(contexts=tuple(self.retriever.retrieve(state.search_query, self.k)))


class Answer:
    """Answers the question over ``contexts`` fitted to the window (sets ``answer`` and ``sources``)."""

    name = "answer"

    def __init__(self, llm: LLM | str | None = None, language: str | None = None, params: GenerationParams | None = None) -> None:
        self.agent = LLMAgent.from_role(QA, llm, language=language, params=params or GenerationParams(max_tokens=192))

    def _blocks(self, state: QAState) -> list[ContextBlock]:
        return [ContextBlock(c.text, c.label, bool(c.metadata.get("untrusted"))) for c in state.contexts]

    def __call__(self, state: QAState) -> QAState:
        return self._apply(state, self.agent.run(state.question, self._blocks(state)))

    async def arun(self, state: QAState) -> QAState:
        return self._apply(state, await self.agent.arun(state.question, self._blocks(state)))

    def _apply(self, state: QAState, out: AgentOutput) -> QAState:
        # Sources are the contexts that actually reached the prompt, in order (cut ones keep their span).
        used = state.contexts[: len(out.context_used)]
        return _with_output(state, out, answer=out.text, reasoning=out.reasoning, sources=used)


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
