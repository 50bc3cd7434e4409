"""A distillation job: documents → knowledge base → questions per chunk → RAG answers → filters → splits →
exports, with an append-only checkpoint so a killed job resumes without recomputing or duplicating anything.

Every teacher call is keyed by what determines it (stage, chunk id, style, count, teacher, prompt version,
language) and its result, or its failure, is appended to ``checkpoint.jsonl`` before anything depends on it.
A re-run reads the checkpoint first and calls the teacher only for keys it lacks.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.distill.export import check_formats, export
from agentkit.distill.filters import JudgeGroundedness, default_filters, run_filters
from agentkit.distill.generate import REFUSALS, STYLES, GenerationError, QuestionGenerator, clean_answer
from agentkit.distill.records import PROMPT_VERSION, QARecord
from agentkit.distill.splits import SPLIT_NAMES, split_records
from agentkit.errors import AgentkitError, ConfigError, KnowledgeBaseError
from agentkit.language import localized, normalize_language
from agentkit.llm import LLM, load_llm
from agentkit.retrievers.base import RetrievedChunk

Progress = Callable[[str, int, int], None]


class Checkpoint:
    """Append-only JSONL of ``{"key", "value"}`` or ``{"key", "error"}``; the last line for a key wins.

    Invariant: after ``__init__`` the file is empty or ends with a newline, so every ``put`` lands on a
    line of its own. A torn last line (the job was killed mid-write) is cut off the file; a complete
    entry that only lacks its newline is kept and the newline added. Unreadable lines elsewhere are
    ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if path.exists():
            data = self._repair_tail(path)
            for line in data.decode("utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue

    @staticmethod
    def _repair_tail(path: Path) -> bytes:
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end == len(data):
            return data
        tail = data[end:]
        try:
            complete = isinstance(json.loads(tail), dict)
        except ValueError:
            complete = False
        with path.open("r+b") as handle:
            if complete:
                handle.seek(0, 2)
                handle.write(b"\n")
                return data + b"\n"
            handle.truncate(end)
        return data[:end]

    def get(self, key: str) -> Any | None:
        entry = self.entries.get(key)
        return None if entry is None or "error" in entry else entry["value"]

    def failed(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return entry.get("error") if entry else None

    def put(self, key: str, value: Any = None, error: str | None = None) -> None:
        entry = {"key": key, "error": error} if error is not None else {"key": key, "value": value}
        with self._lock:
            self.entries[key] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


@dataclass
class DistillConfig:
    formats: Sequence[str] = ("alpaca", "sharegpt", "messages", "mlx", "hf")
    questions_per_chunk: int = 2
    styles: Sequence[str] = ("factual",)
    max_chunks: int | None = None
    split: Sequence[float] = (0.8, 0.1, 0.1)
    seed: int = 0
    concurrency: int = 1
    language: str | None = None
    system: str = ""
    refusal_ratio: float = 0.0
    k: int = 3
    grounded_threshold: float = 0.5
    retry_failed: bool = False

    def __post_init__(self) -> None:
        # Checked before any work starts (the CLI builds the config before ingesting documents).
        check_formats(self.formats)
        self.language = normalize_language(self.language)  # zh_TW → zh-TW (checkpoint keys use the canonical tag); unknown tags refused
        if self.concurrency < 1:
            raise ConfigError(f"concurrency={self.concurrency} must be >= 1", "use --concurrency 1 or more")
        if not 0 <= self.refusal_ratio < 1:
            raise ConfigError(f"refusal ratio {self.refusal_ratio} is out of range", "use a value in [0, 1)")
        unknown = [st for st in self.styles if st not in STYLES or st == "unanswerable"]
        if unknown:
            raise ConfigError(f"unknown question style(s): {', '.join(unknown)}", "use factual, explanatory, procedural, multi-hop (refusals come from --refusal-ratio)")
        if self.questions_per_chunk < 1:
            raise ConfigError(f"questions_per_chunk={self.questions_per_chunk} must be >= 1", "use --questions-per-chunk 1 or more")


@dataclass
class DistillReport:
    stats: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    llm_calls: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _key(*parts: Any) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:24]


class DistillJob:
    """``DistillJob(kb, out, teacher, config).run()``; ``kb`` is a KnowledgeBase (or any object with
    ``chunks()`` and ``retrieve(query, k)``)."""

    def __init__(self, kb: Any, out: str | Path, teacher: LLM | str | None = None, config: DistillConfig | None = None, judge: LLM | str | None = None, progress: Progress | None = None) -> None:
        self.kb = kb
        self.out = Path(out)
        self.config = config or DistillConfig()
        self.teacher = load_llm(teacher)
        self.judge = load_llm(judge) if judge else None
        self.progress = progress
        self.checkpoint = Checkpoint(self.out / "checkpoint.jsonl")
        self.calls = 0
        self._calls_lock = threading.Lock()

    # ---- stages --------------------------------------------------------------------------------

    def seed_chunks(self) -> list[RetrievedChunk]:
        chunks: list[RetrievedChunk] = self.kb.chunks()
        if not chunks:
            raise KnowledgeBaseError("the knowledge base is empty", "ingest documents first, or pass document paths")
        if self.config.max_chunks and len(chunks) > self.config.max_chunks:
            chunks = sorted(random.Random(self.config.seed).sample(chunks, self.config.max_chunks), key=lambda c: (c.source, c.start))
        return chunks

    def _plan(self, chunks: list[RetrievedChunk]) -> list[tuple[RetrievedChunk, str, RetrievedChunk | None]]:
        """(chunk, style, partner) tasks: every style per chunk; multi-hop pairs a chunk with its successor;
        a seeded share of chunks also yields 'unanswerable' questions for refusal examples."""
        rng = random.Random(self.config.seed)
        tasks = []
        for i, chunk in enumerate(chunks):
            for style in self.config.styles:
                partner = chunks[(i + 1) % len(chunks)] if style == "multi-hop" and len(chunks) > 1 else None
                if style == "multi-hop" and partner is None:
                    continue
                tasks.append((chunk, style, partner))
            if self.config.refusal_ratio and rng.random() < self.config.refusal_ratio:
                tasks.append((chunk, "unanswerable", None))
        return tasks

    def _call(self, key: str, fn: Callable[[], Any]) -> Any:
        cached = self.checkpoint.get(key)
        if cached is not None:
            return cached
        error = self.checkpoint.failed(key)
        if error is not None and not self.config.retry_failed:
            raise GenerationError(error)
        with self._calls_lock:
            self.calls += 1
        try:
            value = fn()
        except AgentkitError as exc:
            self.checkpoint.put(key, error=exc.message)
            raise GenerationError(exc.message) from None
        self.checkpoint.put(key, value)
        return value

    def _questions(self, chunk: RetrievedChunk, style: str, partner: RetrievedChunk | None) -> list[str]:
        generator = QuestionGenerator(self.teacher, self.config.language)
        n = self.config.questions_per_chunk
        key = _key("questions", chunk.chunk_id, partner.chunk_id if partner else "", style, n, self.teacher.spec, PROMPT_VERSION, self.config.language)
        questions: list[str] = self._call(key, lambda: generator(chunk.text, n, style, partner.text if partner else None))
        return questions

    def _answer(self, question: str) -> dict[str, Any]:
        from agentkit import pipeline
        from agentkit.llm import GenerationParams
        from agentkit.pipeline import Answer

        key = _key("answer", question, self.teacher.spec, PROMPT_VERSION, self.config.language, self.config.k)

        def run() -> dict[str, Any]:
            rag = pipeline.create("rag", self.teacher, retriever=self.kb, k=self.config.k, language=self.config.language)
            rag = rag.replace_step("answer", Answer(self.teacher, self.config.language, GenerationParams(max_tokens=256)))
            result = rag.run(question)
            answer = clean_answer(result.answer)
            if not answer:
                raise GenerationError("the teacher returned an empty answer")
            return {"answer": answer, "labels": [c.label for c in result.sources], "texts": [c.text for c in result.sources]}

        answer: dict[str, Any] = self._call(key, run)
        return answer

    def _task(self, task: tuple[RetrievedChunk, str, RetrievedChunk | None]) -> tuple[list[QARecord], list[str]]:
        chunk, style, partner = task
        records: list[QARecord] = []
        failures: list[str] = []
        try:
            questions = self._questions(chunk, style, partner)
        except GenerationError as exc:
            return [], [f"questions for {chunk.label} ({style}): {exc.message}"]
        base = QARecord("", "", chunk.source, chunk.start, chunk.end, chunk.chunk_id, style, system=self.config.system,
                        language=self.config.language or "", teacher=self.teacher.spec)
        for q in questions:
            if style == "unanswerable":
                refusal = localized(REFUSALS, self.config.language)
                records.append(base.replace(question=q, answer=refusal, kind="refusal"))
                continue
            try:
                a = self._answer(q)
            except GenerationError as exc:
                failures.append(f"answer for {q[:60]!r}: {exc.message}")
                continue
            records.append(base.replace(question=q, answer=a["answer"], context_labels=tuple(a["labels"]), context_texts=tuple(a["texts"])))
        return records, failures

    # ---- the whole job -------------------------------------------------------------------------

    def run(self) -> DistillReport:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        chunks = self.seed_chunks()
        tasks = self._plan(chunks)
        generated: list[QARecord] = []
        failures: list[str] = []
        done = 0
        lock = threading.Lock()

        def one(task: tuple[RetrievedChunk, str, RetrievedChunk | None]) -> tuple[list[QARecord], list[str]]:
            nonlocal done
            result = self._task(task)
            with lock:
                done += 1
                if self.progress:
                    self.progress("generating", done, len(tasks))
            return result

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            for records, errors in pool.map(one, tasks):  # map keeps task order: output order is deterministic
                generated.extend(records)
                failures.extend(errors)
        timings["generation"] = time.perf_counter() - t

        t = time.perf_counter()
        judge = JudgeGroundedness(self.judge, self.checkpoint) if self.judge else None
        kept, dropped = run_filters(generated, default_filters(self.config.language, self.config.grounded_threshold, judge))
        timings["filtering"] = time.perf_counter() - t

        t = time.perf_counter()
        result = split_records(kept, self.config.split, self.config.seed)
        exported = export(result.splits, self.out, self.config.formats)
        files = list(exported.files)
        stats = self._stats(chunks, tasks, generated, kept, dropped, failures, result.splits, result.grouped_by)
        stats["export_notes"] = list(exported.notes)
        (self.out / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        files += [self.out / "stats.json", self._plot(result.splits)]
        timings["export"] = time.perf_counter() - t
        return DistillReport(stats, files, self.calls, timings)

    def _stats(self, chunks, tasks, generated, kept, dropped, failures, splits, grouped_by) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        coverage = Counter(r.source for r in kept)
        return {
            "teacher": self.teacher.spec,
            "prompt_version": PROMPT_VERSION,
            "seed_chunks": len(chunks),
            "tasks": len(tasks),
            "generated": len(generated),
            "kept": len(kept),
            "failures": failures,
            "dropped": {name: {"count": len(rows), "examples": rows[:5]} for name, rows in dropped.items()},
            "splits": {name: len(splits[name]) for name in SPLIT_NAMES},
            "split_grouped_by": grouped_by,
            "styles": dict(sorted(Counter(r.style for r in kept).items())),
            "kinds": dict(sorted(Counter(r.kind for r in kept).items())),
            "per_source": {src: coverage.get(src, 0) for src in sorted({c.source for c in chunks})},
        }

    def _plot(self, splits: dict[str, list[QARecord]]) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = [r for name in SPLIT_NAMES for r in splits[name]]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax, what, values in ((axes[0], "question", [len(r.question) for r in records]), (axes[1], "answer", [len(r.answer) for r in records])):
            ax.hist(values or [0], bins=20, color="#4c72b0")
            ax.set_title(f"{what} length (characters)")
            ax.set_ylabel("records")
        fig.tight_layout()
        path = self.out / "lengths.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        return path
