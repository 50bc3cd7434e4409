"""Scoring HW01 answers against gold aliases: ``strict``, ``lenient`` and ``llm`` (a judge model).

strict: a gold alias appears in the answer after Unicode NFKC, case folding and whitespace removal, and a
number in the alias is not part of a longer number in the answer ("5" does not appear in "25").

lenient adds rules that each only make equal two spellings of the same thing, so none can turn a wrong
answer into a right one on its own: Simplified↔Traditional and variant characters (OpenCC t2s on both
sides), Chinese numerals → digits (一門 = 1門, 二十一 = 21), a unit after a number may be dropped
(750元 = 750, never 7500), interpuncts ignored and a transliterated name's family name accepted
(麥可·法拉第 → 法拉第).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agentkit.chinese import convert
from agentkit.errors import ConfigError, InputError
from agentkit.hw01.data import HW01Item

MODES = ("strict", "lenient", "llm")
_UNITS = "元|塊|分|個|人|位|年|歲|次|門|公里|公尺|米|公斤|度|%|％|號|名|場|座|條|隻|本|部|天|小時|分鐘|秒"
_NUMBER_WITH_UNIT = re.compile(rf"^(\d+(?:\.\d+)?)(?:{_UNITS})")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "萬": 10000, "万": 10000}
_CN_NUMBER = re.compile(f"[{''.join(_CN_DIGITS)}{''.join(_CN_UNITS)}]+")


@dataclass(frozen=True)
class Verdict:
    id: int
    correct: bool
    matched: str | None
    reason: str
    question: str = ""
    gold: tuple[str, ...] = ()
    answer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "correct": self.correct, "matched": self.matched, "reason": self.reason}


@dataclass(frozen=True)
class ScoreReport:
    mode: str
    verdicts: tuple[Verdict, ...]

    @property
    def correct(self) -> int:
        return sum(v.correct for v in self.verdicts)

    @property
    def total(self) -> int:
        return len(self.verdicts)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "correct": self.correct, "total": self.total, "accuracy": round(self.accuracy, 4), "per_question": [v.to_dict() for v in self.verdicts]}


# ---- normalization -------------------------------------------------------------------------------


def strict_form(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).casefold())


def chinese_numerals_to_digits(text: str) -> str:
    """一門 → 1門, 二十一 → 21, 三百五十 → 350; a lone 十 → 10."""

    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        if all(ch in _CN_DIGITS for ch in run) and len(run) > 1:
            return "".join(str(_CN_DIGITS[ch]) for ch in run)  # 二〇二五 → 2025
        total = section = digit = 0
        for ch in run:
            if ch in _CN_DIGITS:
                digit = _CN_DIGITS[ch]
            else:
                unit = _CN_UNITS[ch]
                if unit == 10000:
                    total += (section + digit) * unit
                    section = 0
                else:
                    section += (digit or 1) * unit
                digit = 0
        return str(total + section + digit)

    return _CN_NUMBER.sub(convert, text)


def lenient_form(text: str) -> str:
    text = convert(strict_form(text), "t2s")
    text = re.sub(r"[·・．•‧]", "", text)
    return chinese_numerals_to_digits(text)


def contains(answer: str, alias: str) -> bool:
    """``alias`` occurs in ``answer`` and, where it starts or ends with a digit, not inside a longer number."""
    if not alias:
        return False
    pattern = re.escape(alias)
    if alias[0].isdigit():
        pattern = r"(?<![\d.])" + pattern
    if alias[-1].isdigit():
        pattern += r"(?![\d]|\.\d)"
    return re.search(pattern, answer) is not None


def _lenient_aliases(alias: str) -> list[str]:
    forms = [lenient_form(alias)]
    unit = _NUMBER_WITH_UNIT.match(forms[0])
    if unit:
        forms.append(unit.group(1))  # 750元 → 750 (the number stays whole: contains() checks its edges)
    parts = [p for p in re.split(r"[·・．•‧]", strict_form(alias)) if p]
    if len(parts) > 1 and len(parts[-1]) >= 2:
        forms.append(lenient_form(parts[-1]))  # family name of a transliterated name
    return forms


def match(answer: str, aliases: Sequence[str], mode: str = "strict") -> str | None:
    """The first gold alias the answer matches under ``mode`` (strict or lenient), or None."""
    a_strict = strict_form(answer)
    for alias in aliases:
        if contains(a_strict, strict_form(alias)):
            return alias
    if mode == "strict":
        return None
    a_lenient = lenient_form(answer)
    for alias in aliases:
        if any(contains(a_lenient, form) for form in _lenient_aliases(alias)):
            return alias
    return None


# ---- the LLM judge -------------------------------------------------------------------------------

JUDGE_ROLE = "You grade answers to quiz questions. You are strict about facts and lenient about wording, script (Traditional/Simplified) and language."
JUDGE_TASK = (
    'Decide whether the answer is correct given the accepted gold answers. Reply with one JSON object and nothing else: '
    '{"verdict": "correct" or "incorrect", "reason": "<one short sentence>"}.'
)


def _judge_verdict(text: str) -> tuple[bool | None, str]:
    found = re.search(r"\{.*\}", text, re.DOTALL)
    if found:
        try:
            data = json.loads(found.group(0))
            verdict = str(data.get("verdict", "")).lower()
            if verdict in ("correct", "incorrect"):
                return verdict == "correct", str(data.get("reason", ""))[:300]
        except ValueError:
            pass
    lowered = text.lower()
    if "incorrect" in lowered or "不正確" in text or "錯誤" in text:
        return False, text.strip()[:300]
    if "correct" in lowered or "正確" in text:
        return True, text.strip()[:300]
    return None, text.strip()[:300]


def judge(items: Sequence[HW01Item], answers: Sequence[str], llm: Any, cache: Any = None) -> list[tuple[bool, str]]:
    from agentkit.agents import LLMAgent
    from agentkit.llm import GenerationParams, load_llm

    model = load_llm(llm)
    agent = LLMAgent(JUDGE_ROLE, JUDGE_TASK, model, params=GenerationParams(max_tokens=96, temperature=0.0), name="judge", input_label="Case")
    out = []
    for item, answer in zip(items, answers):
        case = json.dumps({"question": item.question, "gold_answers": list(item.answers), "answer": answer}, ensure_ascii=False)
        key = hashlib.sha256(f"{model.spec}\0{case}".encode()).hexdigest()
        cached = cache.get("judge", key) if cache else None
        if cached is None:
            verdict, reason = _judge_verdict(agent.run(case).text)
            if verdict is None:
                verdict, reason = False, f"judge gave no verdict: {reason}"
            cached = [verdict, reason]
            if cache:
                cache.put("judge", key, cached)
        out.append((bool(cached[0]), str(cached[1])))
    return out


def score(items: Sequence[HW01Item], answers: Sequence[str], mode: str = "strict", judge_llm: Any = None, cache: Any = None) -> ScoreReport:
    if mode not in MODES:
        raise ConfigError(f"unknown scoring mode '{mode}'", f"use one of: {', '.join(MODES)}")
    if any(not item.answers for item in items):
        raise InputError("the gold file has questions without answers", "score against a question,answer file")
    if len(answers) != len(items):
        raise InputError(
            f"{len(answers)} answers for {len(items)} gold questions",
            "the answers file needs exactly one line per gold question, in order (an empty line for a skipped one)",
        )
    verdicts = []
    judged = judge(items, answers, judge_llm, cache) if mode == "llm" else None
    for i, (item, answer) in enumerate(zip(items, answers)):
        if judged is not None:
            ok, reason = judged[i]
            verdicts.append(Verdict(item.id, ok, None, reason, item.question, item.answers, answer))
            continue
        if not answer.strip():
            verdicts.append(Verdict(item.id, False, None, "empty answer", item.question, item.answers, answer))
            continue
        hit = match(answer, item.answers, mode)
        if hit is not None:
            reason = "alias found" if match(answer, item.answers, "strict") else "alias found after lenient normalization"
        else:
            reason = "no gold alias in the answer"
        verdicts.append(Verdict(item.id, hit is not None, hit, reason, item.question, item.answers, answer))
    return ScoreReport(mode, tuple(verdicts))


__all__ = ["MODES", "Verdict", "ScoreReport", "strict_form", "lenient_form", "chinese_numerals_to_digits", "contains", "match", "judge", "score", "asdict"]
