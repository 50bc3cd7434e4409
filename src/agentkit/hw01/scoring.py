"""Scoring HW01 answers against gold aliases: ``strict``, ``lenient`` and ``llm`` (a judge model).

A false pass is the worst error a grader can make, so every rule below only ever makes two spellings of
the same thing equal, and a match can still be vetoed.

strict: a gold alias occurs in the answer after Unicode NFKC, case folding, digit grouping removed
(1,000 = 1000) and whitespace ignored (``G e F o r c e`` = ``GeForce``). The occurrence must stand alone:
- a number is not part of a longer number (``5`` is not in ``25``, ``2.5``, ``1,000`` or ``1 000``), nor glued
  to a letter before it (``2`` is not in ``H2O``); a unit may follow (``5km``, ``5分``);
- a Latin word is not part of a longer word (``H2O`` is not in ``H2O2``, ``Jobs`` is not in ``Jobson``);
- a Chinese numeral is not part of a longer one (``一門`` is not in ``十一門``);
- it is not negated: a negation in the same clause shortly before it (不是, 並非, 沒有, 不, 未, 無, not, no,
  never, isn't, …) or a verdict right after it (``X 不對``, ``X is wrong``) vetoes that occurrence; another,
  un-negated occurrence still counts (``是 5 分，不是 3 分`` passes for 5).
An alias with a parenthesised gloss also matches without it (``幻方量化（High-Flyer）`` → ``幻方量化``).

lenient adds: Simplified↔Traditional and variant characters (OpenCC t2s on both sides), Chinese numerals
→ digits where they stand as numbers (一門 = 1門, 二十一 = 21, but 統一發票 keeps its 一), a unit after a
number may be dropped (750元 = 750, never 7500), interpuncts ignored and a transliterated name's family
name accepted (麥可·法拉第 → 法拉第).

llm: a judge model decides; it must be named (``judge_llm``): the embedded 135M model is no judge.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agentkit.chinese import convert
from agentkit.errors import ConfigError, InputError
from agentkit.hw01.data import HW01Item

MODES = ("strict", "lenient", "llm")
_UNITS = "元|塊|块|分|個|个|人|位|年|歲|岁|次|門|门|公里|公尺|米|公斤|度|%|％|號|号|名|場|场|座|條|条|隻|只|本|部|天|小時|小时|分鐘|分钟|秒"
_NUMBER_WITH_UNIT = re.compile(rf"^(\d+(?:\.\d+)?)(?:{_UNITS})")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "萬": 10000, "万": 10000}
_CN_NUMERALS = frozenset(_CN_DIGITS) | frozenset(_CN_UNITS)
_CN_NUMBER = re.compile(f"[{''.join(_CN_NUMERALS)}]+")
# A Chinese numeral is read as a number only next to these (or next to no Han character at all): 一門, 是五,
# 第一; never inside a word (統一, 一定, 兩岸).
_NUMBER_BEFORE = frozenset("是為为有共約约第到至僅仅只剩得和與与或及等於于每")
_CLASSIFIERS = frozenset("元塊块分個个人位年月日歲岁次門门米度號号名場场座條条隻只本部天小時时秒倍成種种項项件張张台臺間间家所支隊队屆届樓楼層层週周級级段期章節节頁页首句顆颗輛辆架艘份杯瓶億亿點点公克")

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003ffff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_WHITESPACE = re.compile(r"\s+")
_DIGIT_GROUPING = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # 1,000 → 1000 (after NFKC, so ， too)
_GLOSS = re.compile(r"\s*\([^()]*\)")  # （High-Flyer） after NFKC
_INTERPUNCT = re.compile(r"[·・．•‧]")

# Negation. A clause ends at punctuation; a contrast word ends the negation's scope ("not 3 but 5").
_CLAUSE_END = re.compile(r"[,;。!?:\n、]|\.(?!\d)|\s[-–—]\s")
_CONTRAST = re.compile(r"而是|但是|但|而|卻|却|其實|其实|反而|\b(?:but|rather|instead|actually|however)\b")
_ZH_CUE = re.compile(r"[不沒没未非無无別别勿]")
_EN_CUE = re.compile(r"\b(?:not|no|never|neither|nor|none|nobody|cannot|\w+n't)\b")
_ZH_WINDOW = 6  # characters between a Chinese negation and the alias it negates (不可能會是 X)
_EN_WINDOW = 4  # words between an English negation and the alias (is not really the X)
# Words that contain a negation character but do not negate what follows.
_NOT_NEGATING = (
    "非常", "不錯", "不错", "沒錯", "没错", "不過", "不过", "不只", "不僅", "不仅", "不但", "不光", "無論", "无论", "不管",
    "無疑", "无疑", "毫無", "毫无", "未來", "未来", "非洲", "南非", "無線", "无线", "不久", "不斷", "不断", "並非只", "并非只",
    "not only", "not just", "no doubt", "no matter", "or not", "if not",
)
# A verdict right after the alias: "5 分不對", "Steve Jobs is wrong".
_VERDICT_AFTER = re.compile(
    rf"\s?(?:{_UNITS})?\s?(?:是|并|並)?(?:不對|不对|不正確|不正确|錯|错|不是答案|不是正確|不是正确)"
    r"|\s(?:is|was|are|were)\s(?:not|wrong|incorrect)\b|\s(?:isn't|wasn't|aren't|weren't)\b"
)


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
    """NFKC, case folded, digit grouping removed, whitespace runs collapsed to one space (or one newline)."""
    text = _DIGIT_GROUPING.sub("", unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'"))
    return _WHITESPACE.sub(lambda m: "\n" if "\n" in m.group() else " ", text).strip()


def chinese_numerals_to_digits(text: str) -> str:
    """一門 → 1門, 二十一 → 21, 三百五十 → 350, a lone 十 → 10; only where the numeral stands as a number:
    next to a non-Han character, a classifier after it (門, 個, 分, …) or a word like 是/第 before it.
    Numerals inside words stay (統一發票, 一定, 兩岸)."""

    def value(run: str) -> str:
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

    def replace(match: re.Match[str]) -> str:
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        stands_alone = (not _HAN.match(before) or before in _NUMBER_BEFORE) and (not _HAN.match(after) or after in _CLASSIFIERS)
        return value(match.group(0)) if stands_alone else match.group(0)

    return _CN_NUMBER.sub(replace, text)


def lenient_form(text: str) -> str:
    """The strict form in Simplified script, interpuncts dropped and Chinese numerals read as digits."""
    return chinese_numerals_to_digits(_lenient_script(strict_form(text)))


def _lenient_script(form: str) -> str:
    return _INTERPUNCT.sub("", convert(form, "t2s"))


def _is_word(ch: str) -> bool:
    """A letter or digit of a script that separates words (Latin, Greek, …), not CJK."""
    return ch.isalnum() and not _CJK.match(ch)


def _neighbour(text: str, index: int, step: int) -> str:
    """The character at ``index`` or beyond in direction ``step``, skipping spaces ("" past the end)."""
    while 0 <= index < len(text) and text[index] == " ":
        index += step
    return text[index] if 0 <= index < len(text) else ""


def _stands_alone(text: str, start: int, end: int, alias: str) -> bool:
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    first, last = alias[0], alias[-1]
    if first.isdigit():
        if _neighbour(text, start - 1, -1).isdigit() or before == "." or _is_word(before):
            return False  # 25, 2.5, 1 000 (digits split by a space are one number), H2O
    elif (_is_word(first) and _is_word(before)) or (first in _CN_NUMERALS and before in _CN_NUMERALS):
        return False  # Jobson ⊅ Jobs; 十一門 ⊅ 一門
    if last.isdigit():
        if _neighbour(text, end, 1).isdigit() or (after == "." and text[end + 1:end + 2].isdigit()):
            return False  # 50 in 500, 5 in 5.5; a unit may follow (5km, 5分)
    elif (_is_word(last) and _is_word(after)) or (last in _CN_NUMERALS and after in _CN_NUMERALS):
        return False  # H2O2 ⊅ H2O; 一百 ⊅ 一
    return True


def _excused(text: str, cue_start: int, cue_end: int) -> bool:
    """The negation word at ``[cue_start, cue_end)`` is part of a word that does not negate (非常, not only)."""
    for word in _NOT_NEGATING:
        cue = text[cue_start:cue_end]
        at = word.find(cue)
        while at != -1:
            if text.startswith(word, cue_start - at):
                return True
            at = word.find(cue, at + 1)
    return False


def negated(text: str, start: int, end: int) -> bool:
    """Whether the occurrence ``text[start:end]`` is negated: a negation earlier in its clause, close
    before it and not closed by a contrast word ("not 3 but 5"), or a verdict right after it."""
    if _VERDICT_AFTER.match(text, end):
        return True
    clause_start = 0
    for m in _CLAUSE_END.finditer(text, 0, start):
        clause_start = m.end()
    for m in _CONTRAST.finditer(text, clause_start, start):
        clause_start = m.end()
    scope = text[clause_start:start]
    for cue in _ZH_CUE.finditer(scope):
        if len(scope[cue.end():].replace(" ", "")) <= _ZH_WINDOW and not _excused(text, clause_start + cue.start(), clause_start + cue.end()):
            return True
    for cue in _EN_CUE.finditer(scope):
        if len(scope[cue.end():].split()) <= _EN_WINDOW and not _excused(text, clause_start + cue.start(), clause_start + cue.end()):
            return True
    return False


def contains(answer: str, alias: str) -> bool:
    """``alias`` occurs in ``answer`` (both already normalized; spaces in either are ignored), standing
    alone (not inside a longer number or word) and not negated, at least once."""
    alias = alias.replace(" ", "").replace("\n", "")
    if not alias:
        return False
    pattern = re.compile("(?=(" + r"\s?".join(map(re.escape, alias)) + "))")
    for m in pattern.finditer(answer):
        start, end = m.span(1)
        if _stands_alone(answer, start, end, alias) and not negated(answer, start, end):
            return True
    return False


def _variants(alias: str) -> list[str]:
    """The alias in strict form, and without its parenthesised gloss (幻方量化（High-Flyer） → 幻方量化)."""
    form = strict_form(alias)
    bare = _GLOSS.sub("", form).strip()
    return [form, bare] if bare and bare != form else [form]


def _lenient_aliases(alias: str) -> tuple[list[str], list[str]]:
    """Forms to look for in the answer's lenient script form and in its numeral-converted form."""
    script_forms, number_forms = [], []
    for form in _variants(alias):
        script = _lenient_script(form)
        number = chinese_numerals_to_digits(script)
        script_forms.append(script)
        number_forms.append(number)
        unit = _NUMBER_WITH_UNIT.match(number)
        if unit:
            number_forms.append(unit.group(1))  # 750元 → 750 (the number stays whole: contains() checks its edges)
        parts = [p for p in _INTERPUNCT.split(form) if p.strip()]
        if len(parts) > 1 and len(parts[-1].strip()) >= 2:
            script_forms.append(_lenient_script(parts[-1]))  # family name of a transliterated name
    return script_forms, number_forms


def match(answer: str, aliases: Sequence[str], mode: str = "strict") -> str | None:
    """The first gold alias the answer matches under ``mode`` (strict or lenient), or None."""
    a_strict = strict_form(answer)
    for alias in aliases:
        if any(contains(a_strict, form) for form in _variants(alias)):
            return alias
    if mode == "strict":
        return None
    a_script = _lenient_script(a_strict)
    a_number = chinese_numerals_to_digits(a_script)
    for alias in aliases:
        script_forms, number_forms = _lenient_aliases(alias)
        if any(contains(a_script, f) for f in script_forms) or any(contains(a_number, f) for f in number_forms):
            return alias
    return None


def check_mode(mode: str, judge_llm: Any = None) -> None:
    """Refuse an unknown mode, and ``llm`` without a named judge (never a silent fallback to a small model)."""
    if mode not in MODES:
        raise ConfigError(f"unknown scoring mode '{mode}'", f"use one of: {', '.join(MODES)}")
    if mode == "llm" and (judge_llm is None or (isinstance(judge_llm, str) and not judge_llm.strip())):
        raise ConfigError(
            "scoring mode 'llm' needs a judge model",
            "name one with --judge-llm (e.g. --judge-llm ollama://qwen2.5:7b); the embedded 135M model is not a reliable judge",
        )


# ---- the LLM judge -------------------------------------------------------------------------------

def judge(items: Sequence[HW01Item], answers: Sequence[str], llm: Any, cache: Any = None) -> list[tuple[bool, str]]:
    """(correct, reason) per answer from the one ``agentkit.judges.LLMJudge`` with the ``correctness`` rubric.

    A judge that gives no usable verdict counts as incorrect (a false pass is the worst error) and is not cached,
    so a re-run asks again. ``cache`` is the judge table of the web cache (``get/put(kind, key)``) or any
    ``agentkit.judges.Cache``.
    """
    from agentkit.judges import JudgeCase, LLMJudge, namespaced

    check_mode("llm", llm)
    grader = LLMJudge(llm, "correctness", namespaced(cache, "judge") if cache is not None else None)
    out = []
    for item, answer in zip(items, answers):
        verdict = grader.judge(JudgeCase(item.question, answer, references=tuple(item.answers)))
        out.append((verdict.passed is True, verdict.reason))
    return out


def score(items: Sequence[HW01Item], answers: Sequence[str], mode: str = "strict", judge_llm: Any = None, cache: Any = None) -> ScoreReport:
    check_mode(mode, judge_llm)
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


__all__ = ["MODES", "Verdict", "ScoreReport", "strict_form", "lenient_form", "chinese_numerals_to_digits", "contains", "negated", "match", "check_mode", "judge", "score", "asdict"]
