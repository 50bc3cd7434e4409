"""Chroma's chunking evaluation, faithfully (``../shared/chunking_eval/METHOD.md``), for any agentkit splitter
and embedder, in dense, BM25 and hybrid retrieval modes.

All chunks of all corpora go into one collection; retrieval is exact (brute-force cosine over normalized
vectors, no ANN error), so differences come from the chunking and the embedder only. Embeddings go through
the on-disk cache: each distinct chunk text and question is embedded once per embedder, across runs.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentkit.chunking.base import Splitter
from agentkit.embeddings.base import Embedder
from agentkit.errors import ConfigError, InputError
from agentkit.evaluation.metrics import QuestionScore, min_k, precision_omega, retrieval_scores
from agentkit.retrievers.base import RetrievedChunk
from agentkit.retrievers.bm25 import BM25Index
from agentkit.retrievers.fusion import reciprocal_rank_fusion

METRICS = ("recall", "precision", "iou", "precision_omega")
MODES = ("dense", "bm25", "hybrid")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Reference:
    start: int
    end: int
    content: str


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    corpus: str
    references: tuple[Reference, ...]


@dataclass
class EvalData:
    corpora: dict[str, str]
    questions: list[EvalQuestion]


def load_eval_data(folder: str | Path, corpora: Sequence[str] | None = None) -> EvalData:
    """The corpora (``<id>.md``) and ``questions_df.csv`` of a folder; every reference is checked against its corpus."""
    folder = Path(folder)
    table = folder / "questions_df.csv"
    if not folder.is_dir():
        raise InputError(f"evaluation data folder not found: {folder}", "pass --data pointing at the chunking_eval folder")
    if not table.exists():
        raise InputError(f"{table} is missing", "the folder needs questions_df.csv next to the corpus .md files")
    with table.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"question", "references", "corpus_id"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{table} lacks column(s) {', '.join(sorted(missing))}", "columns must be question, references, corpus_id")
        rows = list(reader)
    wanted = set(corpora) if corpora else None
    texts: dict[str, str] = {}
    questions: list[EvalQuestion] = []
    for line, row in enumerate(rows, 2):
        corpus = row["corpus_id"]
        if wanted is not None and corpus not in wanted:
            continue
        if corpus not in texts:
            path = folder / f"{corpus}.md"
            if not path.exists():
                raise InputError(f"corpus '{corpus}' (questions_df.csv line {line}) has no file {path.name}", "put the corpus .md files next to questions_df.csv")
            texts[corpus] = path.read_text(encoding="utf-8")
        try:
            refs = tuple(Reference(int(r["start_index"]), int(r["end_index"]), r["content"]) for r in json.loads(row["references"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"questions_df.csv line {line}: unreadable references ({exc})", "references must be a JSON list of {content, start_index, end_index}") from None
        for ref in refs:
            if texts[corpus][ref.start:ref.end] != ref.content:
                raise InputError(
                    f"questions_df.csv line {line}: reference [{ref.start}:{ref.end}] does not match {corpus}.md",
                    "the corpus file was changed or re-encoded; use the original files",
                )
        if not refs:
            raise InputError(f"questions_df.csv line {line}: no references", "every question needs at least one reference")
        questions.append(EvalQuestion(row["question"], corpus, refs))
    if wanted is not None and (unknown := wanted - set(texts)):
        raise InputError(f"no questions for corpus(es) {', '.join(sorted(unknown))}", f"known: {', '.join(sorted({r['corpus_id'] for r in rows}))}")
    if not questions:
        raise InputError(f"{table} has no questions", "check the file")
    return EvalData(texts, questions)


@dataclass
class ChunkSet:
    """All chunks of all corpora: ``spans[i] = (corpus, start, end)``, ``texts[i]``, vectors once embedded."""

    spans: list[tuple[str, int, int]]
    texts: list[str]
    by_corpus: dict[str, list[tuple[int, int]]]
    vectors: np.ndarray | None = None
    bm25: BM25Index | None = None


@dataclass
class EvalResult:
    config: dict[str, Any]
    #: metric -> (mean %, std %)
    overall: dict[str, tuple[float, float]]
    per_corpus: dict[str, dict[str, tuple[float, float]]]
    chunks: int
    mean_chars: float
    mean_tokens: float
    seconds: float
    scores: list[QuestionScore] = field(default_factory=list, repr=False)

    def row(self) -> dict[str, Any]:
        out = dict(self.config)
        for m in METRICS:
            out[m], out[f"{m}_std"] = round(self.overall[m][0], 2), round(self.overall[m][1], 2)
        out.update(chunks=self.chunks, mean_chars=round(self.mean_chars, 1), mean_tokens=round(self.mean_tokens, 1), seconds=round(self.seconds, 1))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.row(), "per_corpus": {c: {m: {"mean": round(v[0], 2), "std": round(v[1], 2)} for m, v in ms.items()} for c, ms in self.per_corpus.items()}}


def _summary(scores: Sequence[QuestionScore]) -> dict[str, tuple[float, float]]:
    # Population standard deviation (ddof=0), in percent, like numpy's default.
    return {m: (100 * float(np.mean(v)), 100 * float(np.std(v))) for m in METRICS for v in [[getattr(s, m) for s in scores]]}


class ChunkingEvaluation:
    """``ChunkingEvaluation(load_eval_data(DIR), embedder).run(splitter, modes=("dense",), k=5)``."""

    def __init__(self, data: EvalData, embedder: Embedder, progress: Progress | None = None, batch: int = 256) -> None:
        self.data = data
        self.embedder = embedder
        self.progress = progress
        self.batch = batch
        self._question_vectors: np.ndarray | None = None

    def _embed(self, texts: Sequence[str], label: str) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self.batch):
            parts.append(self.embedder.embed(texts[i:i + self.batch]))
            if self.progress:
                self.progress(label, min(i + self.batch, len(texts)), len(texts))
        vectors = np.vstack(parts).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def question_vectors(self) -> np.ndarray:
        if self._question_vectors is None:
            self._question_vectors = self._embed([q.question for q in self.data.questions], "embedding questions")
        return self._question_vectors

    def chunk(self, splitter: Splitter) -> ChunkSet:
        spans: list[tuple[str, int, int]] = []
        texts: list[str] = []
        by_corpus: dict[str, list[tuple[int, int]]] = {}
        for corpus, text in self.data.corpora.items():
            chunks = splitter.split(text)
            if not chunks:
                raise ConfigError(f"{splitter!r} returned no chunks for corpus '{corpus}'", "check the splitter settings")
            for c in chunks:
                if text[c.start:c.end] != c.text:  # the metrics are meaningless without exact spans
                    raise ConfigError(f"{splitter!r} produced a chunk whose span does not match its text in '{corpus}'", "this is a splitter bug; report it")
                spans.append((corpus, c.start, c.end))
                texts.append(c.text)
            by_corpus[corpus] = [(c.start, c.end) for c in chunks]
        return ChunkSet(spans, texts, by_corpus)

    def run(self, splitter: Splitter, modes: Sequence[str] = ("dense",), k: int | str = 5, extra: dict[str, Any] | None = None) -> list[EvalResult]:
        """One result per retrieval mode. ``k``: an int, or ``"min"`` (chunks holding reference text, capped at 20)."""
        for mode in modes:
            if mode not in MODES:
                raise ConfigError(f"unknown retrieval mode '{mode}'", f"use one of: {', '.join(MODES)}")
        if k != "min" and (not isinstance(k, int) or k < 1):
            raise ConfigError(f"k={k!r} is not a positive number or 'min'", "use e.g. --k 5 or --k min")
        started = time.perf_counter()
        chunkset = self.chunk(splitter)
        if isinstance(k, int) and k > len(chunkset.texts):
            raise ConfigError(f"k={k} is larger than the collection ({len(chunkset.texts)} chunks)", "lower --k or use smaller chunks")
        if any(m in ("dense", "hybrid") for m in modes):
            chunkset.vectors = self._embed(chunkset.texts, f"embedding {len(chunkset.texts)} chunks")
        if any(m in ("bm25", "hybrid") for m in modes):
            chunkset.bm25 = BM25Index([str(i) for i in range(len(chunkset.texts))], chunkset.texts, [{} for _ in chunkset.texts])
        prep = time.perf_counter() - started
        from agentkit.chunking.tokenizers import get_tokenizer

        count = get_tokenizer("cl100k").count
        mean_chars = float(np.mean([b - a for _, a, b in chunkset.spans]))
        mean_tokens = float(np.mean([count(t) for t in chunkset.texts]))
        omegas = [precision_omega(self._refs(q), chunkset.by_corpus[q.corpus]) for q in self.data.questions]
        results = []
        for mode in modes:
            t = time.perf_counter()
            scores = []
            for qi, q in enumerate(self.data.questions):
                refs = self._refs(q)
                n = min_k(refs, chunkset.by_corpus[q.corpus]) if k == "min" else int(k)
                top = self._retrieve(chunkset, qi, mode, n)
                recall, precision, iou = retrieval_scores(refs, [chunkset.spans[i] for i in top])
                scores.append(QuestionScore(recall, precision, iou, omegas[qi]))
            per_corpus = {c: _summary([s for s, q in zip(scores, self.data.questions) if q.corpus == c]) for c in self.data.corpora}
            config = {**splitter.to_dict(), "splitter": splitter.name, "embedder": self.embedder.name, "mode": mode, "k": k, **(extra or {})}
            config.pop("name", None)
            results.append(EvalResult(config, _summary(scores), per_corpus, len(chunkset.texts), mean_chars, mean_tokens, prep + time.perf_counter() - t, scores))
        return results

    @staticmethod
    def _refs(q: EvalQuestion) -> list[tuple[str, int, int]]:
        return [(q.corpus, r.start, r.end) for r in q.references]

    def _retrieve(self, chunkset: ChunkSet, qi: int, mode: str, n: int) -> list[int]:
        if mode == "dense":
            return self._dense(chunkset, qi, n)
        if mode == "bm25":
            return self._bm25(chunkset, qi, n)
        pool = max(50, 4 * n)  # fuse deeper lists than we keep, as KnowledgeBase does
        rankings = {
            "dense": [RetrievedChunk("", "", 0, 0, 0.0, str(i)) for i in self._dense(chunkset, qi, pool)],
            "bm25": [RetrievedChunk("", "", 0, 0, 0.0, str(i)) for i in self._bm25(chunkset, qi, pool)],
        }
        return [int(c.chunk_id) for c in reciprocal_rank_fusion(rankings)[:n]]

    def _dense(self, chunkset: ChunkSet, qi: int, n: int) -> list[int]:
        assert chunkset.vectors is not None
        sims = chunkset.vectors @ self.question_vectors()[qi]
        n = min(n, len(sims))
        top = np.argpartition(-sims, n - 1)[:n]
        return [int(i) for i in top[np.argsort(-sims[top], kind="stable")]]

    def _bm25(self, chunkset: ChunkSet, qi: int, n: int) -> list[int]:
        assert chunkset.bm25 is not None
        return [int(c.chunk_id) for c in chunkset.bm25.search(self.data.questions[qi].question, n)]


def sweep(
    evaluation: ChunkingEvaluation,
    splitters: Sequence[str],
    sizes: Sequence[int],
    overlaps: Sequence[int],
    size_unit: str = "tokens",
    modes: Sequence[str] = ("dense",),
    k: int | str = 5,
    on_config: Callable[[str, int, int], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> list[EvalResult]:
    """Every (splitter, size, overlap) combination, each evaluated in every mode. Combinations with
    overlap >= size are skipped (reported through ``on_skip``)."""
    from agentkit.chunking import make_splitter

    results: list[EvalResult] = []
    for name in splitters:
        for size in sizes:
            for overlap in overlaps:
                if on_config:
                    on_config(name, size, overlap)
                if overlap >= size:
                    if on_skip:
                        on_skip(f"skipped {name} {size}/{overlap}: overlap must be smaller than the size")
                    continue
                extra = {"embed": evaluation.embedder.embed} if name == "semantic" else {}
                try:
                    splitter = make_splitter(name, chunk_size=size, chunk_overlap=overlap, size_unit=size_unit, **extra)
                except TypeError as exc:
                    raise ConfigError(f"splitter '{name}' does not take these options ({exc})", "see agentkit.chunking") from None
                results.extend(evaluation.run(splitter, modes, k))
    return results
