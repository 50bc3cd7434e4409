"""CJK-aware text measures the distillation filters and checks share: length units, content terms and lexical
support, ROUGE-L, and the "do two answers state different facts" test.

Chinese has no spaces, so a measure that counts characters or whitespace words is wrong for one of the two
languages: ``玉山有多高？`` is six characters but a complete question. Every measure here counts a CJK character
where English counts a word, and folds Traditional to Simplified (OpenCC t2s) before comparing.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

# Ideographs, kana, hangul: each character is a unit; a run of letters/digits elsewhere is a word.
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_UNIT = re.compile(rf"[{_CJK_CLASS}]|[^\W{_CJK_CLASS}_]+", re.UNICODE)
_CJK = re.compile(rf"[{_CJK_CLASS}]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

#: function words that carry no fact of their own (a question's "how many ... does ... have")
EN_STOPWORDS = frozenset(
    "a about above after all also an and any are as at be been being but by can could did do does doing for from had has have "
    "he her here hers him his how i if in into is it its just many me more most much my no not of on or our out over same "
    "she should so some such than that the their them then there these they this those through to too under up very was we "
    "were what when where which while who whom whose why will with would you your".split()
)
#: question particles and function characters (Traditional and Simplified) that say nothing about the fact asked
ZH_STOPCHARS = frozenset("的是有嗎吗呢吧啊什麼么哪幾几多少誰谁為为何怎樣样如在了與与及請请問问個个些這这那也都就其之於于被把給给從从對对")


def units(text: str) -> int:
    """Length in units: a word of letters or digits counts 1, each CJK character counts 1 (punctuation 0)."""
    return len(_UNIT.findall(text))


def fold(text: str) -> str:
    """NFKC, case-folded, Traditional folded to Simplified: the form every comparison here uses."""
    from agentkit.chinese import convert

    text = unicodedata.normalize("NFKC", text).casefold()
    return convert(text, "t2s") if _CJK.search(text) else text


_local = threading.local()


def _stem(words: list[str]) -> list[str]:
    # A Snowball stemmer keeps state between calls: one per thread (generation runs in a pool).
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        from agentkit.extras import require

        require("snowballstemmer", "distill", "English stemming in the distillation checks")
        import snowballstemmer

        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return list(stemmer.stemWords(words))


@lru_cache(maxsize=65536)
def content_terms(text: str) -> frozenset[str]:
    """The words that carry the facts: English words minus function words, Snowball-stemmed (moons = moon); CJK
    runs cut at function characters, a one-character piece kept whole, a longer one as its bigrams (玉山有多高 →
    玉山, 高); numbers as written."""
    text = fold(text)
    terms: set[str] = set(_NUMBER.findall(text))
    words = [w for w in re.findall(rf"[^\W\d{_CJK_CLASS}_]+", text) if w not in EN_STOPWORDS]
    terms.update(_stem(words))
    for run in re.findall(rf"[{_CJK_CLASS}]+", text):
        for piece in re.split(f"[{''.join(sorted(ZH_STOPCHARS))}]+", run):
            if len(piece) == 1:
                terms.add(piece)
            terms.update(piece[i:i + 2] for i in range(len(piece) - 1))
    return frozenset(terms)


def support(text: str, context: str) -> float | None:
    """Share of ``text``'s content terms found in ``context``; None when ``text`` has no content term."""
    terms = content_terms(text)
    if not terms:
        return None
    return len(terms & content_terms(context)) / len(terms)


def rouge_tokens(text: str) -> tuple[str, ...]:
    """Tokens for ROUGE-L: words and single CJK characters of the folded text (Traditional = Simplified)."""
    return tuple(_UNIT.findall(fold(text)))


def lcs_length(a: tuple[str, ...] | list[str], b: tuple[str, ...] | list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row kept)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """ROUGE-L F1 of two token sequences (symmetric)."""
    if not a or not b:
        return float(a == b)
    lcs = lcs_length(a, b)
    return 2 * lcs / (len(a) + len(b))


def numbers(text: str) -> frozenset[str]:
    return frozenset(_NUMBER.findall(unicodedata.normalize("NFKC", text)))


def different_facts(answer: str, other: str) -> bool:
    """Two answers state different facts when their numbers differ, or when they share no content term
    ("Germany" / "France"). Answers that agree ("Mars is red." / "It is red.") are the same fact."""
    if numbers(answer) != numbers(other):
        return True
    a, b = content_terms(answer), content_terms(other)
    return bool(a and b) and not (a & b)


def collapse_spaces(text: str) -> str:
    """Whitespace runs as one space, ends stripped: how a quote is compared with its chunk (a model re-flows lines)."""
    return " ".join(text.split())
