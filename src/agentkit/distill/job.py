"""A distillation job: documents → knowledge base → questions per chunk → RAG answers → filters → splits →
exports, with an append-only checkpoint so a killed job resumes without recomputing or duplicating anything.

Every teacher call is keyed by what determines it (stage, chunk id, style, count, teacher, prompt version,
language) and its result, or its failure, is appended to ``checkpoint.jsonl`` before anything depends on it.
A re-run reads the checkpoint first and calls the teacher only for keys it lacks. A failure that says nothing
about the input (a timeout, an unreachable server) is recorded as transient and tried again on the next run;
any other failure is kept until ``retry_failed``.

Two recipes: ``qa`` (a question, its RAG answer over the knowledge base) and ``raft`` (the question with its oracle
chunk and distractors in the prompt, a chain of thought with verified quotes: ``raft.py``). Both write ``run.json``
(the config and the answering pipeline, to replay a run), ``stats.json`` and ``report.png`` (``report.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.distill.export import check_formats, export
from agentkit.distill.filters import JudgeGroundedness, default_filters, run_filters
from agentkit.distill.generate import REFUSALS, STYLES, GenerationError, QuestionGenerator, clean_answer
from agentkit.distill.neighbours import partners
from agentkit.distill.raft import RAFT_ANSWERER, RAFT_VERSION, AbsentFromDocuments, RaftSettings, build_rows
from agentkit.distill.records import PROMPT_VERSION, QARecord
from agentkit.distill.refusals import AbsenceCheck
from agentkit.distill.report import plot_report, run_stats
from agentkit.distill.splits import split_records
from agentkit.errors import AgentkitError, BackendUnavailableError, ConfigError, KnowledgeBaseError, LLMTimeoutError
from agentkit.language import localized, normalize_language
from agentkit.llm import LLM, load_llm
from agentkit.retrievers.base import RetrievedChunk

Progress = Callable[[str, int, int], None]
RECIPES = ("qa", "raft")
#: failures that say nothing about the input: recorded, then tried again on the next run
TRANSIENT = (LLMTimeoutError, BackendUnavailableError)


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
        """The recorded failure of ``key``; None for a transient one (it is tried again)."""
        entry = self.entries.get(key)
        return entry.get("error") if entry and not entry.get("transient") else None

    def put(self, key: str, value: Any = None, error: str | None = None, transient: bool = False) -> None:
        entry: dict[str, Any] = {"key": key, "value": value}
        if error is not None:
            entry = {"key": key, "error": error} | ({"transient": True} if transient else {})
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
    #: "qa" (question → RAG answer) or "raft" (documents + question → chain of thought with verified quotes)
    recipe: str = "qa"
    #: RAFT: share of rows that show the oracle chunk (RAFT's P), distractor chunks per row (k), "cot" or "answer"
    oracle_rate: float = 0.8
    distractors: int = 3
    answer_format: str = "cot"
    #: drop records equal up to their digits in question and answer
    dedup_numbers: bool = True
    #: ROUGE-L novelty threshold (Self-Instruct's 0.7); None or 0 turns it off
    novelty: float | None = 0.7
    #: embedding cosine for near-duplicate questions (e.g. 0.95); None turns it off
    embedding_dedup: float | None = None
    #: a refusal needs every retrieved chunk to hold less than this share of the question's content words
    refusal_max_support: float = 0.5

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
        if self.recipe not in RECIPES:
            raise ConfigError(f"unknown recipe '{self.recipe}'", f"use one of: {', '.join(RECIPES)}")
        self.raft_settings()  # validates oracle rate, distractors, answer format
        for name, value in (("novelty", self.novelty), ("embedding_dedup", self.embedding_dedup), ("refusal_max_support", self.refusal_max_support)):
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(f"{name}={value} is out of range", "use a value in [0, 1]")

    def raft_settings(self) -> RaftSettings:
        return RaftSettings(self.oracle_rate, self.distractors, self.answer_format)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple | list) else v for k, v in dataclasses.asdict(self).items()}


@dataclass
class DistillReport:
    stats: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    llm_calls: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _key(*parts: Any) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:24]


Task = tuple[RetrievedChunk, str, RetrievedChunk | None]


@dataclass
class TaskResult:
    records: list[QARecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: refusal candidates the knowledge base may answer, with why
    rejected: list[tuple[QARecord, str]] = field(default_factory=list)


class DistillJob:
    """``DistillJob(kb, out, teacher, config).run()``; ``kb`` is a KnowledgeBase (or any object with
    ``chunks()`` and ``retrieve(query, k)``; an ``embedder`` attribute, when it has one, picks multi-hop partners)."""

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

    def _plan(self, chunks: list[RetrievedChunk]) -> list[Task]:
        """(chunk, style, partner) tasks: every style per chunk; multi-hop pairs a chunk with its nearest related chunk
        in another document or part of the document (``neighbours.partners``); a seeded share of chunks also yields
        'unanswerable' questions, which become refusals only when the knowledge base confirms the answer is absent."""
        rng = random.Random(self.config.seed)
        paired = partners(chunks, self.kb.chunks(), getattr(self.kb, "embedder", None)) if "multi-hop" in self.config.styles else {}
        tasks: list[Task] = []
        for chunk in chunks:
            for style in self.config.styles:
                partner = paired.get(chunk.chunk_id) if style == "multi-hop" else None
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
            self.checkpoint.put(key, error=exc.message, transient=isinstance(exc, TRANSIENT))
            raise GenerationError(exc.message) from None
        self.checkpoint.put(key, value)
        return value

    def _questions(self, chunk: RetrievedChunk, style: str, partner: RetrievedChunk | None) -> list[str]:
        generator = QuestionGenerator(self.teacher, self.config.language)
        n = self.config.questions_per_chunk
        key = _key("questions", chunk.chunk_id, partner.chunk_id if partner else "", style, n, self.teacher.spec, PROMPT_VERSION, self.config.language)
        questions: list[str] = self._call(key, lambda: generator(chunk.text, n, style, partner.text if partner else None))
        return questions

    def answer_pipeline(self) -> Any:
        """The rag pipeline the ``qa`` recipe answers with (its ``to_dict`` goes into run.json)."""
        from agentkit import pipeline
        from agentkit.llm import GenerationParams
        from agentkit.pipeline import Answer

        rag = pipeline.create("rag", self.teacher, retriever=self.kb, k=self.config.k, language=self.config.language)
        return rag.replace_step("answer", Answer(self.teacher, self.config.language, GenerationParams(max_tokens=256), system=self.config.system))

    def raft_answerer(self) -> Any:
        """The agent that writes RAFT chains of thought from the oracle chunk(s) alone."""
        from agentkit.agents import LLMAgent
        from agentkit.llm import GenerationParams

        role = RAFT_ANSWERER.replace(description=f"{self.config.system}\n\n{RAFT_ANSWERER.description}") if self.config.system.strip() else RAFT_ANSWERER
        return LLMAgent.from_role(role, self.teacher, language=self.config.language, params=GenerationParams(max_tokens=384))

    def _answer(self, question: str) -> dict[str, Any]:
        # The system prompt joins the key only when set, so checkpoints of runs without one stay valid.
        system = (self.config.system,) if self.config.system else ()
        key = _key("answer", question, self.teacher.spec, PROMPT_VERSION, self.config.language, self.config.k, *system)

        def run() -> dict[str, Any]:
            result = self.answer_pipeline().run(question)
            answer = clean_answer(result.answer)
            if not answer:
                raise GenerationError("the teacher returned an empty answer")
            return {"answer": answer, "labels": [c.label for c in result.sources], "texts": [c.text for c in result.sources]}

        answer: dict[str, Any] = self._call(key, run)
        return answer

    def _raft_answer(self, question: str, oracles: list[RetrievedChunk]) -> str:
        from agentkit.agents import ContextBlock

        key = _key("raft-answer", question, *(c.chunk_id for c in oracles), self.teacher.spec, RAFT_VERSION, self.config.language, self.config.system)

        def run() -> str:
            text: str = self.raft_answerer().run(question, [ContextBlock(c.text, c.label) for c in oracles]).text.strip()
            if not text:
                raise GenerationError("the teacher returned an empty answer")
            return text

        answer: str = self._call(key, run)
        return answer

    def _absence(self) -> AbsenceCheck:
        return AbsenceCheck(self.kb, max(5, self.config.k), self.config.refusal_max_support, self._answerability_judge())

    def _answerability_judge(self) -> Any:
        from agentkit.judges import LLMJudge

        return LLMJudge(self.judge, "answerability", self.checkpoint) if self.judge else None

    def _task(self, task: Task) -> TaskResult:
        chunk, style, partner = task
        out = TaskResult()
        try:
            questions = self._questions(chunk, style, partner)
        except GenerationError as exc:
            out.failures.append(f"questions for {chunk.label} ({style}): {exc.message}")
            return out
        base = QARecord("", "", chunk.source, chunk.start, chunk.end, chunk.chunk_id, style, system=self.config.system,
                        language=self.config.language or "", teacher=self.teacher.spec)
        oracles = [chunk] + ([partner] if partner else [])
        for q in questions:
            if style == "unanswerable":
                found = self._absence()(q)
                refusal = base.replace(question=q, answer=localized(REFUSALS, self.config.language), kind="refusal",
                                       context_labels=tuple(c.label for c in found.contexts), context_texts=tuple(c.text for c in found.contexts),
                                       scores={"absent_support": round(found.support, 3)})
                (out.records.append(refusal) if found.absent else out.rejected.append((refusal, f"not confirmed absent: {found.reason}")))
                continue
            try:
                if self.config.recipe == "raft":
                    record = base.replace(question=q, answer=self._raft_answer(q, oracles), context_labels=tuple(c.label for c in oracles),
                                          context_texts=tuple(c.text for c in oracles))
                else:
                    a = self._answer(q)
                    record = base.replace(question=q, answer=a["answer"], context_labels=tuple(a["labels"]), context_texts=tuple(a["texts"]))
            except GenerationError as exc:
                out.failures.append(f"answer for {q[:60]!r}: {exc.message}")
                continue
            out.records.append(record)
        return out

    # ---- the whole job -------------------------------------------------------------------------

    def run(self) -> DistillReport:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        chunks = self.seed_chunks()
        tasks = self._plan(chunks)
        generated: list[QARecord] = []
        failures: list[str] = []
        rejected: list[tuple[QARecord, str]] = []
        done = 0
        lock = threading.Lock()

        def one(task: Task) -> TaskResult:
            nonlocal done
            result = self._task(task)
            with lock:
                done += 1
                if self.progress:
                    self.progress("generating", done, len(tasks))
            return result

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            for task_result in pool.map(one, tasks):  # map keeps task order: output order is deterministic
                generated.extend(task_result.records)
                failures.extend(task_result.failures)
                rejected.extend(task_result.rejected)
        timings["generation"] = time.perf_counter() - t

        t = time.perf_counter()
        raft = self.config.recipe == "raft"
        judge = JudgeGroundedness(self.judge, self.checkpoint) if self.judge else None
        chain = default_filters(self.config.language, self.config.grounded_threshold, judge, dedup_numbers=self.config.dedup_numbers,
                                novelty=self.config.novelty, embedding_dedup=self.config.embedding_dedup,
                                embedder=getattr(self.kb, "embedder", None), raft=raft)
        kept, filtered = run_filters(generated, chain)
        dropped = {"refusal-check": _report_rows(rejected), **filtered}
        if raft:
            kept, no_oracle = build_rows(kept, self.config.raft_settings(), self.kb.retrieve, self.config.seed, self.config.language,
                                         AbsentFromDocuments(self.config.refusal_max_support, self._answerability_judge()))
            dropped["raft-no-oracle"] = _report_rows(no_oracle)
        timings["filtering"] = time.perf_counter() - t

        t = time.perf_counter()
        result = split_records(kept, self.config.split, self.config.seed)
        exported = export(result.splits, self.out, self.config.formats)
        files = list(exported.files)
        stats = run_stats(self, chunks, tasks, generated, result.splits, dropped, failures, result.grouped_by, chain)
        stats["export_notes"] = list(exported.notes)
        (self.out / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (self.out / "run.json").write_text(json.dumps(self.run_info(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        files += [self.out / "stats.json", self.out / "run.json", plot_report(stats, result.splits, self.out / "report.png")]
        timings["export"] = time.perf_counter() - t
        return DistillReport(stats, files, self.calls, timings)

    def run_info(self) -> dict[str, Any]:
        """What replays the run: the config, the teacher, and how answers were written (the rag pipeline's
        ``to_dict``, which ``agentkit ask --pipeline-file`` reads, or the RAFT answerer)."""
        info: dict[str, Any] = {"teacher": self.teacher.spec, "judge": self.judge.spec if self.judge else None, "prompt_version": PROMPT_VERSION,
                                "config": self.config.to_dict()}
        if self.config.recipe == "raft":
            info |= {"raft_version": RAFT_VERSION, "raft": self.config.raft_settings().to_dict(), "answerer": self.raft_answerer().to_dict()}
        else:
            try:
                info["pipeline"] = self.answer_pipeline().to_dict()
            except ConfigError as exc:  # a retriever without to_dict (a test double, a plugin's)
                info["pipeline"] = {"unsaved": exc.message}
        return info


def _report_rows(rows: Sequence[tuple[QARecord, str]]) -> list[dict[str, str]]:
    return [{"id": r.id, "question": r.question[:120], "reason": why} for r, why in rows]
