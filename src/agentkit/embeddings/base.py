"""Embedders map texts to L2-normalized float32 rows. ``CachedEmbedder`` makes repeats free."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agentkit.cache_dir import default_cache_dir, open_sqlite


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class Embedder(ABC):
    """``name`` identifies the model (it keys the cache and is stored with a collection)."""

    name: str = "embedder"
    batch_size: int = 32

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

    def warm_up(self) -> None:
        """Load the model now instead of on the first call."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class CachedEmbedder(Embedder):
    """Wraps an embedder with an on-disk cache keyed by (model name, sha256 of the text).

    ``computed`` counts texts that really went through the model (the ingestion report's ``embedded``).
    """

    def __init__(self, inner: Embedder, path: str | Path | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.batch_size = inner.batch_size
        self.path = Path(path) if path else default_cache_dir() / "embeddings.sqlite"
        self.computed = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS embeddings (model TEXT, hash BLOB, vector BLOB, PRIMARY KEY (model, hash))")
        return self._db

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.inner._embed_batch(texts)

    def warm_up(self) -> None:
        self.inner.warm_up()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        keys = [hashlib.sha256(t.encode("utf-8")).digest() for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            db = self._conn()
            unique = list(dict.fromkeys(keys))
            for i in range(0, len(unique), 500):
                batch = unique[i:i + 500]
                rows = db.execute(
                    f"SELECT hash, vector FROM embeddings WHERE model = ? AND hash IN ({','.join('?' * len(batch))})",
                    [self.name, *batch],
                ).fetchall()
                found.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
        missing = {k: t for k, t in zip(keys, texts) if k not in found}
        if missing:
            vectors = self.inner.embed(list(missing.values()))
            with self._lock:
                db = self._conn()
                db.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                    [(self.name, k, v.astype(np.float32).tobytes()) for k, v in zip(missing, vectors)],
                )
                db.commit()
            found.update(zip(missing, vectors))
            self.computed += len(missing)
        return np.stack([found[k] for k in keys]).astype(np.float32)
