"""Where agentkit keeps its on-disk caches (embeddings, web pages, judge verdicts, BM25 indexes of server
knowledge bases), how it opens them, keeps them bounded, and survives them being corrupt.

Every cache is disposable: a corrupt or truncated file is moved aside (``NAME.corrupt``) and started
afresh, and a read that fails is a miss — never a traceback. Each cache stays under a size cap by evicting
its least recently used entries; the cap is ``AGENTKIT_CACHE_MAX_MB`` (one value for every cache) or the
per-cache default in ``DEFAULT_LIMITS_MB``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("agentkit.cache")
T = TypeVar("T")

#: cache name → (file or folder under the cache dir, table holding its entries; "" for a folder)
CACHES: dict[str, tuple[str, str]] = {
    "embeddings": ("embeddings.sqlite", "vectors"),
    "web": ("web.sqlite", "entries"),
    "judge": ("judge.sqlite", "entries"),
    "bm25": ("bm25", ""),
}
DEFAULT_LIMITS_MB: dict[str, float] = {"embeddings": 1024, "web": 512, "judge": 64, "bm25": 512}
_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB (primary codes)


def default_cache_dir() -> Path:
    """``$AGENTKIT_CACHE_DIR``, else ``~/.cache/agentkit``."""
    return Path(os.environ.get("AGENTKIT_CACHE_DIR") or Path.home() / ".cache" / "agentkit")


def cache_limit_bytes(name: str) -> int:
    """The size cap of cache ``name``: ``$AGENTKIT_CACHE_MAX_MB`` if set, else its default."""
    from agentkit.errors import ConfigError

    raw = os.environ.get("AGENTKIT_CACHE_MAX_MB")
    try:
        mb = float(raw) if raw else DEFAULT_LIMITS_MB.get(name, 256)
    except ValueError:
        raise ConfigError(f"AGENTKIT_CACHE_MAX_MB={raw!r} is not a number", "set it to a size in megabytes, e.g. 512") from None
    if mb <= 0:
        raise ConfigError(f"AGENTKIT_CACHE_MAX_MB={raw!r} must be positive", "set it to a size in megabytes, e.g. 512")
    return int(mb * 1024 * 1024)


def open_sqlite(path: Path, schema: str) -> sqlite3.Connection:
    """A WAL-mode connection usable from several threads (callers hold their own lock), schema applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db


def is_corrupt(exc: sqlite3.Error) -> bool:
    """True for "file is not a database" / "database disk image is malformed" (not for a locked or full disk)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT
    text = str(exc)
    return "not a database" in text or "malformed" in text


def _sidecars(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), path.with_name(path.name + "-journal")]


class SqliteCache:
    """One bounded cache table in a SQLite file, opened lazily; ``run(fn, default)`` is the only way in.

    Invariants: ``run`` never raises ``sqlite3.Error`` — a corrupt file is moved to ``PATH.corrupt`` (the
    previous one replaced), a new one is created and ``default`` returned; other database errors (locked,
    disk full) return ``default``. Either is logged once per instance. After a write, rows are evicted
    oldest ``accessed`` first until the live data is at most ``max_bytes`` (the file itself keeps its free
    pages for reuse, so it stays near that size). ``schema`` must create ``table`` with a REAL column
    ``accessed``; ``migrate`` may adapt an older layout before it runs.
    """

    def __init__(self, path: Path, table: str, schema: str, max_bytes: int, migrate: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.path = path
        self.table = table
        self.schema = schema
        self.max_bytes = max_bytes
        self.migrate = migrate
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._warned = False

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # A cache may lose its last writes to a power cut (WAL keeps it consistent either way), so commits
            # skip the fsync: it was most of the cost of storing a query's vector (1.5 of 2.2 ms here).
            db.execute("PRAGMA synchronous=NORMAL")
            if self.migrate is not None:
                self.migrate(db)
            db.executescript(self.schema)
        except BaseException:
            db.close()
            raise
        return db

    def run(self, fn: Callable[[sqlite3.Connection], T], default: T, write: bool = False) -> T:
        with self._lock:
            for attempt in range(2):
                try:
                    if self._db is None:
                        self._db = self._open()
                    result = fn(self._db)
                    if write:
                        self._db.commit()
                        self._evict(self._db)
                    return result
                except sqlite3.Error as exc:
                    self._close()
                    if not is_corrupt(exc):
                        self._warn(f"cache {self.path} unusable ({exc}); going on without it")
                        return default
                    self._quarantine(exc)
                    if not write or attempt:
                        return default
            return default

    def _evict(self, db: sqlite3.Connection) -> None:
        for _ in range(8):  # index pages free less than their share, so a round may fall short
            page_size, pages, free = (db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count", "freelist_count"))
            used = (pages - free) * page_size
            if used <= self.max_bytes:
                return
            rows = db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0]
            if not rows:
                return
            # Drop a share proportional to the excess plus 10% headroom, so eviction is not paid on every write.
            n = max(1, math.ceil(rows * (1 - 0.9 * self.max_bytes / used)))
            db.execute(f"DELETE FROM {self.table} WHERE rowid IN (SELECT rowid FROM {self.table} ORDER BY accessed LIMIT ?)", (n,))
            db.commit()

    def _quarantine(self, exc: sqlite3.Error) -> None:
        aside = self.path.with_name(self.path.name + ".corrupt")
        for part in _sidecars(self.path):
            target = aside.with_name(aside.name + part.name[len(self.path.name):])
            try:
                if part.exists():
                    os.replace(part, target)
            except OSError:
                part.unlink(missing_ok=True)
        self._warn(f"cache {self.path} is corrupt ({exc}); moved it to {aside} and started a new one")

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)

    def _close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def close(self) -> None:
        with self._lock:
            self._close()


def files_fingerprint(root: Path, files: Iterable[Path] | None = None) -> str:
    """A short digest of (relative path, size, mtime) of the files under ``root`` (hidden ones skipped):
    it changes when a file is added, removed, rewritten or touched, and costs one ``stat`` per file."""
    digest = hashlib.sha256()
    found = files if files is not None else (p for p in root.rglob("*") if p.is_file())
    for p in sorted(found):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        st = p.stat()
        digest.update(f"{rel.as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def prune_folders(root: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently modified sub-folders of ``root`` (never ``keep``) until the rest fit
    in ``max_bytes``; returns what was deleted."""
    if not root.is_dir():
        return []
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    sizes = {p: _tree_bytes(p) for p in folders}
    total = sum(sizes.values())
    removed = []
    for p in folders:
        if total <= max_bytes:
            break
        if keep is not None and p.resolve() == keep.resolve():
            continue
        shutil.rmtree(p, ignore_errors=True)
        total -= sizes[p]
        removed.append(p)
    return removed


@dataclass(frozen=True)
class CacheInfo:
    """One cache as ``agentkit cache info`` shows it; ``entries`` is None when the file is corrupt."""

    name: str
    path: Path
    bytes: int
    entries: int | None
    limit_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def _entries(path: Path, table: str) -> int | None:
    if not table:
        return sum(1 for p in path.iterdir() if p.is_dir()) if path.is_dir() else 0
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is None:
                return 0  # a layout from an older version: its rows are dropped or migrated on first use
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return None  # corrupt: the next use moves it aside and rebuilds it


def cache_info(root: Path | None = None) -> list[CacheInfo]:
    """Location, size on disk (with WAL files) and entry count of every cache under ``root``."""
    root = root or default_cache_dir()
    infos = []
    for name, (file, table) in CACHES.items():
        path = root / file
        size = _tree_bytes(path) if not table else sum(p.stat().st_size for p in _sidecars(path) if p.exists())
        infos.append(CacheInfo(name, path, size, _entries(path, table), cache_limit_bytes(name)))
    return infos


def clear_caches(names: Sequence[str], root: Path | None = None) -> list[Path]:
    """Delete the named caches (files with their WAL sidecars and ``.corrupt`` copies); returns what went."""
    from agentkit.errors import ConfigError

    unknown = [n for n in names if n not in CACHES]
    if unknown:
        raise ConfigError(f"unknown cache(s): {', '.join(unknown)}", f"use one of: {', '.join(CACHES)}")
    root = root or default_cache_dir()
    removed = []
    for name in names:
        path = root / CACHES[name][0]
        if not CACHES[name][1]:
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(path)
            continue
        aside = path.with_name(path.name + ".corrupt")
        for part in [*_sidecars(path), *_sidecars(aside)]:
            if part.exists():
                part.unlink()
                removed.append(part)
    return removed


def touch(path: Path) -> None:
    """Mark ``path`` as just used (for least-recently-used eviction of folders)."""
    try:
        now = time.time()
        os.utime(path, (now, now))
    except OSError:
        pass
