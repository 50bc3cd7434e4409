"""An on-disk cache for search results and fetched pages, keyed by (kind, key), with a TTL.

Benchmarks replay the same searches and pages through it, so a run can be repeated exactly and a re-run
costs nothing. ``mode``: ``use`` (read and write), ``refresh`` (write only: fetch anew, keep the result),
``off`` (neither). The file is bounded (least recently used entries go first, ``AGENTKIT_CACHE_MAX_MB``)
and a corrupt one is a miss: it is moved aside and rebuilt (``agentkit.cache_dir.SqliteCache``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from agentkit.cache_dir import SqliteCache, cache_limit_bytes, default_cache_dir
from agentkit.errors import ConfigError

MODES = ("use", "refresh", "off")
DEFAULT_TTL = 7 * 24 * 3600.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (kind TEXT, key TEXT, created REAL, value TEXT, accessed REAL, PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS entries_accessed ON entries (accessed);
"""
_TOUCH_AFTER = 3600.0  # seconds: refresh a hit's last-access time at most this often


def _add_accessed(db: sqlite3.Connection) -> None:
    # Files written before the size cap lack the last-access column; their entries stay valid.
    columns = [row[1] for row in db.execute("PRAGMA table_info(entries)")]
    if columns and "accessed" not in columns:
        db.execute("ALTER TABLE entries ADD COLUMN accessed REAL")
        db.execute("UPDATE entries SET accessed = created")
        db.commit()


class WebCache:
    """``max_bytes`` defaults to the cap for this file's name (``web``, ``judge``; see ``cache_dir``)."""

    def __init__(self, path: str | Path | None = None, ttl: float = DEFAULT_TTL, mode: str = "use", max_bytes: int | None = None) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown cache mode '{mode}'", f"use one of: {', '.join(MODES)}")
        self.path = Path(path) if path else default_cache_dir() / "web.sqlite"
        self.ttl = ttl
        self.mode = mode
        self.hits = 0
        self.store = SqliteCache(self.path, "entries", _SCHEMA, max_bytes or cache_limit_bytes(self.path.stem), _add_accessed)

    def get(self, kind: str, key: str) -> Any | None:
        if self.mode != "use":
            return None

        def read(db: sqlite3.Connection) -> tuple[float, str] | None:
            row = db.execute("SELECT created, value, accessed FROM entries WHERE kind = ? AND key = ?", (kind, key)).fetchone()
            now = time.time()
            if row is not None and (row[2] or 0) < now - _TOUCH_AFTER:
                db.execute("UPDATE entries SET accessed = ? WHERE kind = ? AND key = ?", (now, kind, key))
                db.commit()
            return None if row is None else (row[0], row[1])

        row = self.store.run(read, None)
        if row is None or (self.ttl > 0 and time.time() - row[0] > self.ttl):
            return None
        try:
            value = json.loads(row[1])
        except ValueError:
            return None  # a damaged value is a miss; the next put replaces it
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.mode == "off":
            return
        text = json.dumps(value, ensure_ascii=False)

        def write(db: sqlite3.Connection) -> None:
            now = time.time()  # taken once the file is open: opening it is not part of the entry's age
            db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", (kind, key, now, text, now))

        self.store.run(write, None, write=True)

    def close(self) -> None:
        self.store.close()
