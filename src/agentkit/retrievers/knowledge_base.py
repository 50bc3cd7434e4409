"""A knowledge base: chunks in Chroma (embedded directory or server), a BM25 index beside them,
idempotent ingestion, and dense / BM25 / hybrid retrieval.

Idempotence comes from content-derived ids: a chunk's id hashes (source, span, text). Re-ingesting a
file chunks it again (cheap), compares ids with what the collection holds for that source, embeds
only new ids and deletes stale ones — so unchanged files add and embed nothing, a changed file
replaces its chunks, an emptied file loses them, and an interrupted run resumes without duplicates.
The BM25 index compares itself with the collection's ids when loaded, so it catches up after such a
run too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from agentkit.cache_dir import cache_limit_bytes, prune_folders, touch
from agentkit.chunking import Chunk, RecursiveSplitter, Splitter
from agentkit.embeddings import DEFAULT_EMBEDDER, CachedEmbedder, Embedder, default_cache_dir, load_embedder
from agentkit.errors import AgentkitError, ConfigError, InputError, KnowledgeBaseError
from agentkit.loaders import Document, expand_paths, load_file
from agentkit.retrievers.base import IngestReport, RetrievedChunk
from agentkit.retrievers.bm25 import BM25Index
from agentkit.retrievers.bm25 import signature as bm25_signature
from agentkit.retrievers.fusion import mmr as mmr_rerank
from agentkit.retrievers.fusion import reciprocal_rank_fusion
from agentkit.spec import Spec

Mode = Literal["dense", "bm25", "hybrid"]
MODES = ("dense", "bm25", "hybrid")
DEFAULT_COLLECTION = "agentkit"
# Chunks per embed/upsert call: keeps memory flat and progress moving, and small enough that storing one batch
# overlaps embedding the next (the embedder sorts each batch by length, so it pads little even at this size).
_BATCH = 256


def chunk_id(source: str, chunk: Chunk) -> str:
    digest = hashlib.sha256(f"{source}\x00{chunk.start}\x00{chunk.end}\x00{chunk.text}".encode())
    return digest.hexdigest()[:32]


def to_chroma_where(where: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"source": "a.md", "tags": ["x", "y"]}`` → Chroma's filter (equality / $in / $contains on lists)."""
    if not where:
        return None
    clauses = []
    for key, value in where.items():
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if key == "tags":
            ors = [{"tags": {"$contains": v}} for v in values]
            clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
        else:
            clauses.append({key: values[0]} if len(values) == 1 else {key: {"$in": values}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass(frozen=True)
class ChromaOptions:
    """``chroma://DIR?collection=docs&mode=bm25&embedder=...`` or ``chroma+http://HOST:PORT/COLLECTION``."""

    collection: str | None = None
    mode: Literal["dense", "bm25", "hybrid"] | None = None
    embedder: str | None = None


class KnowledgeBase:
    """``KnowledgeBase(".agentkit/kb")`` (embedded) or ``KnowledgeBase("http://127.0.0.1:8000/docs")`` (server).

    ``__init__`` is cheap: nothing connects or loads until the first ingest or query. ``embedder`` defaults
    to the one the collection was built with, else the offline MiniLM.
    """

    def __init__(
        self,
        location: str | Path,
        embedder: str | Embedder | None = None,
        splitter: Splitter | None = None,
        collection: str | None = None,
        mode: Mode = "hybrid",
        weights: dict[str, float] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown retrieval mode '{mode}'", f"use one of: {', '.join(MODES)}")
        location = str(location)
        # the spec forms open_knowledge_base documents: chroma+http(s)://HOST:PORT/C is a server, chroma://DIR a folder
        if location.startswith(("chroma+http://", "chroma+https://")):
            location = location.removeprefix("chroma+")
        elif location.startswith("chroma://"):
            location = location.removeprefix("chroma://")
        self.location = location
        self._embedder_arg = embedder
        self.splitter = splitter or RecursiveSplitter(800, 100)
        self.mode: Mode = mode
        self.weights = weights or {"dense": 1.0, "bm25": 1.0}
        self.is_server = self.location.startswith(("http://", "https://"))
        if self.is_server:
            url = urlparse(self.location)
            name = url.path.strip("/")
            if not url.hostname or "/" in name:
                raise ConfigError(f"bad Chroma server address '{self.location}'", "write it as http://HOST:PORT/COLLECTION")
            self.collection_name = collection or name or DEFAULT_COLLECTION
        else:
            self.collection_name = collection or DEFAULT_COLLECTION
        self._client: Any = None
        self._collection: Any = None
        self._embedder: Embedder | None = None
        self._bm25: BM25Index | None = None

    @classmethod
    def from_spec(cls, spec: Spec, options: ChromaOptions | None = None, **kwargs: Any) -> KnowledgeBase:
        """The ``chroma``/``chroma+http(s)`` knowledge-base plugins; keyword arguments win over spec options."""
        options = options or ChromaOptions()
        if spec.scheme == "chroma":
            if not spec.target:
                raise ConfigError(f"'{spec.raw}' names no directory", "write chroma://DIR (or just DIR)")
            location = spec.target
        else:
            location = f"{spec.scheme.split('+', 1)[1]}://{spec.target}"
        for key in ("collection", "embedder", "mode"):
            if kwargs.get(key) is None:
                kwargs[key] = getattr(options, key)
        if kwargs["mode"] is None:
            del kwargs["mode"]
        return cls(location, **kwargs)

    @property
    def spec(self) -> str:
        """The spec that reopens this knowledge base (``chroma://DIR?collection=...`` or ``chroma+http://HOST:PORT/COLLECTION``)."""
        if self.is_server:
            url = urlparse(self.location)
            return f"chroma+{url.scheme}://{url.netloc}/{self.collection_name}"
        return f"chroma://{self.location}" + (f"?collection={self.collection_name}" if self.collection_name != DEFAULT_COLLECTION else "")

    def to_dict(self) -> dict[str, Any]:
        embedder = self._embedder_arg if isinstance(self._embedder_arg, str) else None
        return {"type": "knowledge_base", "spec": self.spec, "mode": self.mode, **({"embedder": embedder} if embedder else {})}

    # ---- connection ----------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        try:
            if self.is_server:
                url = urlparse(self.location)
                self._client = chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000), ssl=url.scheme == "https", settings=settings)
            else:
                path = Path(self.location)
                if path.exists() and not path.is_dir():
                    raise KnowledgeBaseError(f"knowledge base path {path} is a file", "give a directory for --kb")
                path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(path), settings=settings)
        except AgentkitError:
            raise
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError variants
            where = "Chroma server at " + self.location if self.is_server else f"Chroma directory {self.location}"
            hint = "start it with 'chroma run --path DIR --port PORT'" if self.is_server else "check the directory"
            raise KnowledgeBaseError(f"cannot open {where}: {str(exc).splitlines()[0][:160]}", hint) from None
        return self._client

    def _existing_collection(self) -> Any:
        if self._collection is None:
            client = self._connect()
            try:
                self._collection = client.get_collection(self.collection_name)
            except Exception:
                return None
        return self._collection

    def _collection_for_write(self, embedder: Embedder) -> Any:
        col = self._existing_collection()
        meta = (col.metadata or {}) if col is not None else {}
        if meta.get("embedder") == embedder.name and meta.get("dimension") is not None:
            # the name vouches for the width, and every stored batch's vectors are checked against it anyway: no
            # need to load the model here (a re-ingest with nothing new to embed never loads it)
            return col
        dimension = embedder.dimension
        if col is None:
            self._collection = self._connect().get_or_create_collection(
                self.collection_name,
                embedding_function=None,  # Chroma's default would download a model; we pass vectors
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": embedder.name, "embedder_spec": self._spec_of(embedder), "dimension": dimension, "stamp": uuid.uuid4().hex},
            )
            return self._collection
        if meta.get("embedder") not in (None, embedder.name) or meta.get("dimension") not in (None, dimension):
            raise KnowledgeBaseError(
                f"knowledge base {self.location} was built with embedder {meta.get('embedder')} ({meta.get('dimension')} dims), "
                f"not {embedder.name} ({dimension} dims)",
                f"use --embedder {meta.get('embedder_spec', meta.get('embedder'))} or a new --kb",
            )
        return col

    def _spec_of(self, embedder: Embedder) -> str:
        return self._embedder_arg if isinstance(self._embedder_arg, str) else DEFAULT_EMBEDDER if embedder.name.endswith("all-MiniLM-L6-v2") else embedder.name

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            spec = self._embedder_arg
            if spec is None:
                col = self._existing_collection()
                spec = (col.metadata or {}).get("embedder_spec") if col is not None else None
            self._embedder = load_embedder(spec or DEFAULT_EMBEDDER)
        return self._embedder

    def count(self) -> int:
        col = self._existing_collection()
        return 0 if col is None else int(col.count())

    def sources(self) -> list[str]:
        col = self._existing_collection()
        if col is None:
            return []
        return sorted({m["source"] for m in col.get(include=["metadatas"])["metadatas"] or []})

    def chunks(self) -> list[RetrievedChunk]:
        """Every stored chunk (score 0), ordered by source and position."""
        index = self.bm25_index()
        found = [index._chunk(i, 0.0) for i in range(len(index.ids))]
        return sorted(found, key=lambda c: (c.source, c.start, c.end, c.chunk_id))

    # ---- ingestion -----------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[str | Path],
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        tags: Sequence[str] = (),
        prune: bool = False,
        text_column: str = "text",
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Load, chunk, embed and store ``paths`` (files or directories). See the module doc for
        the idempotence rules. A file that is now empty loses its chunks (an unreadable one keeps them).
        ``tags`` become the tags of every chunk of these files, unchanged chunks included (no tags clears
        them). ``prune`` drops sources that were not part of this call. When nothing was readable and
        there is nothing to delete, the knowledge base is left untouched (not even created)."""
        started = time.perf_counter()
        report = IngestReport()
        tags = list(dict.fromkeys(tags))
        files = expand_paths(paths, include, exclude)
        documents: list[Document] = []
        emptied: list[str] = []
        for f in files:
            try:
                docs = load_file(f, text_column)
            except InputError as exc:
                report.skipped.append((str(f), exc.message))
                continue
            for doc in docs:
                if doc.text.strip():
                    documents.append(doc)
                else:
                    report.skipped.append((doc.source, "empty document"))
                    emptied.append(doc.source)
        report.documents = len(documents)
        embedder = self.embedder if documents else None
        col = self._collection_for_write(embedder) if embedder is not None else self._existing_collection()
        if col is None:
            report.seconds = time.perf_counter() - started
            return report
        computed_before = embedder.computed if isinstance(embedder, CachedEmbedder) else 0
        plans: list[tuple[Document | None, list[tuple[str, Chunk]], list[tuple[str, Chunk]], list[str]]] = []
        for doc in documents:
            chunks = self._split(doc)
            ids = [chunk_id(doc.source, c) for c in chunks]
            stored = col.get(where={"source": doc.source}, include=["metadatas"])
            existing = dict(zip(stored["ids"], stored["metadatas"] or []))
            new = [(i, c) for i, c in zip(ids, chunks) if i not in existing]
            retag = [(i, c) for i, c in zip(ids, chunks) if i in existing and list((existing[i] or {}).get("tags") or []) != tags]
            stale = sorted(set(existing) - set(ids))
            plans.append((doc, new, retag, stale))
            report.chunks_total += len(chunks)
            report.unchanged_documents += not new and not stale
        for source in emptied:  # an emptied file has no chunks now: its old ones are stale
            plans.append((None, [], [], sorted(col.get(where={"source": source}, include=[])["ids"])))
        # Embed across documents (one file's chunks are often fewer than a batch). Stale chunks go only
        # after all new ones are in, so a failure never leaves a file with no chunks.
        pending = [(doc, cid, c) for doc, new, _, _ in plans if doc is not None for cid, c in new]
        self._embed_and_store(col, embedder, pending, tags, progress)
        for planned, new, retag, stale in plans:
            if retag and planned is not None:
                col.update(ids=[i for i, _ in retag], metadatas=[self._metadata(planned, c, tags, clear_tags=True) for _, c in retag])
            if stale:
                col.delete(ids=stale)
            report.chunks_added += len(new)
            report.chunks_retagged += len(retag)
            report.chunks_removed += len(stale)
        if prune:
            keep = {d.source for d in documents} | {p for p, _ in report.skipped}
            for source in set(self.sources()) - keep:
                removed = col.get(where={"source": source}, include=[])["ids"]
                col.delete(ids=removed)
                report.chunks_removed += len(removed)
        if report.chunks_added or report.chunks_removed or report.chunks_retagged:
            self._touch(col)
        report.embedded = (embedder.computed - computed_before) if isinstance(embedder, CachedEmbedder) else report.chunks_added
        report.seconds = time.perf_counter() - started
        return report

    def _embed_and_store(self, col: Any, embedder: Embedder | None, pending: list[tuple[Document, str, Chunk]], tags: Sequence[str],
                         progress: Callable[[int, int], None] | None) -> None:
        """Embed ``pending`` in batches and upsert each; the upsert of one batch runs on a worker thread while
        the next batch is embedded (both release the GIL), at most one upsert in flight. The first error
        stops the loop and is raised after the upsert in flight has finished."""
        if not pending or embedder is None:
            return
        dimension = (col.metadata or {}).get("dimension")

        def store(batch: list[tuple[Document, str, Chunk]], vectors: Any) -> int:
            col.upsert(
                ids=[cid for _, cid, _ in batch],
                embeddings=vectors,
                documents=[c.text for _, _, c in batch],
                metadatas=[self._metadata(doc, c, tags) for doc, _, c in batch],
            )
            return len(batch)

        # progress is reported from the caller's thread, never the writer's: callers such as the MCP server can
        # only relay it from the thread they started the work on
        done = 0

        def finish(future: Future[int] | None) -> None:
            nonlocal done
            if future is not None:
                done += future.result()
                if progress:
                    progress(done, len(pending))

        with ThreadPoolExecutor(max_workers=1) as writer:
            in_flight: Future[int] | None = None
            for b in range(0, len(pending), _BATCH):
                batch = pending[b:b + _BATCH]
                vectors = embedder.embed([c.text for _, _, c in batch])
                if dimension is not None and vectors.shape[1] != dimension:
                    raise KnowledgeBaseError(f"the embedder returned {vectors.shape[1]}-dimensional vectors, the knowledge base holds {dimension}", "check the embedder spec")
                finish(in_flight)
                in_flight = writer.submit(store, batch, vectors)
            finish(in_flight)

    def _split(self, doc: Document) -> list[Chunk]:
        splitter = self.splitter
        if getattr(splitter, "embed", "absent") is None:  # the semantic splitter borrows our embedder
            splitter = splitter.replace()
            splitter.embed = self.embedder.embed  # type: ignore[attr-defined]
        return splitter.split(doc.text)

    @staticmethod
    def _metadata(doc: Document, chunk: Chunk, tags: Sequence[str], clear_tags: bool = False) -> dict[str, Any]:
        """A chunk's stored metadata; ``clear_tags`` writes ``tags: None`` (Chroma's update merges keys,
        and None deletes one) when there are no tags."""
        meta: dict[str, Any] = {k: v for k, v in doc.metadata.items() if isinstance(v, str | int | float | bool)}
        meta.update(source=doc.source, start=chunk.start, end=chunk.end, index=chunk.index)
        headings = chunk.metadata.get("headings")
        if headings:
            meta["headings"] = list(headings)
        if tags:
            meta["tags"] = list(tags)
        elif clear_tags:
            meta["tags"] = None
        return meta

    def _touch(self, col: Any) -> None:
        # A new stamp tells every BM25 index built before this write that it is stale.
        meta = {k: v for k, v in (col.metadata or {}).items() if not k.startswith("hnsw:")}
        col.modify(metadata={**meta, "stamp": uuid.uuid4().hex})
        self._bm25 = None

    def delete_source(self, source: str) -> int:
        col = self._existing_collection()
        if col is None:
            return 0
        ids = col.get(where={"source": source}, include=[])["ids"]
        if ids:
            col.delete(ids=ids)
            self._touch(col)
        return len(ids)

    # ---- retrieval -----------------------------------------------------------------------------

    def _bm25_dir(self) -> Path:
        if self.is_server:
            key = hashlib.sha1(f"{self.location}|{self.collection_name}".encode()).hexdigest()[:16]
            return default_cache_dir() / "bm25" / key
        return Path(self.location) / "bm25" / self.collection_name

    def bm25_index(self) -> BM25Index:
        """The BM25 index of the collection, rebuilt when it is stale.

        Stale means: built at another stamp (every write through this class changes it), or over another
        set of chunks — the saved index records the count and a digest of its ids, compared with the
        collection's once per load. That second check catches writes whose stamp never landed (a run
        killed between its last upsert and the stamp) and writes by other tools."""
        col = self._existing_collection()
        if col is None:
            return BM25Index([], [], [])
        stamp = str((col.metadata or {}).get("stamp", ""))
        if self._bm25 is not None and getattr(self._bm25, "stamp", None) == stamp:
            return self._bm25
        directory = self._bm25_dir()
        index = BM25Index.load(directory, stamp, bm25_signature(col.get(include=[])["ids"]))
        if index is None:
            data = col.get(include=["documents", "metadatas"])
            index = BM25Index(data["ids"], data["documents"], data["metadatas"])
            index.save(directory, stamp, bm25_signature(data["ids"]))
        if self.is_server:  # these indexes live in the shared cache: keep it bounded
            touch(directory)
            prune_folders(directory.parent, cache_limit_bytes("bm25"), keep=directory)
        index.stamp = stamp  # type: ignore[attr-defined]
        self._bm25 = index
        return index

    def dense(self, query: str, k: int = 5, where: dict[str, Any] | None = None) -> list[RetrievedChunk]:
        col = self._existing_collection()
        # An empty knowledge base answers [] without loading its embedder (which may not even load here). Once
        # the embedder is loaded, no count() per query: Chroma returns fewer than n_results when it holds fewer.
        if col is None or (self._embedder is None and self.count() == 0):
            return []
        vector = self.embedder.embed([query])[0]
        res = col.query(query_embeddings=[vector.tolist()], n_results=k, where=to_chroma_where(where), include=["documents", "metadatas", "distances"])
        out = []
        for cid, text, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]):
            score = 1.0 - float(dist)
            out.append(RetrievedChunk(text, meta["source"], int(meta["start"]), int(meta["end"]), score, cid, meta, {"dense": score}))
        return out

    def bm25(self, query: str, k: int = 5, where: dict[str, Any] | None = None) -> list[RetrievedChunk]:
        return self.bm25_index().search(query, k, where)

    def retrieve(
        self,
        query: str,
        k: int = 5,
        mode: Mode | None = None,
        where: dict[str, Any] | None = None,
        min_score: float | None = None,
        mmr: bool = False,
        mmr_lambda: float = 0.7,
    ) -> list[RetrievedChunk]:
        """Best-first chunks for ``query``. Hybrid fuses dense and BM25 by weighted RRF over a
        candidate pool of max(4k, 20); ``mmr`` re-orders that pool for diversity before cutting to k.

        ``min_score`` drops chunks below a relevance floor whose scale depends only on the mode:

        - ``dense`` and ``hybrid``: the cosine similarity of chunk and query (-1..1; with MiniLM related
          text scores about 0.3 and up). In hybrid mode the fused RRF score (about 0.01-0.03) only orders
          the results; the floor applies to each chunk's similarity, computed for BM25-only hits too.
        - ``bm25``: the raw BM25 score (0 and up, unbounded; it grows with rare query words).

        The compared number is in each chunk's ``scores["dense"]`` or ``scores["bm25"]``. An empty
        knowledge base returns []."""
        mode = mode or self.mode
        if mode not in MODES:
            raise ConfigError(f"unknown retrieval mode '{mode}'", f"use one of: {', '.join(MODES)}")
        if not query.strip():
            raise InputError("the query is empty", "pass a non-empty query")
        if k < 1:
            raise ConfigError(f"k={k} must be >= 1", "use --k 1 or more")
        pool = max(4 * k, 20) if (mode == "hybrid" or mmr) else k
        if mode == "dense":
            found = self.dense(query, pool, where)
        elif mode == "bm25":
            found = self.bm25(query, pool, where)
        else:
            found = reciprocal_rank_fusion({"dense": self.dense(query, pool, where), "bm25": self.bm25(query, pool, where)}, self.weights)
        if min_score is not None:
            if mode == "hybrid":
                found = [c for c in self._with_similarity(query, found) if c.scores["dense"] >= min_score]
            else:
                found = [c for c in found if c.score >= min_score]
        if mmr and found:
            vectors = self._vectors([c.chunk_id for c in found])
            found = mmr_rerank(self.embedder.embed([query])[0], found, vectors, k, mmr_lambda)
        return found[:k]

    def _with_similarity(self, query: str, found: list[RetrievedChunk]) -> list[RetrievedChunk]:
        """``found`` with ``scores["dense"]`` (cosine similarity to the query) set on every chunk."""
        lacking = [c for c in found if "dense" not in c.scores]
        if not lacking:
            return found
        # Stored vectors and the query vector are L2-normalized: the dot product is the cosine.
        similarity = self._vectors([c.chunk_id for c in lacking]) @ self.embedder.embed([query])[0]
        extra = {c.chunk_id: float(s) for c, s in zip(lacking, similarity)}
        return [dataclasses.replace(c, scores={**c.scores, "dense": extra[c.chunk_id]}) if c.chunk_id in extra else c for c in found]

    def _vectors(self, ids: list[str]) -> Any:
        import numpy as np

        got = self._existing_collection().get(ids=ids, include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"]))
        return np.asarray([by_id[i] for i in ids], dtype=np.float32)

    def __repr__(self) -> str:
        return f"KnowledgeBase({self.location!r}, collection={self.collection_name!r}, mode={self.mode!r})"
