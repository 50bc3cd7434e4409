"""Teacher-side generation: questions from a chunk, answers over the knowledge base.

Questions are asked for as JSON under a schema (a grammar on llama.cpp, ``response_format`` on OpenAI-style
servers, ``format`` on Ollama) and parsed defensively anyway: a preamble such as "Sure, here are..." or a
heading never becomes a question. No valid question after the retries is a ``GenerationError``, never an
empty record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentkit.agents import LLMAgent, Role
from agentkit.distill.text import units
from agentkit.errors import AgentkitError
from agentkit.llm import LLM, GenerationParams
from agentkit.structured import extract_json

STYLES = {
    "factual": "factual questions about specific facts stated in the text (who, what, when, where, how many)",
    "explanatory": "questions asking why or how something in the text happens or works",
    "procedural": "questions asking for the steps, process or method the text describes",
    "multi-hop": "questions that need facts from BOTH texts together to answer",
    "unanswerable": "questions on the same topic that the text does NOT answer (plausible but not covered)",
}

QUESTION_WRITER = Role(
    name="question-writer",
    description="You write exam questions from reference texts for a question-answering dataset.",
    task=(
        "Write {n} {style}. Each question must be self-contained: a reader who never saw the text must "
        'understand it, so never say "the text", "this article", "the passage" or "the above". '
        'Reply with JSON only: {{"questions": ["...", "..."]}}.'
    ),
    input_label="Text",
)

REFUSALS = {
    "zh-TW": "文件中沒有提到這個問題的答案。",
    "zh-CN": "文件中没有提到这个问题的答案。",
    "en": "The documents do not contain the answer to this question.",
}

_PREAMBLE = re.compile(r"^(sure|okay|ok|certainly|of course|here (are|is)|below (are|is)|以下是|好的|當然|当然|這裡|这里)\b", re.IGNORECASE)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)、]|Q\d*[:：.])\s*")


class GenerationError(AgentkitError):
    """The teacher gave nothing usable after the retries."""


def schema(n: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"questions": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": max(1, n)}},
        "required": ["questions"],
    }


def _is_question(text: str) -> bool:
    text = text.strip()
    if units(text) < 2 or _PREAMBLE.match(text) or text.endswith((":", "：")) or "{{" in text:
        return False
    return text.endswith(("?", "？")) or bool(re.match(r"^(what|who|when|where|why|how|which|請問|什麼|为什么|為什麼|如何|哪)", text, re.IGNORECASE))


def parse_questions(text: str, limit: int) -> list[str]:
    """Questions from the teacher's reply: the JSON ``questions`` list if there is one, else question-like lines."""
    data = extract_json(text, dict)
    items = data.get("questions", []) if data else []
    candidates: list[str] = [str(q) for q in items if isinstance(q, str | int | float)] if isinstance(items, list) else []
    if not candidates:
        candidates = [_LIST_MARK.sub("", line) for line in text.splitlines()]
    out: list[str] = []
    for q in candidates:
        q = _LIST_MARK.sub("", " ".join(q.split())).strip('"“”「」')
        if _is_question(q) and q.lower() not in (o.lower() for o in out):
            out.append(q)
    return out[:limit]


_ECHO = re.compile(r'\n\s*(?:"{3,}|(?:question|context|問題|问题|input)\s*[:：])', re.IGNORECASE)


def clean_answer(text: str) -> str:
    """The answer without prompt scaffolding a small model echoes after it (a fence, "Question:", ...)."""
    return _ECHO.split(text, maxsplit=1)[0].strip()


@dataclass
class QuestionGenerator:
    llm: LLM
    language: str | None = None
    retries: int = 2
    max_tokens: int = 256

    def __call__(self, text: str, n: int, style: str = "factual", second_text: str | None = None) -> list[str]:
        if style not in STYLES:
            raise GenerationError(f"unknown question style '{style}'", f"use one of: {', '.join(STYLES)}")
        role = QUESTION_WRITER.replace(task=QUESTION_WRITER.task.format(n=n, style=STYLES[style]))
        agent = LLMAgent.from_role(role, self.llm, language=self.language, params=GenerationParams(max_tokens=self.max_tokens, json_schema=schema(n)))
        body = text if second_text is None else f"Text 1:\n{text}\n\nText 2:\n{second_text}"
        last = ""
        for attempt in range(self.retries + 1):
            # A retry changes the seed, so a deterministic teacher does not repeat the same bad answer.
            out = agent.run(body) if attempt == 0 else LLMAgent.from_role(
                role, self.llm, language=self.language, params=GenerationParams(max_tokens=self.max_tokens, json_schema=schema(n), seed=attempt, temperature=0.7)
            ).run(body)
            last = out.text
            questions = parse_questions(out.text, n)
            if questions:
                return questions
        raise GenerationError(f"the teacher gave no usable question after {self.retries + 1} tries (last reply: {last[:80]!r})", "try another --llm or fewer --questions-per-chunk")
