"""Quality filters over QA records. Each is a callable ``records -> (kept, dropped)`` where ``dropped`` holds
``(record, reason)``, so the job can report how many each filter removed and why."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentkit.distill.records import QARecord

Dropped = list[tuple[QARecord, str]]
Filter = Callable[[Sequence[QARecord]], tuple[list[QARecord], Dropped]]

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[A-Za-z\u3400-\u9fff\uf900-\ufaff]")
# Questions that only make sense next to the chunk, and answers that describe things the data never had.
_NOT_STANDALONE = re.compile(
    r"\b(this|the above|the following|the given|the provided)\s+(text|article|passage|document|paragraph|context|excerpt|image|figure|table)\b"
    r"|according to the (text|passage|article|document)|\bthe image shows\b|\bin the image\b"
    r"|本文|上文|上述|以上內容|以上内容|這篇文章|这篇文章|這段文字|这段文字|根據文章|根据文章|如圖|如图|圖中|图中",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LengthFilter:
    name = "length"
    min_question: int = 8
    max_question: int = 400
    min_answer: int = 2
    max_answer: int = 3000

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        kept, dropped = [], []
        for r in records:
            q, a = len(r.question.strip()), len(r.answer.strip())
            if not self.min_question <= q <= self.max_question:
                dropped.append((r, f"question length {q} outside [{self.min_question}, {self.max_question}]"))
            elif not self.min_answer <= a <= self.max_answer:
                dropped.append((r, f"answer length {a} outside [{self.min_answer}, {self.max_answer}]"))
            else:
                kept.append(r)
        return kept, dropped


class StandaloneFilter:
    name = "standalone"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        kept, dropped = [], []
        for r in records:
            hit = _NOT_STANDALONE.search(r.question) or _NOT_STANDALONE.search(r.answer)
            if hit:
                dropped.append((r, f"refers to material the reader cannot see: {hit.group(0)!r}"))
            else:
                kept.append(r)
        return kept, dropped


def cjk_share(text: str) -> float:
    letters = _LETTER.findall(text)
    return len(_CJK.findall(text)) / len(letters) if letters else 0.0


@dataclass(frozen=True)
class LanguageFilter:
    """Question and answer written in ``language`` by ``agentkit.language``'s rule (the one pipelines and chat
    enforce): Chinese mostly CJK, English not; zh-TW/zh-CN also reject text in the other script (OpenCC changes
    more than 5 % of its CJK characters)."""

    language: str
    name = "language"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        kept, dropped = [], []
        for r in records:
            reason = self._reason(r.question) or (None if r.kind == "refusal" else self._reason(r.answer))
            if reason:
                dropped.append((r, reason))
            else:
                kept.append(r)
        return kept, dropped

    def _reason(self, text: str) -> str | None:
        from agentkit.language import cjk_share as units_share
        from agentkit.language import other_script_share, parse_language, written_in

        language = parse_language(self.language)
        if language is None:
            return None
        if written_in(text, language) is False:
            return f"not {language.name}: {units_share(text):.0%} CJK"
        script = other_script_share(text, language)
        if script > 0.05:
            return f"not {language.name}: {script:.0%} of characters are in the other Chinese script"
        return None


@dataclass(frozen=True)
class LexicalGroundedness:
    """Share of the answer's words (CJK characters/bigrams) found in its retrieved context; refusals pass."""

    threshold: float = 0.5
    name = "grounded-lexical"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        from agentkit.retrievers.bm25 import tokenize

        kept, dropped = [], []
        for r in records:
            if r.kind == "refusal":
                kept.append(r)
                continue
            answer = set(tokenize(r.answer))
            context = set(tokenize(" ".join(r.context_texts)))
            share = len(answer & context) / len(answer) if answer else 0.0
            r = r.replace(scores={**r.scores, "grounded_lexical": round(share, 3)})
            if share < self.threshold:
                dropped.append((r, f"only {share:.0%} of the answer's words are in its context (< {self.threshold:.0%})"))
            else:
                kept.append(r)
        return kept, dropped


@dataclass
class JudgeGroundedness:
    """The one LLM judge (``groundedness`` rubric) reads context, question and answer; verdicts are cached through
    ``cache`` (the job's checkpoint). A judge that gives no verdict drops the record (unsupported is the safe side)."""

    llm: Any
    cache: Any = None
    name = "grounded-judge"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        from agentkit.judges import JudgeCase, LLMJudge

        grader = LLMJudge(self.llm, "groundedness", self.cache)
        kept, dropped = [], []
        for r in records:
            if r.kind == "refusal":
                kept.append(r)
                continue
            verdict = grader.judge(JudgeCase(r.question, r.answer, context=tuple(r.context_texts)))
            r = r.replace(scores={**r.scores, "grounded_judge": verdict.score})
            (kept.append(r) if verdict.passed else dropped.append((r, f"judge: unsupported ({verdict.reason[:120]})")))
        return kept, dropped


def normalize(text: str) -> str:
    """The de-duplication key: NFKC, case-folded, punctuation and spaces gone, Traditional folded to Simplified
    (OpenCC t2s), so 臺灣最高的山 and 台湾最高的山 are one question."""
    from agentkit.chinese import convert

    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\W_]+", "", text)
    return convert(text, "t2s") if _CJK.search(text) else text


class ExactDedup:
    name = "dedup-exact"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        return _dedup(records, lambda r: normalize(r.question) + "\0" + normalize(r.answer), "same question and answer as")


class NumbersDedup:
    """The same record with different digits ("costs 30 dollars" / "costs 45 dollars") is one template."""

    name = "dedup-numbers"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        return _dedup(records, lambda r: re.sub(r"\d+", "#", normalize(r.question)), "differs only in numbers from")


def _dedup(records: Sequence[QARecord], key: Callable[[QARecord], str], why: str) -> tuple[list[QARecord], Dropped]:
    seen: dict[str, QARecord] = {}
    kept, dropped = [], []
    for r in records:
        k = key(r)
        if k in seen:
            dropped.append((r, f"{why} {seen[k].id}"))
        else:
            seen[k] = r
            kept.append(r)
    return kept, dropped


@dataclass(frozen=True)
class MinHashDedup:
    """Near-duplicate questions by MinHash over character 3-grams (datasketch LSH, Jaccard >= threshold)."""

    threshold: float = 0.8
    num_perm: int = 128
    name = "dedup-near"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        from agentkit.extras import require

        require("datasketch", "distill", "near-duplicate filtering")
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        kept, dropped = [], []
        for i, r in enumerate(records):
            text = normalize(r.question)
            sketch = MinHash(num_perm=self.num_perm, seed=1)
            for gram in {text[j:j + 3] for j in range(max(1, len(text) - 2))}:
                sketch.update(gram.encode("utf-8"))
            near = lsh.query(sketch)
            if near:
                dropped.append((r, f"near-duplicate (MinHash Jaccard >= {self.threshold}) of {sorted(near)[0].split('#')[0]}"))
                continue
            lsh.insert(r.id + f"#{i}", sketch)
            kept.append(r)
        return kept, dropped


def run_filters(records: Sequence[QARecord], filters: Sequence[Any]) -> tuple[list[QARecord], dict[str, list[dict[str, str]]]]:
    """Apply filters in order; returns the kept records and, per filter, the dropped ids with reasons."""
    report: dict[str, list[dict[str, str]]] = {}
    current = list(records)
    for f in filters:
        current, dropped = f(current)
        report[f.name] = [{"id": r.id, "question": r.question[:120], "reason": why} for r, why in dropped]
    return current, report


def default_filters(language: str | None = None, grounded_threshold: float = 0.5, judge: Any = None) -> list[Any]:
    """The default chain, built from the ``filter`` plugins by name (a plugin's filter can join it the same way)."""
    from agentkit.plugins import registry

    filters = registry("filter")
    chain: list[Any] = [filters.build("length"), filters.build("standalone")]
    if language:
        chain.append(filters.build("language", language=language))
    chain.append(filters.build("grounded", threshold=grounded_threshold))
    if judge is not None:
        chain.append(judge)
    chain += [filters.build("exact"), filters.build("numbers"), filters.build("minhash")]
    return chain
