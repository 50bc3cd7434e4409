"""BM25 over chunks with bm25s, with a tokenizer that handles Chinese as well as English."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentkit.chinese import convert
from agentkit.retrievers.base import RetrievedChunk

# CJK ideographs, kana and hangul: no spaces between words, so index characters and bigrams.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+", re.UNICODE)
_CJK_RUN = re.compile(rf"[{_CJK}]")
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or she that the their them "
    "they this to was we were what when where which who why will with you your".split()
)


#: Changes whenever ``tokenize`` does: an index persisted with another version holds other tokens.
TOKENIZER_VERSION = "2-t2s"


def tokenize(text: str) -> list[str]:
    """Lower-cased words (English stopwords dropped) plus CJK unigrams and bigrams in Simplified script:
    臺灣大學 and 台湾大学 both give 台 湾 大 学 台湾 湾大 大学. Bigrams give word-like matches without a
    dictionary; folding Traditional to Simplified (OpenCC t2s, also variants such as 臺 → 台) lets a query in
    one script find documents in the other. Text without CJK skips the conversion."""
    text = text.lower()
    if not text.isascii() and _CJK_RUN.search(text):
        text = convert(text, "t2s")
    tokens: list[str] = []
    for run in _TOKEN.findall(text):
        if _CJK_RUN.match(run):
            tokens.extend(run)
            tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
        elif run not in STOPWORDS:
            tokens.append(run)
    return tokens


class BM25Index:
    """An immutable BM25 index of chunks; ``search`` returns best-first RetrievedChunks."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[dict[str, Any]], model: Any = None) -> None:
        import bm25s

        self.ids = list(ids)
        self.texts = list(texts)
        self.metadatas = list(metadatas)
        if model is None:
            model = bm25s.BM25()
            if self.ids:
                model.index([tokenize(t) or [""] for t in self.texts], show_progress=False)
        self.model = model

    def search(self, query: str, k: int = 5, where: dict[str, Any] | None = None) -> list[RetrievedChunk]:
        if not self.ids:
            return []
        vocab = getattr(self.model, "vocab_dict", None) or {}
        tokens = [t for t in tokenize(query) if t in vocab]  # bm25s rejects unseen tokens
        if not tokens:
            return []
        scores = np.asarray(self.model.get_scores(tokens))
        if where:
            mask = np.array([matches(m, where) for m in self.metadatas], dtype=bool)
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores, kind="stable")[:k]
        return [self._chunk(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def _chunk(self, i: int, score: float) -> RetrievedChunk:
        meta = self.metadatas[i]
        return RetrievedChunk(self.texts[i], meta.get("source", ""), int(meta.get("start", 0)), int(meta.get("end", 0)), score, self.ids[i], meta, {"bm25": score})

    def save(self, directory: Path, stamp: str, signature: str = "") -> None:
        """Persist beside ``stamp`` and ``signature`` (see ``signature()``); the model is written before
        ``chunks.json``, so a save killed halfway leaves a file that does not match and is rebuilt."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.ids:  # bm25s cannot save a model that indexed nothing
            self.model.save(str(directory / "model"))
        data = {"stamp": stamp, "signature": signature, "ids": self.ids, "texts": self.texts, "metadatas": self.metadatas}
        tmp = directory / "chunks.json.tmp"
        tmp.write_text(json.dumps(data, ensure_ascii=False))
        tmp.replace(directory / "chunks.json")

    @classmethod
    def load(cls, directory: Path, stamp: str, signature: str = "") -> BM25Index | None:
        """The saved index if it was built at ``stamp`` over a collection with ``signature``, else None
        (the caller rebuilds)."""
        import bm25s

        try:
            data = json.loads((directory / "chunks.json").read_text())
            if data.get("stamp") != stamp or data.get("signature", "") != signature:
                return None
            model = bm25s.BM25.load(str(directory / "model")) if data["ids"] else None
        except (OSError, ValueError, KeyError, TypeError, EOFError):  # missing or damaged: rebuilt
            return None
        return cls(data["ids"], data["texts"], data["metadatas"], model)


def signature(ids: Sequence[str]) -> str:
    """``TOKENIZER:COUNT:DIGEST`` of a set of chunk ids (order-free): an index whose signature differs from its
    collection's misses chunks or holds deleted ones — or was built by another ``tokenize`` (an index saved
    before script folding holds Traditional tokens a folded query never matches)."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
    return f"{TOKENIZER_VERSION}:{len(ids)}:{digest}"


def matches(metadata: dict[str, Any], where: dict[str, Any]) -> bool:
    """Filter semantics shared with the Chroma translation: ``{"source": "a.md"}`` equality,
    ``{"source": ["a.md", "b.md"]}`` membership, ``{"tags": "x"}`` list containment."""
    for key, wanted in where.items():
        value = metadata.get(key)
        allowed = wanted if isinstance(wanted, list | tuple | set) else [wanted]
        if isinstance(value, list):
            if not any(v in value for v in allowed):
                return False
        elif value not in allowed:
            return False
    return True
