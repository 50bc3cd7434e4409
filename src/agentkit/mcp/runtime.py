"""Running agentkit's sync work (retrieval, pipelines, ingestion) under an async MCP server: off the event loop,
within a time limit, with progress reports, and stoppable.

Python cannot kill a thread, so a call that is cancelled (by the client, or by its time limit) raises a flag
that the work itself checks: between pipeline steps, between generated tokens (``InterruptibleLLM``) and between
ingestion batches. The server then waits a short grace period for the worker to stop before it answers, so a
cancelled ``ask`` does not keep the model busy behind the next call's back.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread

from agentkit.llm.base import LLM, GenerationParams, Message, StreamInfo

T = TypeVar("T")

#: the stop flag of the call this thread works for (set in the worker; the model proxy reads it per token)
_stop_flag: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("agentkit_mcp_stop", default=None)

#: seconds a cancelled call waits for its worker to notice the flag before answering anyway
STOP_GRACE = 10.0

Report = Callable[[float, float | None, str], None]


class CallCancelled(Exception):
    """Raised inside the worker when its call was cancelled; never reaches the client as such."""


def check_cancelled() -> None:
    """Raise CallCancelled when the current call was cancelled (a no-op outside an MCP call)."""
    flag = _stop_flag.get()
    if flag is not None and flag.is_set():
        raise CallCancelled()


class InterruptibleLLM(LLM):
    """Delegates to ``inner``; between generated pieces it stops when the current MCP call was cancelled.

    Only ``_stream`` is wrapped (every backend implements generation there), so timeouts, usage and reasoning
    handling stay the base class's.
    """

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.supports_tools = inner.supports_tools
        self.context_window = inner.context_window

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        check_cancelled()
        pieces = self.inner._stream(messages, params, info)
        try:
            for piece in pieces:
                check_cancelled()
                yield piece
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:  # releases the backend (llama.cpp's context lock) at once, not at garbage collection
                close()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def count_message_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_message_tokens(messages)

    def warm_up(self) -> None:
        self.inner.warm_up()

    def __repr__(self) -> str:
        return f"InterruptibleLLM({self.inner!r})"


async def run_bounded(work: Callable[[Report], T], limit: float, progress: Callable[[float, float | None, str], Any] | None = None) -> T:
    """Run ``work(report)`` in a worker thread and return its result.

    ``report(done, total, message)`` forwards progress to ``progress`` (an async callable, e.g. the MCP
    context's ``report_progress``) and raises CallCancelled once the call is cancelled. Past ``limit`` seconds
    the call raises TimeoutError. On any exit the stop flag is raised and the worker gets ``STOP_GRACE`` seconds
    to stop before this returns.
    """
    stop = threading.Event()
    finished = threading.Event()

    def report(done: float, total: float | None, message: str) -> None:
        if stop.is_set():
            raise CallCancelled()
        if progress is not None:
            with contextlib.suppress(Exception):  # progress is best effort: a closed stream must not fail the work
                anyio.from_thread.run(progress, done, total, message)

    def run() -> T:
        token = _stop_flag.set(stop)
        try:
            return work(report)
        finally:
            _stop_flag.reset(token)
            finished.set()

    try:
        with anyio.fail_after(limit):
            return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    finally:
        if not finished.is_set():
            stop.set()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(finished.wait, STOP_GRACE)
