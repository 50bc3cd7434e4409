"""A RAGFlow dataset as an agentkit knowledge base: ``RagflowKnowledgeBase("ragflow://HOST:PORT/DATASET")``.

Datasets, uploads and parsing go through ``ragflow-sdk`` (pinned to 0.22.x: releases from 0.26.4 on require
Python 3.13). Retrieval calls the documented HTTP API directly (``POST /api/v1/retrieval``) because the SDK drops
``total``, ``doc_aggs`` and ``highlight``. RAGFlow reports most errors as HTTP 200 with a non-zero ``code`` in the
``{code, message, data}`` envelope; both the SDK's bare exceptions and those envelopes become one-line
KnowledgeBaseErrors here. The API key comes from ``api_key=``, the spec's ``?api_key=`` or ``RAGFLOW_API_KEY``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from agentkit.errors import BackendUnavailableError, ConfigError, KnowledgeBaseError
from agentkit.loaders import expand_paths
from agentkit.retrievers.base import RetrievedChunk
from agentkit.retrievers.knowledge_base import IngestReport

RUN_STATES = {"0": "UNSTART", "1": "RUNNING", "2": "CANCEL", "3": "DONE", "4": "FAIL"}
TERMINAL = {"DONE", "FAIL", "CANCEL"}
Progress = Callable[[int, int], None]


def run_state(value: Any) -> str:
    """RAGFlow's per-document ``run`` as a name (the API sends names; older servers send "0".."4")."""
    text = str(value).upper()
    return RUN_STATES.get(text, text)


@dataclass(frozen=True)
class RagflowOptions:
    """``ragflow://HOST:PORT/DATASET?similarity_threshold=0.1&keyword=1&api_key=...``."""

    api_key: str | None = None
    similarity_threshold: float | None = None
    vector_similarity_weight: float | None = None
    top_k: int | None = None
    keyword: bool | None = None
    rerank_id: str | None = None
    chunk_method: str | None = None
    chunk_token_num: int | None = None
    timeout: float | None = None


class RagflowKnowledgeBase:
    def __init__(
        self,
        base_url: str,
        dataset: str,
        api_key: str | None = None,
        chunk_method: str = "naive",
        parser_config: dict[str, Any] | None = None,
        similarity_threshold: float = 0.2,
        vector_similarity_weight: float = 0.3,
        top_k: int = 1024,
        rerank_id: str | None = None,
        keyword: bool = False,
        document_ids: Sequence[str] = (),
        timeout: float = 30.0,
    ) -> None:
        if not dataset:
            raise ConfigError("a RAGFlow knowledge base needs a dataset name", "write it as ragflow://HOST:PORT/DATASET")
        if top_k < 1:
            raise ConfigError(f"top_k={top_k} must be > 0", "RAGFlow rejects top_k <= 0")
        self.base_url = base_url.rstrip("/")
        self.dataset_name = dataset
        self.api_key = api_key or os.environ.get("RAGFLOW_API_KEY", "")
        if not self.api_key:
            raise ConfigError("no RAGFlow API key", "set RAGFLOW_API_KEY, or add ?api_key=... to the ragflow:// spec")
        self.chunk_method = chunk_method
        self.parser_config = parser_config
        self.similarity_threshold = similarity_threshold
        self.vector_similarity_weight = vector_similarity_weight
        self.top_k = top_k
        self.rerank_id = rerank_id
        self.keyword = keyword
        self.document_ids = list(document_ids)
        self.timeout = timeout
        self._sdk: Any = None
        self._dataset: Any = None

    @classmethod
    def from_parsed_spec(cls, spec: Any, options: RagflowOptions | None = None, **overrides: Any) -> RagflowKnowledgeBase:
        """The ``ragflow``/``ragflows`` knowledge-base plugins: ``ragflow://HOST:PORT/DATASET?similarity_threshold=0.1``."""
        host, _, dataset = spec.target.partition("/")
        if not host:
            raise ConfigError(f"bad RAGFlow address '{spec.raw}'", "write it as ragflow://HOST:PORT/DATASET")
        values = {k: v for k, v in dataclasses.asdict(options or RagflowOptions()).items() if v is not None}
        chunk_tokens = values.pop("chunk_token_num", None)
        if chunk_tokens is not None:
            values["parser_config"] = {"chunk_token_num": chunk_tokens}
        # RAGFlow splits and embeds on its side (chunk_method, parser_config): a local splitter does not apply.
        overrides.pop("splitter", None)
        for unsupported in ("embedder", "mode"):
            if overrides.pop(unsupported, None) is not None:
                raise ConfigError(f"--{unsupported} does not apply to a RAGFlow knowledge base", "RAGFlow embeds and ranks on the server; drop the option")
        scheme = "https" if spec.scheme == "ragflows" else "http"
        return cls(f"{scheme}://{host.rsplit('@', 1)[-1]}", dataset.strip("/"), **{**values, **overrides})

    @classmethod
    def from_spec(cls, spec: str, **overrides: Any) -> RagflowKnowledgeBase:
        """``ragflow://HOST:PORT/DATASET?similarity_threshold=0.1&keyword=1`` (``ragflows://`` for https)."""
        parts = urlsplit(spec)
        if parts.scheme not in ("ragflow", "ragflows") or not parts.hostname:
            raise ConfigError(f"bad RAGFlow address '{spec}'", "write it as ragflow://HOST:PORT/DATASET")
        scheme = "https" if parts.scheme == "ragflows" else "http"
        options: dict[str, Any] = {}
        for key, value in parse_qsl(parts.query):
            if key in ("similarity_threshold", "vector_similarity_weight", "timeout"):
                options[key] = float(value)
            elif key == "top_k":
                options[key] = int(value)
            elif key == "keyword":
                options[key] = value.lower() in ("1", "true", "yes")
            elif key in ("api_key", "rerank_id", "chunk_method"):
                options[key] = value
            elif key == "chunk_token_num":
                options.setdefault("parser_config", {})["chunk_token_num"] = int(value)
            else:
                raise ConfigError(f"unknown RAGFlow option '{key}'", "use similarity_threshold, vector_similarity_weight, top_k, keyword, rerank_id, chunk_method, chunk_token_num, api_key")
        return cls(f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}", parts.path.strip("/"), **{**options, **overrides})

    # ---- plumbing ------------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._sdk is None:
            from ragflow_sdk import RAGFlow

            self._sdk = RAGFlow(api_key=self.api_key, base_url=self.base_url)
        return self._sdk

    def _sdk_call(self, what: str, fn: Callable[[], Any]) -> Any:
        import requests

        try:
            return fn()
        except requests.ConnectionError:
            raise BackendUnavailableError(f"RAGFlow at {self.base_url} is unreachable", "start it (API port 9380) or check the address") from None
        except Exception as exc:  # the SDK raises bare Exception(message) for every non-zero code
            raise KnowledgeBaseError(f"RAGFlow refused to {what}: {exc}", _hint(str(exc))) from None

    def _http(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = httpx.post(f"{self.base_url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=self.timeout, trust_env=False)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"RAGFlow at {self.base_url} is unreachable ({type(exc).__name__})", "start it (API port 9380) or check the address") from None
        try:
            envelope = response.json()
        except ValueError:
            raise KnowledgeBaseError(f"RAGFlow answered HTTP {response.status_code} without JSON", "check that the address is RAGFlow's API") from None
        if response.status_code == 401 or envelope.get("code") not in (0, None):
            message = envelope.get("message") or f"HTTP {response.status_code}"
            raise KnowledgeBaseError(f"RAGFlow error {envelope.get('code')}: {message}", _hint(str(message), envelope.get("code")))
        return envelope.get("data")

    def dataset(self, create: bool = False) -> Any:
        if self._dataset is None:
            try:
                found = self._sdk_call("list datasets", lambda: self._client().list_datasets(name=self.dataset_name))
            except KnowledgeBaseError as exc:
                # RAGFlow answers a name it does not know with a permission error, not an empty list.
                if "lacks permission" not in exc.message and "don't own" not in exc.message:
                    raise
                found = []
            if found:
                self._dataset = found[0]
            elif create:
                config = None
                if self.parser_config:
                    from ragflow_sdk import DataSet

                    config = DataSet.ParserConfig(self._client(), self.parser_config)
                self._dataset = self._sdk_call(
                    f"create dataset '{self.dataset_name}'",
                    lambda: self._client().create_dataset(self.dataset_name, chunk_method=self.chunk_method, parser_config=config),
                )
                self._dataset.created_here = True
            else:
                raise KnowledgeBaseError(f"RAGFlow has no dataset '{self.dataset_name}'", "ingest documents first (agentkit ingest ... --kb ragflow://...), or check the name")
        return self._dataset

    # ---- ingestion -----------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = (), tags: Sequence[str] = (), prune: bool = False,
               text_column: str = "text", progress: Progress | None = None, keep_failed: bool = False, poll: float = 1.0, parse_timeout: float = 600.0) -> IngestReport:
        """Upload and parse files (same signature as KnowledgeBase.ingest; ``tags`` and ``text_column`` do not apply:
        RAGFlow parses the files itself). A file whose name and size match a parsed document is skipped, a changed
        one replaced; ``prune`` deletes documents not in this call. Parsing failure removes what this call uploaded
        (and a dataset it created) unless ``keep_failed``."""
        started = time.perf_counter()
        files = expand_paths(paths, include, exclude)
        dataset = self.dataset(create=True)
        existing = {d.name: d for d in self._documents(dataset)}
        report = IngestReport(documents=len(files))
        todo: list[Path] = []
        for f in files:
            old = existing.get(f.name)
            if old is not None and int(getattr(old, "size", -1)) == f.stat().st_size and run_state(old.run) == "DONE":
                report.unchanged_documents += 1
                continue
            if old is not None:
                self._sdk_call("delete a changed document", lambda old=old: dataset.delete_documents(ids=[old.id]))
                report.chunks_removed += int(getattr(old, "chunk_count", 0) or 0)
            todo.append(f)
        if prune:
            names = {f.name for f in files}
            stale = [d for name, d in existing.items() if name not in names]
            if stale:
                self._sdk_call("delete pruned documents", lambda: dataset.delete_documents(ids=[d.id for d in stale]))
                report.chunks_removed += sum(int(getattr(d, "chunk_count", 0) or 0) for d in stale)
        uploaded: list[Any] = []
        if todo:
            blobs = [{"display_name": f.name, "blob": f.read_bytes()} for f in todo]
            uploaded = self._sdk_call("upload documents", lambda: dataset.upload_documents(blobs))
            ids = [d.id for d in uploaded]
            self._sdk_call("start parsing", lambda: dataset.async_parse_documents(ids))
            states = self._wait(dataset, ids, progress, poll, parse_timeout)
            failed = {doc_id: msg for doc_id, (state, msg, _) in states.items() if state != "DONE"}
            if failed:
                if not keep_failed:
                    self._sdk_call("remove failed uploads", lambda: dataset.delete_documents(ids=ids))
                    if getattr(dataset, "created_here", False) and not existing:
                        self._sdk_call("remove the dataset it created", lambda: self._client().delete_datasets(ids=[dataset.id]))
                        self._dataset = None
                name_of = {d.id: d.name for d in uploaded}
                first = next(iter(failed))
                raise KnowledgeBaseError(
                    f"RAGFlow could not parse {len(failed)} of {len(ids)} document(s), e.g. {name_of.get(first, first)}: {failed[first] or 'no message'}",
                    "nothing was kept (pass keep_failed=True to keep them)" if not keep_failed else "the failed documents were kept",
                )
            report.chunks_added = sum(chunks for _, _, chunks in states.values())
        report.chunks_total = sum(int(getattr(d, "chunk_count", 0) or 0) for d in self._documents(dataset))
        report.seconds = time.perf_counter() - started
        return report

    def _documents(self, dataset: Any) -> list[Any]:
        docs, page = [], 1
        while True:
            batch = self._sdk_call("list documents", lambda page=page: dataset.list_documents(page=page, page_size=100))
            docs.extend(batch)
            if len(batch) < 100:
                return docs
            page += 1

    def _wait(self, dataset: Any, ids: list[str], progress: Progress | None, poll: float, timeout: float) -> dict[str, tuple[str, str, int]]:
        deadline = time.monotonic() + timeout
        states: dict[str, tuple[str, str, int]] = {}
        while True:
            for doc_id in ids:
                if doc_id in states:
                    continue
                docs = self._sdk_call("read parsing state", lambda doc_id=doc_id: dataset.list_documents(id=doc_id))
                if docs and run_state(docs[0].run) in TERMINAL:
                    states[doc_id] = (run_state(docs[0].run), str(getattr(docs[0], "progress_msg", "") or ""), int(getattr(docs[0], "chunk_count", 0) or 0))
            if progress:
                progress(len(states), len(ids))
            if len(states) == len(ids):
                return states
            if time.monotonic() > deadline:
                self._sdk_call("cancel parsing", lambda: dataset.async_cancel_parse_documents([i for i in ids if i not in states]))
                for doc_id in ids:
                    states.setdefault(doc_id, ("CANCEL", f"parsing took longer than {timeout:g}s", 0))
                return states
            time.sleep(poll)

    # ---- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        return int(getattr(self.dataset(), "chunk_count", 0) or 0)

    def sources(self) -> list[str]:
        return sorted(d.name for d in self._documents(self.dataset()))

    def search(self, query: str, k: int = 5, highlight: bool = False) -> dict[str, Any]:
        """The raw ``/retrieval`` answer: ``chunks``, ``doc_aggs``, ``total``."""
        body: dict[str, Any] = {
            "question": query, "dataset_ids": [self.dataset().id], "page": 1, "page_size": k,
            "similarity_threshold": self.similarity_threshold, "vector_similarity_weight": self.vector_similarity_weight,
            "top_k": self.top_k, "keyword": self.keyword, "highlight": highlight,
        }
        if self.document_ids:
            body["document_ids"] = self.document_ids
        if self.rerank_id:
            body["rerank_id"] = self.rerank_id
        return self._http("/retrieval", body) or {"chunks": [], "doc_aggs": [], "total": 0}

    def retrieve(self, query: str, k: int = 5, **_: Any) -> list[RetrievedChunk]:
        if not query.strip():
            return []
        out = []
        for c in self.search(query, k, highlight=True).get("chunks", [])[:k]:
            scores = {key: float(c[key]) for key in ("similarity", "vector_similarity", "term_similarity") if c.get(key) is not None}
            text = c.get("content", "")
            meta = {"document_id": c.get("document_id", ""), "dataset_id": c.get("dataset_id", ""), "positions": c.get("positions", []),
                    "important_keywords": c.get("important_keywords", []), "highlight": c.get("highlight", ""), "span_of": "chunk_text"}
            # RAGFlow does not report character spans in the source file: the span is the chunk text itself.
            out.append(RetrievedChunk(text, c.get("document_keyword") or c.get("docnm_kwd", ""), 0, len(text), scores.get("similarity", 0.0), str(c.get("id", "")), meta, scores))
        return out

    def chunks(self) -> list[RetrievedChunk]:
        """Every chunk of every document (for distillation), ordered by document name."""
        out: list[RetrievedChunk] = []
        for doc in sorted(self._documents(self.dataset()), key=lambda d: d.name):
            page = 1
            while True:
                batch = self._sdk_call("list chunks", lambda doc=doc, page=page: doc.list_chunks(page=page, page_size=100))
                out += [RetrievedChunk(c.content, doc.name, 0, len(c.content), 0.0, c.id, {"document_id": doc.id}) for c in batch]
                if len(batch) < 100:
                    break
                page += 1
        return out

    def __repr__(self) -> str:
        return f"RagflowKnowledgeBase({self.base_url!r}, dataset={self.dataset_name!r})"


def _hint(message: str, code: Any = None) -> str:
    lowered = message.lower()
    if code in (401, 109) or "authentication" in lowered or "api key" in lowered or "unauthorized" in lowered or "token" in lowered:
        return "check RAGFLOW_API_KEY (make a key in RAGFlow's web UI)"
    if "dataset" in lowered and ("own" in lowered or "not found" in lowered or "lacks permission" in lowered):
        return "check the dataset name and that this key may use it"
    return "see RAGFlow's message above"
