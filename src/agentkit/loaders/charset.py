"""Bytes of a text file to text, the way ``open()`` would read it once the encoding is known.

Order of evidence, strongest first:
1. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE): decoded with it, the mark removed;
2. valid UTF-8;
3. a judged guess among the legacy encodings Chinese, Japanese, Korean and Western files come in
   (GB18030 ⊃ GBK ⊃ GB2312, Big5/cp950, Shift_JIS/cp932, EUC-KR/cp949, cp1252). Every candidate that decodes
   the bytes strictly is scored by how plausible its text is: tokens per byte under cl100k (its BPE merges
   follow web-text frequency, so real words need few tokens and mojibake many; Traditional is folded to
   Simplified first, cl100k knowing fewer Traditional merges) plus a penalty for characters a text in that
   encoding would not hold (private-use or control characters, kana outside Japanese, Hangul outside
   Korean, rare ideographs, lone accented letters, stray symbols). Short inputs are where charset
   detectors fail (GB2312 read as Korean, cp1252 as cp1250): this judge prefers the decoding that reads;
4. charset-normalizer, when no candidate gives plausible text (Cyrillic, Greek, ...).
A guess made on little data, or between two close candidates, is logged as a warning.
"""

from __future__ import annotations

import codecs
import logging
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from agentkit.errors import InputError

log = logging.getLogger(__name__)

_BOMS = (  # UTF-32 LE before UTF-16 LE: its mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Candidates in the order that breaks ties: Chinese first.
LEGACY_ENCODINGS = ("gb18030", "cp950", "cp932", "cp949", "cp1252")
SAMPLE_BYTES = 4096  # judged from the first non-ASCII byte on; the whole file is decoded afterwards
LITTLE_DATA = 256  # below this many bytes a legacy decoding is a guess, and is logged as one
_MAX_IMPLAUSIBLE = 0.2  # share of implausible characters above which a candidate is not believed
_CLOSE = 0.25  # score margin under which two candidates are too close to call
# Common ideographs: GB2312 level 1 (3755 most used Simplified), Big5 level 1 (5401 常用字), JIS level 1.
_COMMON_HAN_RANGES = (("gb2312", 0xB0A1, 0xD7FE), ("big5", 0xA440, 0xC67E), ("shift_jis", 0x889F, 0x9872))
_WESTERN_SYMBOLS = frozenset("«»°©®£§€")


@dataclass(frozen=True)
class Guess:
    encoding: str
    score: float  # lower is more plausible
    implausible: float  # share of characters the encoding's texts would not hold


def decode_bytes(data: bytes, where: str = "input") -> tuple[str, str]:
    """Bytes to text with universal newlines, as ``open()`` would give, and the encoding used.
    Binary data (NUL bytes without a UTF-16/32 mark) and undecodable data raise InputError."""
    text, encoding = _decode(data, where)
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _decode(data: bytes, where: str) -> tuple[str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                raise InputError(f"{where} starts with a {codec} byte-order mark but is not valid {codec}", "re-save it as UTF-8") from None
    if b"\x00" in data[:8192]:
        raise InputError(f"{where} looks binary (NUL bytes)", "pass a text, Markdown, HTML, PDF, JSONL or CSV file")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    ranked = judge(data)
    believable = [g for g in ranked if g.implausible <= _MAX_IMPLAUSIBLE]
    for i, guess in enumerate(believable):
        try:
            text = data.decode(guess.encoding)
        except UnicodeDecodeError:
            continue  # the sample decoded, a later part does not
        runner_up = believable[i + 1] if i + 1 < len(believable) else None
        close = runner_up is not None and runner_up.score - guess.score < _CLOSE
        if len(data) < LITTLE_DATA or close:
            log.warning(
                "%s: guessed encoding %s from %d bytes%s; convert the file to UTF-8 if its text looks wrong",
                where, guess.encoding, len(data), f" (close second: {runner_up.encoding})" if close and runner_up else "",
            )
        return text, guess.encoding
    return _detect(data, where)


def _detect(data: bytes, where: str) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise InputError(f"cannot detect the character set of {where}", "convert it to UTF-8 (e.g. iconv -f BIG5 -t UTF-8)")
    if len(data) < LITTLE_DATA:
        log.warning("%s: guessed encoding %s from %d bytes; convert the file to UTF-8 if its text looks wrong", where, best.encoding, len(data))
    return str(best), best.encoding


def judge(data: bytes) -> list[Guess]:
    """The legacy encodings that decode a sample of ``data`` strictly, most plausible first."""
    from agentkit.chinese import convert
    from agentkit.chunking.tokenizers import get_tokenizer

    first = next((i for i, byte in enumerate(data) if byte >= 0x80), 0)
    sample = data[max(0, first - 256):first + SAMPLE_BYTES]  # starts in ASCII: a character boundary in every candidate
    final = first + SAMPLE_BYTES >= len(data)
    count = get_tokenizer("cl100k").count
    out = []
    for encoding in LEGACY_ENCODINGS:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=final)
        except UnicodeDecodeError:
            continue
        if not text:
            continue
        implausible = sum(_implausibility(text, i, encoding) for i in range(len(text))) / len(text)
        out.append(Guess(encoding, count(convert(text, "t2s")) / len(sample) + 2 * implausible, implausible))
    return sorted(out, key=lambda g: g.score)  # stable: ties keep LEGACY_ENCODINGS order


def _implausibility(text: str, i: int, encoding: str) -> float:
    """How unlikely ``text[i]`` is in a text written in ``encoding``: 0 (expected) to 1 (mojibake)."""
    ch = text[i]
    code = ord(ch)
    if code < 0x80:
        return 0.0
    category = unicodedata.category(ch)
    if category in ("Co", "Cn", "Cc", "Cs"):
        return 1.0
    if 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E or 0x2010 <= code <= 0x206F or ch == "€":
        return 0.0  # CJK and full-width punctuation, typographic quotes and dashes
    if 0x3040 <= code <= 0x30FF:
        return 0.0 if encoding == "cp932" else 1.0  # kana
    if 0xAC00 <= code <= 0xD7AF:
        return 0.0 if encoding == "cp949" else 1.0  # Hangul syllables
    if 0xFF61 <= code <= 0xFF9F:
        return 1.0  # half-width katakana: what CJK bytes become in Shift_JIS
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
        return (0.0 if _common_han(ch) else 0.5) + (0.5 if encoding == "cp949" else 0.0)  # Korean is mostly Hangul
    if category.startswith("L") and code < 0x250:
        # An accented Latin letter belongs to a word: next to an ASCII letter (café), not among symbols.
        beside = text[i - 1:i] + text[i + 1:i + 2]
        return 0.0 if any(c.isascii() and c.isalpha() for c in beside) else 0.5
    if ch in _WESTERN_SYMBOLS:
        return 0.3
    return 1.0


@lru_cache(maxsize=8192)
def _common_han(ch: str) -> bool:
    for encoding, low, high in _COMMON_HAN_RANGES:
        try:
            raw = ch.encode(encoding)
        except UnicodeEncodeError:
            continue
        if len(raw) == 2 and low <= (raw[0] << 8 | raw[1]) <= high:
            return True
    return False
