"""An on-disk cache for search results and fetched pages, keyed by (kind, key), with a TTL.

Benchmarks replay the same searches and pages through it, so a run can be repeated exactly and a re-run
costs nothing. ``mode``: ``use`` (read and write), ``refresh`` (write only: fetch anew, keep the result),
``off`` (neither).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from agentkit.cache_dir import default_cache_dir, open_sqlite
from agentkit.errors import ConfigError

MODES = ("use", "refresh", "off")
DEFAULT_TTL = 7 * 24 * 3600.0


class WebCache:
    def __init__(self, path: str | Path | None = None, ttl: float = DEFAULT_TTL, mode: str = "use") -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown cache mode '{mode}'", f"use one of: {', '.join(MODES)}")
        self.path = Path(path) if path else default_cache_dir() / "web.sqlite"
        self.ttl = ttl
        self.mode = mode
        self.hits = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS entries (kind TEXT, key TEXT, created REAL, value TEXT, PRIMARY KEY (kind, key))")
        return self._db

    def get(self, kind: str, key: str) -> Any | None:
        if self.mode != "use":
            return None
        with self._lock:
            row = self._conn().execute("SELECT created, value FROM entries WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        if row is None or (self.ttl > 0 and time.time() - row[0] > self.ttl):
            return None
        self.hits += 1
        return json.loads(row[1])

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.mode == "off":
            return
        with self._lock:
            db = self._conn()
            db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", (kind, key, time.time(), json.dumps(value, ensure_ascii=False)))
            db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
