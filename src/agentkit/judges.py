"""One ``Judge``: an LLM grades a case against a rubric and returns a typed ``Verdict``.

Used by HW01 scoring (``correctness``: is the answer one of the gold answers?), distillation (``groundedness``: is
every claim supported by the context? ``answerability``: does the context answer the question at all? — a refusal
row is made only when it does not) and model-eval (``quality``: 1–10 on four aspects against a reference).
Verdicts are cached through any ``Cache`` (``get``/``put`` by key), keyed by the judge model, the rubric's version
and the case, so re-scoring costs nothing and a changed rubric never reuses stale verdicts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agentkit.errors import ConfigError
from agentkit.llm import LLM, GenerationParams, Message, load_llm
from agentkit.structured import generate_json


@dataclass(frozen=True)
class JudgeCase:
    question: str
    answer: str
    #: accepted answers (correctness) or the reference answer (quality)
    references: tuple[str, ...] = ()
    #: the text the answer must be supported by (groundedness)
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """``passed`` is None when the judge gave no usable answer (``reason`` says so); ``score`` is in [0, 1]."""

    passed: bool | None
    score: float
    reason: str = ""
    aspects: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "score": self.score, "reason": self.reason, "aspects": self.aspects}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(data.get("passed"), float(data.get("score", 0.0)), str(data.get("reason", "")), dict(data.get("aspects", {})))


@runtime_checkable
class Cache(Protocol):
    """Anything that stores JSON values by string key (the web cache's judge table, a job's checkpoint)."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any) -> None: ...


@runtime_checkable
class Judge(Protocol):
    name: str

    def judge(self, case: JudgeCase) -> Verdict: ...


@dataclass(frozen=True)
class Rubric:
    name: str
    version: str
    role: str
    task: str
    schema: dict[str, Any]


QUALITY_ASPECTS = ("completeness", "key_fact_accuracy", "consistency", "readability")

RUBRICS = {
    "correctness": Rubric(
        "correctness", "v2",
        "You grade answers to quiz questions. You are strict about facts and lenient about wording, script (Traditional/Simplified) and language. "
        "An answer that negates or hedges the gold answer is incorrect.",
        "Decide whether the answer is correct given the accepted gold answers. Reply with one JSON object: "
        '{"verdict": "correct" or "incorrect", "reason": "<one short sentence>"}.',
        {"type": "object", "properties": {"verdict": {"enum": ["correct", "incorrect"]}, "reason": {"type": "string"}}, "required": ["verdict"]},
    ),
    "groundedness": Rubric(
        "groundedness", "v2", "You check whether answers are supported by their context.",
        'Is every claim of the answer supported by the context? Reply with JSON only: {"supported": true or false, "reason": "..."}.',
        {"type": "object", "properties": {"supported": {"type": "boolean"}, "reason": {"type": "string"}}, "required": ["supported"]},
    ),
    "answerability": Rubric(
        "answerability", "v1", "You check whether reference texts answer a question. You are strict: related facts are not an answer.",
        'Does the context state the answer to the question? Reply with JSON only: {"answerable": true or false, "reason": "..."}.',
        {"type": "object", "properties": {"answerable": {"type": "boolean"}, "reason": {"type": "string"}}, "required": ["answerable"]},
    ),
    "quality": Rubric(
        "quality", "v2", "You grade answers against a reference answer.",
        f"Rate the answer from 1 to 10 on {', '.join(QUALITY_ASPECTS)}. Reply with JSON only.",
        {"type": "object", "properties": {a: {"type": "integer", "minimum": 1, "maximum": 10} for a in QUALITY_ASPECTS},
         "required": list(QUALITY_ASPECTS)},
    ),
}


class LLMJudge:
    """``LLMJudge(llm, "correctness", cache=...)``; ``judge(case)`` returns a Verdict (cached)."""

    def __init__(self, llm: LLM | str, rubric: str = "correctness", cache: Cache | None = None, max_tokens: int = 128) -> None:
        if rubric not in RUBRICS:
            raise ConfigError(f"unknown judge rubric '{rubric}'", f"use one of: {', '.join(RUBRICS)}")
        self.llm = load_llm(llm)
        self.rubric = RUBRICS[rubric]
        self.name = f"llm-{rubric}"
        self.cache = cache
        self.params = GenerationParams(max_tokens=max_tokens, temperature=0.0)

    def _case_json(self, case: JudgeCase) -> str:
        data: dict[str, Any] = {"question": case.question}
        if self.rubric.name == "correctness":
            data["gold_answers"] = list(case.references)
        elif self.rubric.name == "quality":
            data["reference"] = case.references[0] if case.references else ""
        else:
            data["context"] = list(case.context)
        if self.rubric.name != "answerability":  # it reads the question and the context only
            data["answer"] = case.answer
        return json.dumps(data, ensure_ascii=False)

    def key(self, case: JudgeCase) -> str:
        return hashlib.sha256(f"{self.llm.spec}\0{self.rubric.name}-{self.rubric.version}\0{self._case_json(case)}".encode()).hexdigest()

    def judge(self, case: JudgeCase) -> Verdict:
        key = self.key(case)
        cached = self.cache.get(key) if self.cache is not None else None
        if isinstance(cached, dict):
            return Verdict.from_dict(cached)
        verdict = self._ask(case)
        if self.cache is not None and verdict.passed is not None:
            self.cache.put(key, verdict.to_dict())
        return verdict

    def _ask(self, case: JudgeCase) -> Verdict:
        messages = [Message("system", self.rubric.role), Message("user", f"{self.rubric.task}\n\nCase:\n{self._case_json(case)}")]
        result = generate_json(self.llm, messages, self.rubric.schema, self.params, retries=1)
        if not result.ok:
            return Verdict(None, 0.0, f"judge gave no verdict: {result.error}")
        data = result.value
        reason = str(data.get("reason", ""))[:300]
        if self.rubric.name == "correctness":
            passed = data["verdict"] == "correct"
            return Verdict(passed, float(passed), reason)
        if self.rubric.name == "groundedness":
            passed = bool(data["supported"])
            return Verdict(passed, float(passed), reason)
        if self.rubric.name == "answerability":
            passed = bool(data["answerable"])
            return Verdict(passed, float(passed), reason)
        aspects = {a: float(data[a]) for a in QUALITY_ASPECTS}
        mean = sum(aspects.values()) / len(aspects)
        return Verdict(mean >= 6, (mean - 1) / 9, reason, aspects)


class _Namespaced:
    def __init__(self, store: Any, kind: str) -> None:
        self.store, self.kind = store, kind

    def get(self, key: str) -> Any | None:
        return self.store.get(self.kind, key)

    def put(self, key: str, value: Any) -> None:
        self.store.put(self.kind, key, value)


def namespaced(store: Any, kind: str) -> Cache:
    """A ``Cache`` view of a two-level store (``get/put(kind, key)``, e.g. the web cache's SQLite file)."""
    if isinstance(store, Cache) and not hasattr(store, "ttl"):
        return store
    return _Namespaced(store, kind)


def load_judge(spec: str | LLM | Judge, rubric: str, cache: Cache | None = None) -> Judge:
    """A judge from an LLM spec (or an LLM, or a judge plugin's object passed through)."""
    if isinstance(spec, Judge):
        return spec
    return LLMJudge(spec, rubric, cache)
