"""Run a pipeline over HW01 questions: one answer file per question, ``answers.txt`` in the homework's
submission shape, ``trace.jsonl`` with every step, ``run.json`` describing the run. Resumable: questions
with an answer file are skipped on a re-run."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.errors import ConfigError
from agentkit.hw01.data import HW01Item
from agentkit.pipeline.core import Pipeline


@dataclass(frozen=True)
class RunSummary:
    out_dir: Path
    answered: int
    skipped: int
    failed: int
    seconds: float


def answer_path(out_dir: Path, item: HW01Item) -> Path:
    return out_dir / f"{item.id}.txt"


def run_questions(
    items: Sequence[HW01Item],
    pipeline: Pipeline,
    out_dir: str | Path,
    meta: dict[str, Any] | None = None,
    concurrency: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    if concurrency < 1:
        raise ConfigError(f"concurrency={concurrency} must be >= 1", "use --concurrency 1 or more")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:  # the saved pipeline rebuilds this run: agentkit hw01 run --pipeline-file RUN/run.json
        saved: dict[str, Any] = pipeline.to_dict()
    except ConfigError:  # a hand-made step without to_dict: record what it was
        saved = {"name": pipeline.name, "steps": pipeline.step_names, "saved": False}
    (out / "run.json").write_text(json.dumps({**(meta or {}), "pipeline": saved}, ensure_ascii=False, indent=2), encoding="utf-8")
    todo = [item for item in items if not answer_path(out, item).exists()]
    skipped = len(items) - len(todo)
    lock = threading.Lock()
    done = [skipped, 0]  # finished (incl. skipped), failed
    started = time.perf_counter()
    if progress:
        progress(done[0], len(items))

    def one(item: HW01Item) -> None:
        try:
            result = pipeline.run(item.question)
            answer, record = result.answer, {"id": item.id, "question": item.question, **result.to_dict()}
        except Exception as exc:  # one bad question must not sink the run; the trace says what happened
            answer, record = "", {"id": item.id, "question": item.question, "error": f"{type(exc).__name__}: {exc}"}
        with lock:
            with (out / "trace.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            if "error" in record:
                done[1] += 1
            else:
                # Written last: its existence marks the question as answered for a resumed run.
                answer_path(out, item).write_text(answer, encoding="utf-8")
            done[0] += 1
            if progress:
                progress(done[0], len(items))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, todo))
    write_answers(items, out)
    return RunSummary(out, len(todo) - done[1], skipped, done[1], time.perf_counter() - started)


def write_answers(items: Sequence[HW01Item], out: Path) -> Path:
    """``answers.txt``: one line per question in id order, newlines inside answers replaced by spaces;
    unanswered questions get an empty line so line numbers stay question ids."""
    lines = []
    for item in items:
        path = answer_path(out, item)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        lines.append(" ".join(text.split()))
    target = out / "answers.txt"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
