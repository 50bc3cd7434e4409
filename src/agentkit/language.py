"""Language tags and the answer-language rule, in one place for every ``--language`` and ``language=``.

``parse_language`` accepts the usual spellings of a BCP 47 tag (``zh-TW``, ``zh_TW``, ``zh-tw``, ``zh-Hant``,
``zh-Hant-TW``, ``en_US``; parsed by langcodes) and refuses anything else with a ``ConfigError``: a tag that is
silently ignored is worse than an error. ``enforce`` applies the one script rule shared by pipelines, chat
guardrails and distillation: Chinese in the wrong script is converted with OpenCC; text that is not Chinese at all
is reported as such, for the caller to retry or to explain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar

from agentkit.errors import ConfigError

#: language subtags whose written form is Chinese characters (Mandarin, Cantonese, Literary Chinese)
_CHINESE = frozenset({"zh", "cmn", "yue", "lzh"})
#: OpenCC configurations per (script, region): characters only (Taiwan and Hong Kong variants), never phrase
#: rewriting — s2twp would turn a correct Traditional 連接 into 連線 and 軟件 into 軟體, changing what the model said
_OPENCC = {("Hant", "TW"): "s2tw", ("Hant", "HK"): "s2hk", ("Hant", "MO"): "s2hk", ("Hant", None): "s2t", ("Hans", None): "t2s"}
#: prompt rules for the tags people use most; any other valid tag gets a generic rule naming the tag
_RULES = {
    "zh-Hant": "Answer only in Traditional Chinese (繁體中文), never in Simplified Chinese.",
    "zh-Hans": "Answer only in Simplified Chinese (简体中文).",
    "zh": "Answer only in Chinese (中文).",
    "en": "Answer only in English.",
    "ja": "Answer only in Japanese (日本語).",
    "ko": "Answer only in Korean (한국어).",
}
_SCRIPT_NAMES = {"Hant": "Traditional Chinese", "Hans": "Simplified Chinese"}
_HINT = "use a BCP 47 language tag such as zh-TW, zh-CN, en or ja (zh_TW, zh-tw and zh-Hant are read too)"
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Language:
    """A parsed language tag. ``tag`` is the canonical spelling (``zh_TW`` → ``zh-TW``); ``script`` is the ISO 15924
    script the text must be written in where it matters (``Hant``/``Hans`` for Chinese; ``None`` for a bare ``zh``,
    which allows either script)."""

    tag: str
    base: str
    script: str | None = None
    region: str | None = None

    @property
    def chinese(self) -> bool:
        return self.base in _CHINESE

    @property
    def opencc(self) -> str | None:
        """The OpenCC configuration that converts text into this language's script (``None``: no conversion)."""
        if not self.chinese or self.script not in ("Hant", "Hans"):
            return None
        return _OPENCC.get((self.script, self.region)) or _OPENCC[(self.script, None)]

    @property
    def name(self) -> str:
        """A short English name for notes and errors: ``Traditional Chinese (zh-TW)``, ``English (en)``, or the tag."""
        if self.chinese and self.script in _SCRIPT_NAMES:
            return f"{_SCRIPT_NAMES[self.script]} ({self.tag})"
        if self.chinese:
            return f"Chinese ({self.tag})"
        known = {"en": "English", "ja": "Japanese", "ko": "Korean"}
        return f"{known[self.base]} ({self.tag})" if self.base in known else self.tag

    @property
    def rule(self) -> str:
        """The instruction added to prompts (system and user message)."""
        if self.chinese:
            return _RULES[f"zh-{self.script}"] if self.script in ("Hant", "Hans") else _RULES["zh"]
        return _RULES.get(self.base, f"Answer only in the language with the BCP 47 tag {self.tag}.")

    @property
    def key(self) -> str:
        """The tag tables of localized text are keyed by: ``zh-TW`` for any Traditional Chinese, ``zh-CN`` for any
        Simplified, else the base language (``en-GB`` → ``en``)."""
        if self.chinese:
            return {"Hant": "zh-TW", "Hans": "zh-CN"}.get(self.script or "", "zh")
        return self.base


@lru_cache(maxsize=256)
def _parse(value: str) -> Language:
    import langcodes
    from langcodes.tag_parser import LanguageTagError

    text = value.strip()
    if not text or _BAD_CHARS.search(text):
        raise ConfigError(f"{value[:40]!r} is not a language tag", _HINT)
    try:
        parsed = langcodes.Language.get(langcodes.standardize_tag(text))
    except (LanguageTagError, ValueError):
        raise ConfigError(f"{value[:40]!r} is not a language tag", _HINT) from None
    base = parsed.language or ""
    # langcodes folds the registered extended subtags (zh-yue → yue); one left over is unknown, as are private-use codes
    if not parsed.is_valid() or parsed.extlangs or not base or base == "und" or base.startswith("x-") or "qaa" <= base <= "qtz":
        raise ConfigError(f"unknown language tag {value[:40]!r}", _HINT)
    script = parsed.script
    if script is None and (parsed.territory or base not in ("zh", "cmn")):
        # zh-TW means Traditional, zh-SG Simplified (CLDR's likely subtags); a bare zh allows either script
        script = parsed.maximize().script
    return Language(parsed.to_tag(), base, script, parsed.territory)


def parse_language(value: str | Language | None) -> Language | None:
    """``None``/empty → ``None``; a valid tag in any usual spelling → ``Language``; anything else raises ConfigError."""
    if value is None or isinstance(value, Language):
        return value
    if not str(value).strip():
        return None
    return _parse(str(value))


def normalize_language(value: str | Language | None) -> str | None:
    """The canonical tag (``zh_TW`` → ``zh-TW``), ``None`` when no language is asked; unknown tags raise ConfigError."""
    parsed = parse_language(value)
    return parsed.tag if parsed else None


def language_rule(value: str | Language | None) -> str:
    """The prompt instruction for ``value`` ("" when no language is asked)."""
    parsed = parse_language(value)
    return parsed.rule if parsed else ""


T = TypeVar("T")


def localized(table: Mapping[str, T], value: str | Language | None, default: str = "en") -> T:
    """``table[tag]``, else ``table[key]`` (zh-TW/zh-CN/base), else ``table[default]``: a text in the asked language."""
    parsed = parse_language(value)
    if parsed is not None:
        for candidate in (parsed.tag, parsed.key, parsed.base):
            if candidate in table:
                return table[candidate]
    return table[default]


# ---- the script rule -------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
#: a text is Chinese when at least this share of its units (CJK characters + Latin words) are CJK characters;
#: counting Latin *words*, not letters, keeps 預設模型是 SmolLM2-135M-Instruct Chinese and "It is 玉山" English
CHINESE_SHARE = 0.5


def cjk_share(text: str) -> float:
    """CJK characters / (CJK characters + Latin words); 0.0 for text with neither."""
    cjk = len(_CJK.findall(text))
    units = cjk + len(_LATIN_WORD.findall(text))
    return cjk / units if units else 0.0


def other_script_share(text: str, language: Language) -> float:
    """Share of the CJK characters that OpenCC changes when converting to ``language``'s script (0.0 when none)."""
    from agentkit.chinese import convert

    config = language.opencc
    chars = _CJK.findall(text)
    if not config or not chars:
        return 0.0
    # character-level configuration (s2t / t2s): phrase conversions (軟件 → 軟體) are usage, not script
    converted = convert("".join(chars), "t2s" if language.script == "Hans" else "s2t")
    return float(sum(a != b for a, b in zip(chars, converted)) / len(chars))


@dataclass(frozen=True)
class ScriptCheck:
    """What ``enforce`` found. ``text`` is the text to use (converted when ``action == "converted"``)."""

    text: str
    action: Literal["pass", "converted", "wrong-language"]
    reason: str = ""


def written_in(text: str, language: Language) -> bool | None:
    """Whether ``text`` is in ``language`` as far as characters tell: Chinese (in Chinese characters) is mostly CJK
    characters, English is not (a Chinese name quoted in an English sentence is fine); ``None`` when agentkit cannot
    tell (other languages, or text without letters)."""
    if not _CJK.search(text) and not _LATIN_WORD.search(text):
        return None
    share = cjk_share(text)
    if language.chinese and language.script in (None, "Hant", "Hans"):
        return share >= CHINESE_SHARE
    if language.base == "en":
        return share < CHINESE_SHARE
    return None


def enforce(text: str, language: str | Language | None) -> ScriptCheck:
    """The script rule. Chinese text in the other script is converted (OpenCC, characters only);
    text that is not Chinese (or English) as asked is ``wrong-language`` — the caller retries or explains.
    Invariant: ``action == "pass"`` implies ``text`` is returned unchanged."""
    parsed = parse_language(language)
    if parsed is None or not text.strip():
        return ScriptCheck(text, "pass")
    if written_in(text, parsed) is False:
        return ScriptCheck(text, "wrong-language", f"not written in {parsed.name}")
    if parsed.opencc:
        from agentkit.chinese import convert

        converted = convert(text, parsed.opencc)
        if converted != text:
            return ScriptCheck(converted, "converted", f"converted to {parsed.name}")
    return ScriptCheck(text, "pass")


#: the visible note when a model kept answering in another language, per language (``{language}``: its name)
WRONG_LANGUAGE_NOTES = {
    "en": "(note: the model did not answer in {language} as asked; small models often ignore the language rule — a larger model follows it)",
    "zh-TW": "（注意：模型沒有依要求以{language}回答；小模型常忽略語言規則，較大的模型會遵守）",
    "zh-CN": "（注意：模型没有按要求以{language}回答；小模型常忽略语言规则，较大的模型会遵守）",
}


def wrong_language_note(language: str | Language | None) -> str:
    """The note appended to an answer that is still in another language after a retry ("" when none was asked)."""
    parsed = parse_language(language)
    if parsed is None:
        return ""
    return localized(WRONG_LANGUAGE_NOTES, parsed).format(language=parsed.name)
