"""Where agentkit keeps its on-disk caches (embeddings, web pages, judge verdicts), and how it opens them."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def default_cache_dir() -> Path:
    """``$AGENTKIT_CACHE_DIR``, else ``~/.cache/agentkit``."""
    return Path(os.environ.get("AGENTKIT_CACHE_DIR") or Path.home() / ".cache" / "agentkit")


def open_sqlite(path: Path, schema: str) -> sqlite3.Connection:
    """A WAL-mode connection usable from several threads (callers hold their own lock), schema applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(schema)
    return db
