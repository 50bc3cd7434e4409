"""agentkit's one concurrency model, written down once.

- Network I/O (fetching pages, MCP, HTTP servers) is async-native. Its sync API is derived by ``run_sync``,
  which works everywhere a user calls it: a plain script, a thread, or a cell of a running Jupyter/Colab
  event loop (there ``asyncio.run`` refuses to start, so the coroutine runs on a private loop in a worker thread).
- Model calls, retrieval and pipeline steps are sync. Their async API is derived once, by
  ``Pipeline.arun`` / ``LLM.agenerate`` handing the sync call to a thread (``to_thread``); no step or agent
  writes an async twin by hand.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code and return its result (exceptions propagate).

    Without a running loop this is ``asyncio.run``. Inside one (a notebook cell, an async web handler calling
    sync code) it runs the coroutine on a fresh loop in a worker thread and blocks until it ends, so the caller
    gets the same result and exceptions either way.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentkit-run-sync") as pool:
        return pool.submit(context.run, asyncio.run, coro).result()
