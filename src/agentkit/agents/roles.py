"""Agent roles declared once as data. Change one with ``role.replace(...)``; never mutate."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Role:
    """A role is the system message (``description``) plus the standing instruction (``task``)."""

    name: str
    description: str
    task: str
    #: how the fenced input is introduced in the user message ("Question", "Text", ...)
    input_label: str = "Input"

    def replace(self, **changes: Any) -> Role:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Role:
        return cls(**data)


QUESTION_EXTRACTION = Role(
    name="question-extraction",
    description="You are a careful reader who finds the real question inside a long message.",
    task=(
        "The input may contain background, preambles or distractions before or after the actual question. "
        "Write the one question the user wants answered, as a short self-contained sentence in the input's "
        "language. Output only that question."
    ),
    input_label="Message",
)

KEYWORD_EXTRACTION = Role(
    name="keyword-extraction",
    description="You turn questions into search-engine keywords.",
    task=(
        "Give 2 to 6 keywords or short phrases that a search engine needs to find the answer to the question, "
        "in the question's language, separated by single spaces. Output only the keywords, nothing else."
    ),
    input_label="Question",
)

QA = Role(
    name="qa",
    description="You are a precise assistant who answers questions from the provided context.",
    task=(
        "Answer the question using the context when it is relevant. "
        "Be brief: one or two sentences."
    ),
    input_label="Question",
)

BUILTIN_ROLES = {role.name: role for role in (QUESTION_EXTRACTION, KEYWORD_EXTRACTION, QA)}
