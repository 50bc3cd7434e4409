"""A pipeline is a list of steps run in order over a frozen ``QAState``.

A step is any callable ``state -> state`` with a ``name`` (plain functions use ``__name__``). A step may declare
the state fields it needs (``reads``) and fills (``writes``): the pipeline checks, when it is built, that every
declared read is the question or written by an earlier step. ``Pipeline.run`` times each step, records what it
read and changed, and returns a ``RunResult``: the answer, the sources used and the trace.

Concurrency (see ``agentkit.concurrency``): steps are sync; ``arun`` runs them in a worker thread, once, here.
Pipelines whose steps have ``to_dict`` round-trip through ``to_dict``/``from_dict`` (``save``/``load``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentkit.errors import ConfigError, InputError
from agentkit.llm import Usage
from agentkit.retrievers.base import RetrievedChunk
from agentkit.vision.describe import ImageDescription


@dataclass(frozen=True)
class QAState:
    """Everything a QA run knows so far. Steps return a copy with their fields filled in.

    ``question`` and ``images`` (paths of attached images) are the run's input; every other field is written by a step."""

    question: str
    query: str = ""
    keywords: tuple[str, ...] = ()
    contexts: tuple[RetrievedChunk, ...] = ()
    sources: tuple[RetrievedChunk, ...] = ()
    answer: str = ""
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    images: tuple[str, ...] = ()
    #: what the vision model said about each image (or why it could not), in the order of ``images``
    descriptions: tuple[ImageDescription, ...] = ()
    #: what the reader of the answer should know about it, kept out of the answer's text (e.g. the model did not
    #: follow the language rule); ``ask`` prints them under the answer
    notes: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> QAState:
        return dataclasses.replace(self, **changes)

    @property
    def search_query(self) -> str:
        """What retrieval should look up: keywords if extracted, else the clean question, else the raw one."""
        if self.keywords:
            base = self.query or self.question
            return f"{base} {' '.join(self.keywords)}"
        return self.query or self.question


STATE_FIELDS = frozenset(f.name for f in dataclasses.fields(QAState))
#: the fields a run starts with; a step may read them without an earlier step writing them
INPUT_FIELDS = frozenset({"question", "images"})


class Step(Protocol):
    name: str

    def __call__(self, state: QAState) -> QAState: ...


@dataclass(frozen=True)
class StepRecord:
    name: str
    input: dict[str, Any]
    output: dict[str, Any]
    seconds: float
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input": self.input,
            "output": self.output,
            "seconds": round(self.seconds, 4),
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
        }


@dataclass(frozen=True)
class RunResult:
    question: str
    answer: str
    sources: tuple[RetrievedChunk, ...]
    trace: tuple[StepRecord, ...]
    pipeline: str = ""
    reasoning: str = ""
    notes: tuple[str, ...] = ()

    @property
    def timings(self) -> dict[str, float]:
        out = {r.name: round(r.seconds, 4) for r in self.trace}
        out["total"] = round(sum(r.seconds for r in self.trace), 4)
        return out

    @property
    def usage(self) -> Usage:
        total = Usage()
        for r in self.trace:
            total = total + r.usage
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "pipeline": self.pipeline,
            "sources": [s.to_dict() for s in self.sources],
            "timings": self.timings,
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
            "reasoning": self.reasoning,
            "notes": list(self.notes),
            "trace": [r.to_dict() for r in self.trace],
        }


def step_name(step: Callable[..., Any]) -> str:
    return getattr(step, "name", None) or getattr(step, "__name__", None) or type(step).__name__


def _summarize(value: Any) -> Any:
    if isinstance(value, RetrievedChunk):
        return {"source": value.source, "start": value.start, "end": value.end, "score": round(value.score, 4)}
    if isinstance(value, Usage):
        return {"prompt_tokens": value.prompt_tokens, "completion_tokens": value.completion_tokens}
    if isinstance(value, ImageDescription):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_summarize(v) for v in value]
    return value


def _fields(state: QAState, skip_empty: bool) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(state):
        if f.name == "usage":
            continue
        value = getattr(state, f.name)
        if skip_empty and not value:
            continue
        out[f.name] = _summarize(value)
    return out


def _changed(before: QAState, after: QAState) -> dict[str, Any]:
    return {
        f.name: _summarize(getattr(after, f.name))
        for f in dataclasses.fields(after)
        if f.name != "usage" and getattr(after, f.name) != getattr(before, f.name)
    }


class Pipeline:
    """Named, ordered steps. ``with_step``/``without``/``replace_step`` return new pipelines."""

    def __init__(self, steps: Sequence[Callable[[QAState], QAState]], name: str = "custom") -> None:
        if not steps:
            raise ConfigError("a pipeline needs at least one step", "pass e.g. [Answer(llm)]")
        names = [step_name(s) for s in steps]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate step names in pipeline: {names}", "give each step a distinct name")
        _check_contracts(steps)
        self.steps = tuple(steps)
        self.name = name

    @property
    def step_names(self) -> list[str]:
        return [step_name(s) for s in self.steps]

    # ---- composition ---------------------------------------------------------------------------

    def _index(self, name: str) -> int:
        try:
            return self.step_names.index(name)
        except ValueError:
            raise ConfigError(f"pipeline '{self.name}' has no step '{name}'", f"steps are: {', '.join(self.step_names)}") from None

    def with_step(self, step: Callable[[QAState], QAState], *, before: str | None = None, after: str | None = None) -> Pipeline:
        steps = list(self.steps)
        if before is not None:
            steps.insert(self._index(before), step)
        elif after is not None:
            steps.insert(self._index(after) + 1, step)
        else:
            steps.append(step)
        return Pipeline(steps, self.name)

    def without(self, name: str) -> Pipeline:
        i = self._index(name)
        return Pipeline(self.steps[:i] + self.steps[i + 1:], self.name)

    def replace_step(self, name: str, step: Callable[[QAState], QAState]) -> Pipeline:
        i = self._index(name)
        return Pipeline(self.steps[:i] + (step,) + self.steps[i + 1:], self.name)

    # ---- running -------------------------------------------------------------------------------

    def _start(self, question: str, images: Sequence[str | Path] = ()) -> QAState:
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty", "ask a non-empty question")
        if images and not any("images" in getattr(step, "reads", ()) for step in self.steps):
            raise ConfigError(f"images were attached, but no step of pipeline '{self.name}' reads them",
                              "add a DescribeImage step (agentkit ask --image PATH --vision-llm SPEC)")
        return QAState(question=question.strip(), images=tuple(str(p) for p in images))

    def _finish(self, state: QAState, trace: list[StepRecord]) -> RunResult:
        sources = state.sources or state.contexts
        return RunResult(state.question, state.answer, sources, tuple(trace), self.name, state.reasoning, state.notes)

    def run(self, question: str, images: Sequence[str | Path] = ()) -> RunResult:
        """Run every step over ``question`` (and the attached ``images``, for steps that read them)."""
        state = self._start(question, images)
        trace: list[StepRecord] = []
        for step in self.steps:
            before, started = state, time.perf_counter()
            state = step(state)
            trace.append(StepRecord(step_name(step), _fields(before, True), _changed(before, state), time.perf_counter() - started, state.usage - before.usage))
        return self._finish(state, trace)

    async def arun(self, question: str, images: Sequence[str | Path] = ()) -> RunResult:
        """``run`` for async callers: the steps run in a worker thread, so the event loop stays free."""
        return await asyncio.to_thread(self.run, question, images)

    def run_many(self, questions: Iterable[str], concurrency: int = 1) -> list[RunResult]:
        """Run every question, at most ``concurrency`` at a time; results keep the input order."""
        if concurrency < 1:
            raise ConfigError(f"concurrency={concurrency} must be >= 1", "use concurrency=1 or more")
        questions = list(questions)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(self.run, questions))

    async def arun_many(self, questions: Iterable[str], concurrency: int = 1) -> list[RunResult]:
        if concurrency < 1:
            raise ConfigError(f"concurrency={concurrency} must be >= 1", "use concurrency=1 or more")
        gate = asyncio.Semaphore(concurrency)

        async def one(q: str) -> RunResult:
            async with gate:
                return await self.arun(q)

        return list(await asyncio.gather(*(one(q) for q in questions)))

    # ---- saving --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "steps": [...]}``; every step must have ``to_dict`` (the built-in steps do)."""
        steps = []
        for step in self.steps:
            to_dict = getattr(step, "to_dict", None)
            if to_dict is None:
                raise ConfigError(f"step '{step_name(step)}' cannot be saved", "give the step to_dict()/from_dict() and register it as a 'step' plugin")
            steps.append(to_dict())
        return {"name": self.name, "steps": steps}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pipeline:
        """Rebuild a saved pipeline; step types come from the ``step`` plugin registry."""
        from agentkit.plugins import registry

        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ConfigError("not a saved pipeline (no 'steps' list)", "pass what Pipeline.to_dict() returned, or a run.json that has a 'pipeline'")
        steps = []
        for item in data["steps"]:
            kind = item.get("type") if isinstance(item, dict) else None
            if not kind:
                raise ConfigError(f"a saved step has no 'type': {item!r}", "each step needs its type, e.g. {'type': 'answer', ...}")
            steps.append(registry("step").get(kind).load()(item))
        return cls(steps, data.get("name", "custom"))

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return target

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={self.step_names})"


def load(source: str | Path | dict[str, Any]) -> Pipeline:
    """A pipeline from ``Pipeline.to_dict()`` data, a JSON file of it, or a run's ``run.json`` (its ``pipeline`` key)."""
    data: Any = source
    if not isinstance(source, dict):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"no pipeline file at {path}", "pass a pipeline JSON saved with Pipeline.save() or a run.json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path} is not JSON ({exc})", "pass a pipeline JSON saved with Pipeline.save() or a run.json") from None
    if isinstance(data, dict) and "steps" not in data and isinstance(data.get("pipeline"), dict):
        data = data["pipeline"]
    return Pipeline.from_dict(data)


def _check_contracts(steps: Sequence[Callable[[QAState], QAState]]) -> None:
    """Every declared read is an input (question, images) or is written by an earlier step; declared fields exist."""
    available = set(INPUT_FIELDS)
    unchecked = False  # after a step that declares nothing, anything may have been written
    for step in steps:
        if inspect.iscoroutinefunction(step) or inspect.iscoroutinefunction(getattr(step, "__call__", None)):  # noqa: B004 (a callable object's async __call__)
            raise ConfigError(f"step '{step_name(step)}' is async", "steps are plain functions; Pipeline.arun runs them off the event loop")
        reads = tuple(getattr(step, "reads", ()))
        writes = getattr(step, "writes", None)
        for name in (*reads, *(writes or ())):
            if name not in STATE_FIELDS:
                raise ConfigError(f"step '{step_name(step)}' declares an unknown state field '{name}'", f"fields are: {', '.join(sorted(STATE_FIELDS))}")
        missing = [r for r in reads if r not in available]
        if missing and not unchecked:
            raise ConfigError(f"step '{step_name(step)}' reads {', '.join(missing)}, which no earlier step writes",
                              "put a step that writes it earlier, or remove this step")
        if writes is None:
            unchecked = True
        else:
            available.update(writes)
