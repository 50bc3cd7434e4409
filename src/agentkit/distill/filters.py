"""Quality filters over QA records. Each is a callable ``records -> (kept, dropped)`` where ``dropped`` holds
``(record, reason)``, so the job can report how many each filter removed and why."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentkit.distill.records import QARecord
from agentkit.distill.text import different_facts, rouge_l, rouge_tokens, units

Dropped = list[tuple[QARecord, str]]
Filter = Callable[[Sequence[QARecord]], tuple[list[QARecord], Dropped]]

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[A-Za-z\u3400-\u9fff\uf900-\ufaff]")

# Questions that only make sense next to the chunk they came from: they name the material ("the passage", 文中),
# or their subject is a pronoun whose referent is in the chunk ("How does it work?", 它有幾顆衛星？).
_DOC_NOUN = r"(?:text|passage|article|document|paragraph|context|excerpt|snippet|section|chapter|image|figure|table|author|material)s?"
_EN_DOCUMENT = (
    rf"\b(?:this|that|these|those|the above|the following|the given|the provided|the preceding|the aforementioned)\s+{_DOC_NOUN}\b"
    r"|\bthe\s+(?:passage|excerpt|text|context|paragraph|snippet)s?\b"
    rf"|\b(?:according to|in|from|based on|as stated in|as described in|as mentioned in)\s+the\s+{_DOC_NOUN}\b"
    r"|\bthe\s+(?:author|writer|narrator)\s+(?:says|said|claims|argues|believes|thinks|mentions|describes|suggests|states)\b"
    r"|\b(?:mentioned|described|discussed|stated|listed|shown|cited|quoted)\s+(?:above|below|here|earlier|previously)\b"
    r"|\bthe image shows\b|\bin the image\b"
)
_ZH_DOCUMENT = (
    r"(?<![中英日韓韩法德外])文中|(?<!日)本文|上文|下文|上述|前述|以上(?:內容|内容|所述|文字|段落)|該文|该文|此文|這篇|这篇|該篇|该篇"
    r"|這段|这段|此段|該段|该段|段落中|文章中|文本中|材料中|根據(?:文章|上文|本文|文本|材料|資料|段落|內容)|根据(?:文章|上文|本文|文本|材料|资料|段落|内容)"
    r"|^作者|作者(?:認為|认为|提到|指出|表示|說|说|描述)|如圖|如图|圖中|图中|表格中"
)
_NOT_STANDALONE = re.compile(f"{_EN_DOCUMENT}|{_ZH_DOCUMENT}", re.IGNORECASE)
_PRONOUN = r"(?:it|its|they|them|their|he|him|his|she|her|this|that|these|those)"
_AUX = r"(?:is|are|was|were|does|do|did|can|could|will|would|has|have|had|should|might|may)"
_PRONOUN_LED = re.compile(
    rf"^\s*{_PRONOUN}\b"
    rf"|^\s*(?:how|what|why|when|where|who|whom|which|whose)\b(?:\s+[\w'-]+){{0,2}}?\s+{_AUX}\s+{_PRONOUN}\b"
    rf"|^\s*{_AUX}\s+(?:he|she|they|these|those)\b"
    r"|^(?:它們|他們|她們|它们|他们|她们|它|他|她|牠|其|此|該|该|這|这|那)"
    r"|^(?:為什麼|为什么|如何|怎麼|怎么|何時|何时)(?:它|他|她|其|這|这)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LengthFilter:
    """Lengths in units (``text.units``): a word or a CJK character is one, so 玉山有多高？ (5) and "How tall is
    Yushan?" (4) are both long enough, and "Why?" (1) is not."""

    name = "length"
    min_question: int = 3
    max_question: int = 200
    min_answer: int = 1
    max_answer: int = 1500

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        kept, dropped = [], []
        for r in records:
            q, a = units(r.question), units(r.answer)
            if not self.min_question <= q <= self.max_question:
                dropped.append((r, f"question length {q} units outside [{self.min_question}, {self.max_question}]"))
            elif not self.min_answer <= a <= self.max_answer:
                dropped.append((r, f"answer length {a} units outside [{self.min_answer}, {self.max_answer}]"))
            else:
                kept.append(r)
        return kept, dropped


@dataclass(frozen=True)
class StandaloneFilter:
    """Drops questions a reader cannot understand without the chunk: ones that name the material ("What does the
    passage say…", 文中, 本文, 上述, 該文章) or whose subject is a pronoun ("How does it work?", 它有幾顆衛星？).
    ``check_answers`` also drops answers that name the material (a student without it would learn to cite
    nothing); RAFT turns it off, since its student sees the documents."""

    check_answers: bool = True
    name = "standalone"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        kept, dropped = [], []
        for r in records:
            hit = _NOT_STANDALONE.search(r.question) or _PRONOUN_LED.search(r.question)
            if hit is None and self.check_answers:
                hit = _NOT_STANDALONE.search(r.answer)
            if hit:
                dropped.append((r, f"refers to material the reader cannot see: {hit.group(0).strip()!r}"))
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
    """Share of the answer's words (CJK characters/bigrams) found in its retrieved context; refusals pass. For a
    RAFT chain of thought the final answer (after ``<ANSWER>:``) is measured: its quotes are checked by ``quotes``."""

    threshold: float = 0.5
    name = "grounded-lexical"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        kept, dropped = [], []
        for r in records:
            if r.kind == "refusal":
                kept.append(r)
                continue
            share = lexical_share(r)
            r = r.replace(scores={**r.scores, "grounded_lexical": round(share, 3)})
            if share < self.threshold:
                dropped.append((r, f"only {share:.0%} of the answer's words are in its context (< {self.threshold:.0%})"))
            else:
                kept.append(r)
        return kept, dropped


def lexical_share(r: QARecord) -> float:
    """Share of the answer's search tokens (``bm25.tokenize``) in its context; a RAFT answer's final answer only."""
    from agentkit.retrievers.bm25 import tokenize

    answer = set(tokenize(_final(r.answer)))
    context = set(tokenize(" ".join(r.context_texts)))
    return len(answer & context) / len(answer) if answer else 0.0


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


@dataclass(frozen=True)
class NumbersDedup:
    """The same question and answer up to their digits ("costs 30 dollars" / "costs 45 dollars") is one template.
    Both are compared, so the same question with another answer ("2014 → Germany" / "2018 → France") is a different
    fact and is kept."""

    name = "dedup-numbers"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        return _dedup(records, lambda r: re.sub(r"\d+", "#", normalize(r.question) + "\0" + normalize(r.answer)), "differs only in numbers from")


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
    """Near-duplicate questions by MinHash over character 3-grams (datasketch LSH, Jaccard >= threshold), unless
    the answers state different facts (``text.different_facts``)."""

    threshold: float = 0.8
    num_perm: int = 128
    name = "dedup-near"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        from agentkit.extras import require

        require("datasketch", "distill", "near-duplicate filtering")
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        by_key: dict[str, QARecord] = {}
        kept, dropped = [], []
        for i, r in enumerate(records):
            text = normalize(r.question)
            sketch = MinHash(num_perm=self.num_perm, seed=1)
            for gram in {text[j:j + 3] for j in range(max(1, len(text) - 2))}:
                sketch.update(gram.encode("utf-8"))
            # A near-identical question with an answer stating another fact ("2014 → Germany" / "2018 → France") is kept.
            near = [k for k in lsh.query(sketch) if not different_facts(r.answer, by_key[k].answer)]
            if near:
                dropped.append((r, f"near-duplicate (MinHash Jaccard >= {self.threshold}) of {sorted(near)[0].split('#')[0]}"))
                continue
            lsh.insert(r.id + f"#{i}", sketch)
            by_key[r.id + f"#{i}"] = r
            kept.append(r)
        return kept, dropped


@dataclass(frozen=True)
class NoveltyFilter:
    """Self-Instruct's novelty rule: a question whose ROUGE-L (CJK-aware: a Chinese character is a token,
    Traditional = Simplified) against a kept question is >= ``threshold`` is a repeat — unless the two answers
    state different facts (other numbers, or no content word in common: "Who won the 2014 World Cup? → Germany"
    is not a repeat of the 2018 one). Pairs are scored only when their shared tokens could reach the threshold."""

    threshold: float = 0.7
    name = "novelty"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        kept: list[QARecord] = []
        dropped: Dropped = []
        tokens: list[tuple[str, ...]] = []
        postings: dict[str, list[int]] = {}
        for r in records:
            mine = rouge_tokens(r.question)
            counts = Counter(mine)
            shared: Counter[int] = Counter()
            for token, n in counts.items():
                for j in postings.get(token, ()):
                    shared[j] += min(n, tokens[j].count(token))
            hit = None
            # ROUGE-L <= 2·|common tokens| / (|a| + |b|): the bound rules most pairs out without the LCS.
            for j, common in sorted(shared.items()):
                if 2 * common / (len(mine) + len(tokens[j])) < self.threshold:
                    continue
                score = rouge_l(mine, tokens[j])
                if score >= self.threshold and not different_facts(r.answer, kept[j].answer):
                    hit = (j, score)
                    break
            if hit:
                dropped.append((r, f"ROUGE-L {hit[1]:.2f} >= {self.threshold} with {kept[hit[0]].id}"))
                continue
            for token in counts:
                postings.setdefault(token, []).append(len(kept))
            tokens.append(mine)
            kept.append(r)
        return kept, dropped


@dataclass
class EmbeddingDedup:
    """Near-duplicate questions by embedding: cosine >= ``threshold`` with a kept question (and the answers not
    different facts, as in ``novelty``) drops the record. ``embedder`` is an Embedder or a spec."""

    embedder: Any = None
    threshold: float = 0.95
    name = "dedup-embedding"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        import numpy as np

        from agentkit.embeddings import load_embedder

        if not records:
            return [], []
        vectors = load_embedder(self.embedder).embed([r.question for r in records])
        kept: list[int] = []
        dropped: Dropped = []
        for i, r in enumerate(records):
            if kept:
                sims = vectors[kept] @ vectors[i]
                near = [(float(sims[n]), kept[n]) for n in np.flatnonzero(sims >= self.threshold)]
                near = [(s, j) for s, j in near if not different_facts(r.answer, records[j].answer)]
                if near:
                    score, j = max(near)
                    dropped.append((r, f"embedding cosine {score:.3f} >= {self.threshold} with {records[j].id}"))
                    continue
            kept.append(i)
        return [records[i] for i in kept], dropped


@dataclass(frozen=True)
class QuoteFilter:
    """RAFT answers: at least one ``##begin_quote##…##end_quote##`` quote, every quote a substring of one oracle
    chunk (``context_texts``; whitespace runs compared as one space), and an ``<ANSWER>:`` line. Refusals pass."""

    name = "quotes"

    def __call__(self, records: Sequence[QARecord]) -> tuple[list[QARecord], Dropped]:
        from agentkit.distill.raft import parse, unverified

        kept, dropped = [], []
        for r in records:
            if r.kind == "refusal":
                kept.append(r)
                continue
            cot = parse(r.answer)
            bad = unverified(cot.quotes, r.context_texts)
            if not cot.answer:
                dropped.append((r, "no <ANSWER>: line"))
            elif not cot.quotes:
                dropped.append((r, "no quoted evidence"))
            elif bad:
                dropped.append((r, f"quote not in its chunk: {bad[0][:80]!r}"))
            else:
                kept.append(r.replace(scores={**r.scores, "quotes_verified": float(len(cot.quotes))}))
        return kept, dropped


def _final(answer: str) -> str:
    """The final answer of a RAFT chain of thought; any other answer whole."""
    from agentkit.distill.raft import ANSWER_TAG, parse

    return parse(answer).answer or answer if ANSWER_TAG in answer else answer


def run_filters(records: Sequence[QARecord], filters: Sequence[Any]) -> tuple[list[QARecord], dict[str, list[dict[str, str]]]]:
    """Apply filters in order; returns the kept records and, per filter, the dropped ids with reasons."""
    report: dict[str, list[dict[str, str]]] = {}
    current = list(records)
    for f in filters:
        current, dropped = f(current)
        report[f.name] = [{"id": r.id, "question": r.question[:120], "reason": why} for r, why in dropped]
    return current, report


#: the filters that remove repeats: their drops make the duplicate rate
DEDUP_FILTERS = ("dedup-exact", "dedup-numbers", "dedup-near", "novelty", "dedup-embedding")


def default_filters(language: str | None = None, grounded_threshold: float = 0.5, judge: Any = None, *, dedup_numbers: bool = True,
                    novelty: float | None = 0.7, embedding_dedup: float | None = None, embedder: Any = None, raft: bool = False) -> list[Any]:
    """The default chain, built from the ``filter`` plugins by name (a plugin's filter can join it the same way).
    ``raft``: answers are chains of thought over documents the student sees (quotes checked, answers may cite them)."""
    from agentkit.plugins import registry

    filters = registry("filter")
    chain: list[Any] = [filters.build("length"), filters.build("standalone", check_answers=not raft)]
    if language:
        chain.append(filters.build("language", language=language))
    if raft:
        chain.append(filters.build("quotes"))
    chain.append(filters.build("grounded", threshold=grounded_threshold))
    if judge is not None:
        chain.append(judge)
    chain.append(filters.build("exact"))
    if dedup_numbers:
        chain.append(filters.build("numbers"))
    chain.append(filters.build("minhash"))
    if novelty:
        chain.append(filters.build("novelty", threshold=novelty))
    if embedding_dedup:
        chain.append(filters.build("embedding", embedder=embedder, threshold=embedding_dedup))
    return chain
