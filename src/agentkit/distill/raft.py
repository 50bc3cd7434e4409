"""RAFT-style rows (Retrieval-Augmented Fine-Tuning, Zhang et al. 2024): a question shown with its oracle chunk and
k distractor chunks, answered by a short chain of reasoning that quotes its evidence between ``##begin_quote##`` and
``##end_quote##`` and ends with ``<ANSWER>: …``.

Two points go beyond RAFT:
- every quote is checked to be a substring of the oracle chunk (whitespace runs compared as one space, nothing
  else loosened); a row with an unverifiable quote, no quote, or no ``<ANSWER>:`` line is dropped and counted;
- a row without the oracle teaches abstention, and only when the answer is truly absent from the documents it shows
  (no quote of the evidence, not the answer's words, and the judge's "not answerable" when there is a judge);
  RAFT's own no-oracle rows keep the oracle's answer, which teaches the model to answer from memory.

The oracle is in exactly ``round(oracle_rate × n)`` of the n rows, chosen by a seeded hash of each row's id, so a
re-run picks the same rows and the configured rate is the rate the data has.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentkit.agents import Role
from agentkit.distill.records import QARecord
from agentkit.distill.text import collapse_spaces, support
from agentkit.errors import ConfigError

#: bump when the RAFT answer prompt changes: cached answers of another version are not reused
RAFT_VERSION = "raft-v1"
BEGIN_QUOTE, END_QUOTE, ANSWER_TAG = "##begin_quote##", "##end_quote##", "<ANSWER>:"
AnswerFormat = Literal["cot", "answer"]
ANSWER_FORMATS: tuple[str, ...] = ("cot", "answer")

RAFT_ANSWERER = Role(
    name="raft-answerer",
    description="You answer questions from a reference text, showing the evidence you used.",
    task=(
        "Answer the question using only the context. First reason step by step in a few short sentences. When you use "
        f"words of the context, copy them exactly between {BEGIN_QUOTE} and {END_QUOTE}; text outside these markers is "
        f"your own. End with one line that starts with \"{ANSWER_TAG}\" followed by a short final answer."
    ),
    input_label="Question",
)

_QUOTE = re.compile(re.escape(BEGIN_QUOTE) + r"(.*?)" + re.escape(END_QUOTE), re.DOTALL)

ABSTENTIONS = {
    "en": ("None of the documents states the answer to this question, so it cannot be answered from them.",
           "The documents do not contain the answer to this question."),
    "zh-TW": ("這些文件都沒有提到這個問題的答案，因此無法根據文件回答。", "文件中沒有提到這個問題的答案。"),
    "zh-CN": ("这些文件都没有提到这个问题的答案，因此无法根据文件回答。", "文件中没有提到这个问题的答案。"),
}


@dataclass(frozen=True)
class RaftSettings:
    """``oracle_rate``: share of rows that show the oracle chunk (RAFT's P); ``distractors``: chunks shown beside it
    (RAFT's k; a row without the oracle shows k + 1, so every row has as many documents); ``answer_format``:
    ``cot`` (reasoning with quotes, then ``<ANSWER>:``) or ``answer`` (the final answer only)."""

    oracle_rate: float = 0.8
    distractors: int = 3
    answer_format: str = "cot"

    def __post_init__(self) -> None:
        if not 0 <= self.oracle_rate <= 1:
            raise ConfigError(f"oracle rate {self.oracle_rate} is out of range", "use --oracle-rate in [0, 1] (RAFT used 0.8)")
        if self.distractors < 0:
            raise ConfigError(f"distractors={self.distractors} must be >= 0", "use --distractors 0 or more (RAFT used 3 or 4)")
        if self.answer_format not in ANSWER_FORMATS:
            raise ConfigError(f"unknown answer format '{self.answer_format}'", f"use one of: {', '.join(ANSWER_FORMATS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"oracle_rate": self.oracle_rate, "distractors": self.distractors, "answer_format": self.answer_format}


@dataclass(frozen=True)
class ChainOfThought:
    """A teacher's RAFT answer, parsed: the quotes it made and the final answer (empty when there is no tag)."""

    text: str
    quotes: tuple[str, ...]
    answer: str


def parse(text: str) -> ChainOfThought:
    """The quotes (in order) and the text after the last ``<ANSWER>:`` up to the end of its line; the reasoning is
    cut after that line, so scaffolding a model echoes after its answer is not kept."""
    quotes = tuple(q.strip() for q in _QUOTE.findall(text))
    at = text.rfind(ANSWER_TAG)
    if at < 0:
        return ChainOfThought(text.strip(), quotes, "")
    rest = text[at + len(ANSWER_TAG):].lstrip(" \t")
    line = rest.split("\n", 1)[0].strip()
    return ChainOfThought((text[:at] + ANSWER_TAG + " " + line).strip(), quotes, line)


def unverified(quotes: Sequence[str], chunks: Sequence[str]) -> list[str]:
    """The quotes that are not a substring of one of ``chunks`` (whitespace runs compared as one space)."""
    haystacks = [collapse_spaces(c) for c in chunks]
    return [q for q in quotes if not q.strip() or not any(collapse_spaces(q) in h for h in haystacks)]


def abstention(language: str | None, answer_format: str) -> str:
    reason, answer = ABSTENTIONS.get(language or "en", ABSTENTIONS["en"])
    return f"{reason}\n{ANSWER_TAG} {answer}" if answer_format == "cot" else answer


def gets_oracle(records: Sequence[QARecord], rate: float, seed: int) -> set[str]:
    """Ids of the ``round(rate × n)`` records that show their oracle: the lowest seeded hashes of the ids."""
    ranked = sorted(records, key=lambda r: hashlib.sha256(f"{seed}\0{r.id}".encode()).hexdigest())
    return {r.id for r in ranked[: round(rate * len(ranked))]}


def distractors_for(record: QARecord, retrieve: Callable[[str, int], list[Any]], n: int) -> list[Any]:
    """The ``n`` chunks nearest the question that are not an oracle: not the seed chunk's id, not overlapping its
    span in its source, not the text of an oracle chunk (``context_texts``: the seed, and a multi-hop partner)."""
    oracle_texts = {collapse_spaces(t) for t in record.context_texts}
    out: list[Any] = []
    for c in retrieve(record.question, n + 2 + len(oracle_texts)):
        same_span = c.source == record.source and c.start < record.end and record.start < c.end
        if c.chunk_id == record.chunk_id or same_span or collapse_spaces(c.text) in oracle_texts:
            continue
        out.append(c)
        if len(out) == n:
            break
    return out


@dataclass(frozen=True)
class AbsentFromDocuments:
    """Is a row's answer absent from the documents it shows? Yes when none of the teacher's quotes occurs in them,
    less than ``max_support`` of the final answer's content terms do, and a judge (when given) says the documents
    do not answer the question."""

    max_support: float = 0.5
    judge: Any = None

    def __call__(self, question: str, cot: ChainOfThought, documents: Sequence[str]) -> str | None:
        """None when the answer is absent, else why it may be present."""
        joined = collapse_spaces("\n".join(documents))
        found = [q for q in cot.quotes if collapse_spaces(q) in joined]
        if found:
            return f"a distractor holds the evidence: {found[0][:60]!r}"
        share = support(cot.answer, "\n".join(documents))
        if share is not None and share >= self.max_support:
            return f"{share:.0%} of the answer's words are in the distractors"
        if self.judge is not None:
            from agentkit.judges import JudgeCase

            verdict = self.judge.judge(JudgeCase(question, "", context=tuple(documents)))
            if verdict.passed is not False:
                return "the judge finds the distractors answer it" if verdict.passed else f"the judge gave no verdict ({verdict.reason[:80]})"
        return None


def build_rows(records: Sequence[QARecord], settings: RaftSettings, retrieve: Callable[[str, int], list[Any]], seed: int,
               language: str | None, absent: AbsentFromDocuments) -> tuple[list[QARecord], list[tuple[QARecord, str]]]:
    """Final RAFT rows from records whose answer is a verified chain of thought over their oracle chunks
    (``context_texts``) and from confirmed refusals. Returns (rows, dropped with reasons)."""
    with_oracle = gets_oracle([r for r in records if r.kind != "refusal"], settings.oracle_rate, seed)
    rows: list[QARecord] = []
    dropped: list[tuple[QARecord, str]] = []
    k = settings.distractors
    for r in records:
        shuffle = random.Random(f"{seed}\0{r.id}")
        if r.kind == "refusal":
            shown = [c.text for c in retrieve(r.question, k + 1)]
            shuffle.shuffle(shown)
            rows.append(r.replace(answer=abstention(language, settings.answer_format), documents=tuple(shown), oracle=False))
            continue
        cot = parse(r.answer)
        others = [c.text for c in distractors_for(r, retrieve, k + 1)]
        if r.id in with_oracle:
            shown = [*r.context_texts, *others[:k]]
            answer = cot.text if settings.answer_format == "cot" else cot.answer
            shuffle.shuffle(shown)
            rows.append(r.replace(answer=answer, documents=tuple(shown), oracle=True))
            continue
        why = absent(r.question, cot, others)
        if why:
            dropped.append((r, f"no-oracle row, but the answer may be in its documents: {why}"))
            continue
        shuffle.shuffle(others)
        rows.append(r.replace(answer=abstention(language, settings.answer_format), kind="refusal", documents=tuple(others), oracle=False,
                              scores={**r.scores, "absent_support": round(support(cot.answer, "\n".join(others)) or 0.0, 3)}))
    return rows, dropped
