"""A pipeline is a list of steps run in order over a frozen ``QAState``.

A step is any callable ``state -> state`` with a ``name`` (plain functions use ``__name__``); a step
may also define ``async def arun(state)``. ``Pipeline.run`` times each step, records what it read
and changed, and returns a ``RunResult``: the answer, the sources used and the trace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentkit.errors import ConfigError, InputError
from agentkit.llm import Usage
from agentkit.retrievers.base import RetrievedChunk


@dataclass(frozen=True)
class QAState:
    """Everything a QA run knows so far. Steps return a copy with their fields filled in."""

    question: str
    query: str = ""
    keywords: tuple[str, ...] = ()
    contexts: tuple[RetrievedChunk, ...] = ()
    sources: tuple[RetrievedChunk, ...] = ()
    answer: str = ""
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    extras: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> QAState:
        return dataclasses.replace(self, **changes)

    @property
    def search_query(self) -> str:
        """What retrieval should look up: keywords if extracted, else the clean question, else the raw one."""
        if self.keywords:
            base = self.query or self.question
            return f"{base} {' '.join(self.keywords)}"
        return self.query or self.question


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
            "trace": [r.to_dict() for r in self.trace],
        }


def step_name(step: Callable[..., Any]) -> str:
    return getattr(step, "name", None) or getattr(step, "__name__", None) or type(step).__name__


def _summarize(value: Any) -> Any:
    if isinstance(value, RetrievedChunk):
        return {"source": value.source, "start": value.start, "end": value.end, "score": round(value.score, 4)}
    if isinstance(value, Usage):
        return {"prompt_tokens": value.prompt_tokens, "completion_tokens": value.completion_tokens}
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

    def _start(self, question: str) -> QAState:
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty", "ask a non-empty question")
        return QAState(question=question.strip())

    def _finish(self, state: QAState, trace: list[StepRecord]) -> RunResult:
        sources = state.sources or state.contexts
        return RunResult(state.question, state.answer, sources, tuple(trace), self.name, state.reasoning)

    def run(self, question: str) -> RunResult:
        state = self._start(question)
        trace: list[StepRecord] = []
        for step in self.steps:
            before, started = state, time.perf_counter()
            state = step(state)
            trace.append(StepRecord(step_name(step), _fields(before, True), _changed(before, state), time.perf_counter() - started, state.usage - before.usage))
        return self._finish(state, trace)

    async def arun(self, question: str) -> RunResult:
        state = self._start(question)
        trace: list[StepRecord] = []
        for step in self.steps:
            before, started = state, time.perf_counter()
            arun = getattr(step, "arun", None)
            if arun is not None and inspect.iscoroutinefunction(arun):
                state = await arun(state)
            elif inspect.iscoroutinefunction(step):
                state = await step(state)  # type: ignore[misc]
            else:
                state = await asyncio.to_thread(step, state)
            trace.append(StepRecord(step_name(step), _fields(before, True), _changed(before, state), time.perf_counter() - started, state.usage - before.usage))
        return self._finish(state, trace)

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

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={self.step_names})"
