"""Refusal rows only for questions the knowledge base really does not answer.

A teacher asked for "questions the text does not answer" often writes ones another chunk answers ("Is Mars a
planet?" next to a chunk that says so). ``AbsenceCheck`` retrieves over the whole knowledge base and confirms the
answer is absent only when no retrieved chunk holds ``max_support`` or more of the question's content terms
(``text.content_terms``: stemmed English words, CJK bigrams, numbers) and, when a judge is given, the judge says the
retrieved chunks do not answer it. Anything else — a supported question, a judge without a verdict — is not
confirmed: the row is dropped, never labelled unanswerable on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentkit.distill.text import support


@dataclass(frozen=True)
class Absence:
    """``absent`` is True only when confirmed; ``support`` is the best retrieved chunk's share of the question's
    content terms (the retrieval evidence); ``reason`` says why the answer may be present."""

    absent: bool
    support: float
    contexts: tuple[Any, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class AbsenceCheck:
    retriever: Any
    k: int = 5
    max_support: float = 0.5
    #: a ``Judge`` with the ``answerability`` rubric, or None
    judge: Any = None

    def __call__(self, question: str) -> Absence:
        found = tuple(self.retriever.retrieve(question, self.k))
        shares = [support(question, c.text) for c in found]
        if not found:
            return Absence(True, 0.0, found)
        if shares[0] is None:
            return Absence(False, 1.0, found, "the question has no content word to look for")
        best = max(range(len(found)), key=lambda i: shares[i] or 0.0)
        share = shares[best] or 0.0
        if share >= self.max_support:
            return Absence(False, share, found, f"{share:.0%} of its content words are in {found[best].label}")
        if self.judge is not None:
            from agentkit.judges import JudgeCase

            verdict = self.judge.judge(JudgeCase(question, "", context=tuple(c.text for c in found)))
            if verdict.passed is not False:
                why = "the judge finds the knowledge base answers it" if verdict.passed else f"the judge gave no verdict ({verdict.reason[:80]})"
                return Absence(False, share, found, why)
        return Absence(True, share, found)
