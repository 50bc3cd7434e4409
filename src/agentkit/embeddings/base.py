"""Embedders map texts to L2-normalized float32 rows. ``CachedEmbedder`` makes repeats free."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agentkit.cache_dir import SqliteCache, cache_limit_bytes, default_cache_dir


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class Embedder(ABC):
    """``name`` is the model's readable name (stored with a collection); ``identity`` tells one model from
    every other (it keys the embedding cache: two models may share a name, never an identity)."""

    name: str = "embedder"
    batch_size: int = 32

    @property
    def identity(self) -> str:
        return self.name

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Raw vectors for one batch."""

    @property
    def dimension(self) -> int:
        return int(self.embed(["dimension probe"]).shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        parts = [self._embed_batch(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return normalize(np.concatenate(parts, axis=0))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def warm_up(self) -> None:  # noqa: B027 (an optional hook: backends that load lazily override it)
        """Load the model now instead of on the first call."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _drop_name_keyed_layout(db: sqlite3.Connection) -> None:
    # Before 2026-11 vectors were keyed by the model's *name*, which two different models can share
    # (same folder name, same model name on two servers): those rows cannot be trusted, so they go.
    db.execute("DROP TABLE IF EXISTS embeddings")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash BLOB, vector BLOB, accessed REAL, PRIMARY KEY (model, hash));
CREATE INDEX IF NOT EXISTS vectors_accessed ON vectors (accessed);
"""
_TOUCH_AFTER = 3600.0  # seconds: refresh a hit's last-access time at most this often (saves a write per read)


class CachedEmbedder(Embedder):
    """Wraps an embedder with an on-disk cache keyed by (``inner.identity``, sha256 of the text).

    The identity names the model itself (resolved path + a fingerprint of its files, or server URL + model),
    not just its name. A cached vector whose length differs from the model's dimension is ignored and
    recomputed (so hits may cost loading the model once, to learn that dimension). The cache is bounded
    (least recently used rows go first) and a corrupt file is a miss, never an error (``SqliteCache``).
    ``computed`` counts texts that really went through the model (the ingestion report's ``embedded``).
    """

    def __init__(self, inner: Embedder, path: str | Path | None = None, max_bytes: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.batch_size = inner.batch_size
        self.path = Path(path) if path else default_cache_dir() / "embeddings.sqlite"
        self.computed = 0
        self._dimension: int | None = None
        self.store = SqliteCache(self.path, "vectors", _SCHEMA, max_bytes or cache_limit_bytes("embeddings"), _drop_name_keyed_layout)

    @property
    def identity(self) -> str:
        return self.inner.identity

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.inner._embed_batch(texts)

    def warm_up(self) -> None:
        self.inner.warm_up()

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.inner.dimension)
        return self._dimension

    def _lookup(self, model: str, keys: list[bytes]) -> dict[bytes, bytes]:
        def read(db: sqlite3.Connection) -> dict[bytes, bytes]:
            now = time.time()
            found: dict[bytes, bytes] = {}
            stale: list[tuple[float, str, bytes]] = []
            for i in range(0, len(keys), 500):
                batch = keys[i:i + 500]
                rows = db.execute(
                    f"SELECT hash, vector, accessed FROM vectors WHERE model = ? AND hash IN ({','.join('?' * len(batch))})", [model, *batch]
                ).fetchall()
                for h, v, accessed in rows:
                    found[h] = v
                    if (accessed or 0) < now - _TOUCH_AFTER:
                        stale.append((now, model, h))
            if stale:
                db.executemany("UPDATE vectors SET accessed = ? WHERE model = ? AND hash = ?", stale)
                db.commit()
            return found

        return self.store.run(read, {})

    def _store(self, model: str, keys: list[bytes], vectors: np.ndarray) -> None:
        def write(db: sqlite3.Connection) -> None:
            now = time.time()
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", [(model, k, v.astype(np.float32).tobytes(), now) for k, v in zip(keys, vectors)])

        self.store.run(write, None, write=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self.identity
        keys = [hashlib.sha256(t.encode("utf-8")).digest() for t in texts]
        raw = self._lookup(model, list(dict.fromkeys(keys)))
        # A row of the wrong length (another model's vector, a damaged blob) is a miss, not an answer.
        width = 4 * self.dimension if raw else 0
        found = {h: np.frombuffer(v, dtype=np.float32) for h, v in raw.items() if len(v) == width}
        missing = {k: t for k, t in zip(keys, texts) if k not in found}
        if missing:
            vectors = np.asarray(self.inner.embed(list(missing.values())), dtype=np.float32)
            self._dimension = self._dimension or int(vectors.shape[1])
            self._store(model, list(missing), vectors)
            found.update(zip(missing, vectors))
            self.computed += len(missing)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def close(self) -> None:
        self.store.close()
