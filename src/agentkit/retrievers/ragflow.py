"""RAGFlow datasets as an agentkit knowledge base: ``RagflowKnowledgeBase.from_spec("ragflow://HOST:PORT/DATASET")``.

agentkit speaks RAGFlow's documented HTTP API (``/api/v1``) itself, with httpx, so that every call has a timeout and
no answer is lost (ragflow-sdk 0.22 sets no timeout, drops the stored files of a partly failed upload and the fields
it does not declare). The rules it follows are the server's, read from its source for 0.22.1 and 0.27.0
(tests/RAGFLOW_DOUBLE.md lists them):

- Documents are tracked by server id plus two metadata fields agentkit sets on each upload: ``agentkit_source`` (the
  file's absolute path) and ``agentkit_sha256`` (its content hash). Never by name: the server renames a second
  ``README.md`` to ``README(1).md``. An unchanged file is skipped, a changed one replaced once its new version has
  parsed, and ``prune`` deletes only documents agentkit uploaded. Documents without those fields are left alone.
- File types RAGFlow refuses are refused before anything is uploaded; uploads go in bounded batches.
- Parsing is asynchronous: agentkit polls until each document is DONE, FAIL or CANCEL. On a failure or a timeout
  it removes what this call uploaded (and a dataset it created) unless ``keep_failed``; it asks the server to stop
  only documents the server will stop (RUNNING with 0 < progress < 1 satisfies both releases' rules).
- Retrieval pages past the server's 100-per-page cap; ``count()`` reads the dataset's chunk count from the server.

Errors come back as HTTP 200 with a non-zero ``code`` (and HTTP 401 for a bad key on newer servers); each becomes one
KnowledgeBaseError line. The API key comes from ``api_key=``, the spec's ``?api_key=`` or ``RAGFLOW_API_KEY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx

from agentkit.concurrency import run_sync
from agentkit.errors import BackendUnavailableError, ConfigError, KnowledgeBaseError
from agentkit.loaders import expand_paths
from agentkit.retrievers.base import IngestReport, RetrievedChunk
from agentkit.spec import Spec, parse_options
from agentkit.spec import parse_spec as parse_any_spec

SCHEMES = ("ragflow", "ragflows")
#: File types every RAGFlow release since 0.22 accepts (api/utils/file_utils.py ``filename_type``; 0.27 adds .mdx,
#: .epub, .bmp). Anything else the server answers with "This type of file has not been supported yet!".
SUPPORTED_SUFFIXES = frozenset(
    "." + s for s in (
        "pdf msg eml doc docx ppt pptx yml xml htm html json jsonl ldjson csv txt ini xls xlsx wps rtf hlp pages numbers key md py js java c cpp h "
        "php go ts sh cs kt sql wav flac ape alac wavpack wv mp3 aac ogg vorbis opus jpg jpeg png tif gif pcx tga exif fpx svg psd cdr pcd dxf ufo "
        "eps ai raw wmf webp avif apng icon ico mpg mpeg avi rm rmvb mov wmv asf dat asx wvx mpe mpa mp4 mkv"
    ).split()
)
CHUNK_METHODS = ("naive", "book", "email", "laws", "manual", "one", "paper", "picture", "presentation", "qa", "table", "tag", "resume")
#: parser_config keys and ranges both releases validate (api/utils/validation_utils.py ParserConfig, extra="forbid")
PARSER_KEYS: Mapping[str, tuple[type, float | None, float | None]] = {
    "chunk_token_num": (int, 1, 2048), "auto_keywords": (int, 0, 32), "auto_questions": (int, 0, 10), "topn_tags": (int, 1, 10),
    "delimiter": (str, None, None), "layout_recognize": (str, None, None), "html4excel": (bool, None, None), "tag_kb_ids": (list, None, None),
    "raptor": (dict, None, None), "graphrag": (dict, None, None), "filename_embd_weight": (float, None, None), "task_page_size": (int, 1, None),
    "pages": (list, None, None),
}
OPERATORS = ("is", "not is", "contains", "not contains", "start with", "end with", "empty", "not empty", "=", "≠", ">", "<", "≥", "≤")
RUN_STATES = {"0": "UNSTART", "1": "RUNNING", "2": "CANCEL", "3": "DONE", "4": "FAIL", "5": "SCHEDULE"}
TERMINAL = frozenset({"DONE", "FAIL", "CANCEL"})
MAX_PAGE = 100  # the server's page_size cap (api/utils/pagination_utils.py, 0.27)
META_SOURCE, META_SHA256 = "agentkit_source", "agentkit_sha256"
Progress = Callable[[int, int], None]


def run_state(value: Any) -> str:
    """A document's ``run`` as a name: the API sends names, rows and older answers "0".."5"."""
    text = str(value).upper()
    return RUN_STATES.get(text, text)


class RagflowError(KnowledgeBaseError):
    """RAGFlow answered with a non-zero ``code``; ``data`` is whatever it sent along (a partial upload's documents)."""

    def __init__(self, message: str, hint: str, code: Any = None, data: Any = None) -> None:
        super().__init__(message, hint)
        self.code = code
        self.data = data


@dataclass(frozen=True)
class RemoteDocument:
    """A document as the server lists it. ``source``/``sha256`` are agentkit's metadata (None: not ours)."""

    id: str
    dataset_id: str
    name: str
    size: int = 0
    run: str = "UNSTART"
    progress: float = 0.0
    message: str = ""
    chunk_count: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RemoteDocument:
        return cls(str(d.get("id", "")), str(d.get("dataset_id") or d.get("kb_id") or ""), str(d.get("name", "")), int(d.get("size") or 0),
                   run_state(d.get("run", "0")), float(d.get("progress") or 0.0), str(d.get("progress_msg") or ""), int(d.get("chunk_count") or 0),
                   dict(d.get("meta_fields") or {}))

    @property
    def source(self) -> str | None:
        value = self.meta.get(META_SOURCE)
        return str(value) if value else None

    @property
    def sha256(self) -> str | None:
        value = self.meta.get(META_SHA256)
        return str(value) if value else None

    @property
    def state(self) -> str:
        # ragflow-sdk's rule too: progress 1 is done even before ``run`` says so
        return "DONE" if self.run not in TERMINAL and self.progress >= 1.0 else self.run

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def cancellable(self) -> bool:
        """Stoppable on every release: 0.22 refuses progress 0 (queued) or 1, 0.27 anything not RUNNING."""
        return self.run == "RUNNING" and 0.0 < self.progress < 1.0


@dataclass(frozen=True)
class LocalFile:
    path: Path
    source: str
    sha256: str
    size: int


@dataclass(frozen=True)
class IngestPlan:
    """What an ingest does, decided from the local files and the server's listing (see ``plan_ingest``)."""

    unchanged: tuple[LocalFile, ...]
    upload: tuple[LocalFile, ...]
    replaced: tuple[RemoteDocument, ...]  # deleted once the uploads have parsed
    stale: tuple[RemoteDocument, ...]  # deleted with ``prune``
    foreign: tuple[RemoteDocument, ...]  # not uploaded by agentkit: never touched


def plan_ingest(local: Sequence[LocalFile], remote: Sequence[RemoteDocument], prune: bool) -> IngestPlan:
    """A file is unchanged when a parsed document has its source and hash; otherwise it is uploaded and every
    document with its source is replaced. With ``prune``, documents whose source is not in ``local`` go.
    Invariant: each tracked remote document ends in exactly one of kept (unchanged), replaced, stale or untouched."""
    tracked: dict[str, list[RemoteDocument]] = {}
    for doc in remote:
        if doc.source:
            tracked.setdefault(doc.source, []).append(doc)
    unchanged: list[LocalFile] = []
    upload: list[LocalFile] = []
    replaced: list[RemoteDocument] = []
    for f in local:
        olds = tracked.get(f.source, [])
        keep = next((d for d in olds if d.sha256 == f.sha256 and d.state == "DONE"), None)
        (unchanged if keep else upload).append(f)
        replaced += [d for d in olds if d is not keep]
    sources = {f.source for f in local}
    stale = [d for src, docs in tracked.items() if src not in sources for d in docs] if prune else []
    return IngestPlan(tuple(unchanged), tuple(upload), tuple(replaced), tuple(stale), tuple(d for d in remote if not d.source))


# ---- the ragflow:// spec (self-contained, to port onto the shared Spec grammar) ------------------------------------


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


@dataclass(frozen=True)
class RagflowOptions:
    """``ragflow[s]://HOST:PORT/DATASET[,DATASET...]?option=value&...`` — the options of ``RagflowKnowledgeBase``.

    ``chunk_token_num``, ``delimiter``, ``auto_keywords``, ``auto_questions``, ``layout_recognize`` go into
    ``parser_config``; ``meta.KEY=VALUE`` adds a ``metadata_condition`` "KEY is VALUE"; ``metadata_condition`` and
    ``parser_config`` themselves are JSON objects."""

    api_key: str | None = None
    similarity_threshold: float | None = None
    vector_similarity_weight: float | None = None
    top_k: int | None = None
    keyword: bool | None = None
    use_kg: bool | None = None
    rerank_id: str | None = None
    chunk_method: str | None = None
    cross_languages: tuple[str, ...] = ()
    metadata_condition: str | None = None
    parser_config: str | None = None
    document_ids: tuple[str, ...] = ()
    timeout: float | None = None
    parse_timeout: float | None = None
    upload_batch_files: int | None = None
    upload_batch_bytes: int | None = None
    chunk_token_num: int | None = None
    delimiter: str | None = None
    auto_keywords: int | None = None
    auto_questions: int | None = None
    layout_recognize: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


_PARSER_SHORTHANDS = ("chunk_token_num", "delimiter", "auto_keywords", "auto_questions", "layout_recognize")


def _json_object(name: str, text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"RAGFlow option {name} is not JSON ({exc})", f"write {name} as a JSON object, URL-encoded") from None
    if not isinstance(value, dict):
        raise ConfigError(f"RAGFlow option {name} must be a JSON object", f"e.g. {name}=" + "{...}")
    return value


def resolve_spec(spec: Spec, options: RagflowOptions | None) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """(base URL, dataset names, constructor keywords) from a parsed ``ragflow[s]://`` spec.

    Dataset names are split at "," before unquoting (write a comma in a name as %2C)."""
    host, _, path = spec.target.partition("/")
    if spec.scheme not in SCHEMES or not host:
        raise ConfigError(f"bad RAGFlow address '{spec.raw}'", "write it as ragflow://HOST:PORT/DATASET (ragflows:// for https)")
    datasets = tuple(unquote(n).strip() for n in path.strip("/").split(",") if n.strip())
    opts = options or RagflowOptions()
    values = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}
    kwargs: dict[str, Any] = {k: v for k, v in values.items() if v not in (None, ()) and k not in (*_PARSER_SHORTHANDS, "meta", "metadata_condition", "parser_config")}
    parser_config = {**_json_object("parser_config", opts.parser_config), **{k: values[k] for k in _PARSER_SHORTHANDS if values[k] is not None}}
    if parser_config:
        kwargs["parser_config"] = parser_config
    condition = _json_object("metadata_condition", opts.metadata_condition)
    if opts.meta:
        extra = [{"name": k, "comparison_operator": "is", "value": v} for k, v in opts.meta.items()]
        condition = {**condition, "conditions": [*condition.get("conditions", []), *extra]}
    if condition:
        kwargs["metadata_condition"] = condition
    scheme = "https" if spec.scheme == "ragflows" else "http"
    return f"{scheme}://{host.rsplit('@', 1)[-1]}", datasets, kwargs


def parse_spec(spec: str) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """``ragflow[s]://HOST:PORT/DATASET[,DATASET...]?option=value&...`` → (base URL, dataset names, options)."""
    parsed = parse_any_spec(spec, "RAGFlow knowledge base", "ragflow://127.0.0.1:9380/DATASET")
    return resolve_spec(parsed, parse_options(parsed, RagflowOptions, "RAGFlow knowledge base"))


class RagflowKnowledgeBase:
    """One or more RAGFlow datasets: ingest writes into the first (it must be the only one), retrieval reads all.

    ``count()``, ``sources()``, ``chunks()`` and ``retrieve()`` read the server each time; nothing is stored locally.
    """

    is_server = True

    def __init__(
        self,
        base_url: str,
        dataset: str | Sequence[str],
        api_key: str | None = None,
        chunk_method: str = "naive",
        parser_config: Mapping[str, Any] | None = None,
        similarity_threshold: float = 0.2,
        vector_similarity_weight: float = 0.3,
        top_k: int = 1024,
        rerank_id: str | None = None,
        keyword: bool = False,
        cross_languages: Sequence[str] = (),
        metadata_condition: Mapping[str, Any] | None = None,
        use_kg: bool = False,
        document_ids: Sequence[str] = (),
        timeout: float = 30.0,
        parse_timeout: float = 600.0,
        upload_batch_files: int = 32,
        upload_batch_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.datasets = (dataset,) if isinstance(dataset, str) else tuple(dataset)
        if not self.datasets or not all(self.datasets):
            raise ConfigError("a RAGFlow knowledge base needs a dataset name", "write it as ragflow://HOST:PORT/DATASET")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or os.environ.get("RAGFLOW_API_KEY", "")
        if not self.api_key:
            raise ConfigError("no RAGFlow API key", "set RAGFLOW_API_KEY, or add ?api_key=... to the ragflow:// spec")
        if chunk_method not in CHUNK_METHODS:
            raise ConfigError(f"unknown RAGFlow chunk_method '{chunk_method}'", f"use one of: {', '.join(CHUNK_METHODS)}")
        self.parser_config = _check_parser_config(parser_config)
        for name, value in (("similarity_threshold", similarity_threshold), ("vector_similarity_weight", vector_similarity_weight)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name}={value} is outside 0..1", "RAGFlow scores similarity between 0 and 1")
        if top_k < 1:
            raise ConfigError(f"top_k={top_k} must be > 0", "RAGFlow refuses top_k <= 0")
        for name, value in (("timeout", timeout), ("parse_timeout", parse_timeout), ("upload_batch_files", upload_batch_files), ("upload_batch_bytes", upload_batch_bytes)):
            if value <= 0:
                raise ConfigError(f"{name}={value} must be > 0", "pass a positive number")
        self.chunk_method = chunk_method
        self.similarity_threshold = similarity_threshold
        self.vector_similarity_weight = vector_similarity_weight
        self.top_k = top_k
        self.rerank_id = rerank_id
        self.keyword = keyword
        self.cross_languages = tuple(cross_languages)
        self.metadata_condition = _check_condition(metadata_condition)
        self.use_kg = use_kg
        self.document_ids = tuple(document_ids)
        self.timeout = timeout
        self.parse_timeout = parse_timeout
        self.upload_batch_files = upload_batch_files
        self.upload_batch_bytes = upload_batch_bytes
        self._ids: dict[str, str] = {}  # dataset name -> id, once found
        self._docs: dict[str, RemoteDocument | None] = {}  # document id -> listing, for naming retrieved chunks

    @classmethod
    def from_spec(cls, spec: str, **overrides: Any) -> RagflowKnowledgeBase:
        """See ``parse_spec``; keyword ``overrides`` win over the spec's options."""
        base_url, datasets, options = parse_spec(spec)
        return cls(base_url, datasets, **{**options, **overrides})

    @classmethod
    def from_parsed_spec(cls, spec: Spec, options: RagflowOptions | None = None, **overrides: Any) -> RagflowKnowledgeBase:
        """The ``ragflow``/``ragflows`` knowledge-base plugins. Local-only arguments (embedder, splitter, a mode other
        than hybrid) are refused by ``open_knowledge_base`` before they get here; ``None`` values are dropped."""
        base_url, datasets, values = resolve_spec(spec, options)
        return cls(base_url, datasets, **{**values, **{k: v for k, v in overrides.items() if v is not None}})

    @property
    def spec(self) -> str:
        scheme = "ragflows" if self.base_url.startswith("https://") else "ragflow"
        return f"{scheme}://{self.base_url.split('://', 1)[1]}/{','.join(quote(d, safe='') for d in self.datasets)}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "knowledge_base", "spec": self.spec}

    def __repr__(self) -> str:
        return f"RagflowKnowledgeBase({self.base_url!r}, datasets={list(self.datasets)!r})"

    # ---- HTTP ----------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[_Api]:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(base_url=f"{self.base_url}/api/v1", headers=headers, timeout=self.timeout, trust_env=False) as client:
            yield _Api(client, self.base_url, self.timeout)

    async def _dataset_id(self, api: _Api, name: str, create: bool = False) -> tuple[str, bool]:
        """The dataset's id, and whether this call created it."""
        if name in self._ids:
            return self._ids[name], False
        found = await _find_dataset(api, name)
        created = False
        if found is None:
            if not create:
                raise KnowledgeBaseError(f"RAGFlow has no dataset '{name}'", "ingest documents first (agentkit ingest PATH --kb ragflow://...), or check the name")
            body: dict[str, Any] = {"name": name, "chunk_method": self.chunk_method}
            if self.parser_config:
                body["parser_config"] = dict(self.parser_config)
            made = (await api.call("POST", "/datasets", f"create dataset '{name}'", json=body))["data"]
            found, created = made, True
            if str(made.get("name", "")).casefold() != name.casefold():
                # The server renamed ours ("docs(1)"): someone created the dataset since we looked. Use theirs.
                await api.call("DELETE", "/datasets", "remove a duplicate dataset", json={"ids": [made["id"]]})
                found, created = await _find_dataset(api, name), False
                if found is None:
                    raise KnowledgeBaseError(f"RAGFlow renamed dataset '{name}' to '{made.get('name')}' and then lost it", "try again")
        self._ids[name] = str(found["id"])
        return self._ids[name], created

    async def _all_dataset_ids(self, api: _Api) -> list[str]:
        return [(await self._dataset_id(api, name))[0] for name in self.datasets]

    async def _documents(self, api: _Api, ds_id: str) -> list[RemoteDocument]:
        """Every document of the dataset, oldest first (new uploads land at the end, so paging stays stable)."""
        out: list[RemoteDocument] = []
        page = 1
        while True:
            params = {"page": page, "page_size": MAX_PAGE, "orderby": "create_time", "desc": "false"}
            data = (await api.call("GET", f"/datasets/{ds_id}/documents", "list documents", params=params))["data"]
            batch = [RemoteDocument.from_json(d) for d in data.get("docs") or []]
            out += batch
            if len(batch) < MAX_PAGE or len(out) >= int(data.get("total") or 0):
                return out
            page += 1

    async def _document(self, api: _Api, ds_id: str, doc_id: str) -> RemoteDocument | None:
        """One document, or None when the server no longer has it (an unknown id is an error there)."""
        try:
            data = (await api.call("GET", f"/datasets/{ds_id}/documents", "read a document", params={"id": doc_id}))["data"]
        except RagflowError as exc:
            if "own the document" in exc.message:
                return None
            raise
        docs = data.get("docs") or []
        return RemoteDocument.from_json(docs[0]) if docs else None

    async def _delete_documents(self, api: _Api, ds_id: str, ids: Sequence[str]) -> None:
        """Delete ``ids`` (never an empty list: 0.22 reads that as "every document")."""
        for start in range(0, len(ids), MAX_PAGE):
            batch = list(ids[start: start + MAX_PAGE])
            try:
                await api.call("DELETE", f"/datasets/{ds_id}/documents", "delete documents", json={"ids": batch})
            except RagflowError as exc:
                # Unknown ids: 0.22 deletes the rest and complains, 0.27 refuses all. Retry with what is still there.
                if "not found" not in exc.message.lower():
                    raise
                present = {d.id for d in await self._documents(api, ds_id)}
                rest = [i for i in batch if i in present]
                if rest:
                    await api.call("DELETE", f"/datasets/{ds_id}/documents", "delete documents", json={"ids": rest})

    # ---- ingestion -----------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = (), tags: Sequence[str] = (), prune: bool = False,
               text_column: str = "text", progress: Progress | None = None, keep_failed: bool = False, poll: float = 1.0,
               parse_timeout: float | None = None) -> IngestReport:
        """Upload and parse files into the (single) dataset; KnowledgeBase.ingest's signature. RAGFlow parses files
        itself, so ``tags`` and ``text_column`` cannot apply and are refused when given."""
        if tags:
            raise ConfigError("--tag does not apply to a RAGFlow knowledge base", "RAGFlow keeps its own document metadata; filter with ?meta.KEY=VALUE")
        if text_column != "text":
            raise ConfigError("--text-column does not apply to a RAGFlow knowledge base", "RAGFlow parses JSONL and CSV files itself")
        if len(self.datasets) != 1:
            raise ConfigError(f"cannot ingest into {len(self.datasets)} datasets at once", "name one dataset in the ragflow:// spec to ingest into")
        started = time.perf_counter()
        report = IngestReport()
        local = _local_files(expand_paths(paths, include, exclude), report)
        report.documents = len(local)
        report = run_sync(self._ingest(local, report, prune, progress, keep_failed, poll, parse_timeout or self.parse_timeout))
        report.seconds = time.perf_counter() - started
        return report

    async def _ingest(self, local: list[LocalFile], report: IngestReport, prune: bool, progress: Progress | None, keep_failed: bool,
                      poll: float, parse_timeout: float) -> IngestReport:
        async with self._session() as api:
            ds_id, created = await self._dataset_id(api, self.datasets[0], create=True)
            remote = await self._documents(api, ds_id)
            plan = plan_ingest(local, remote, prune)
            report.unchanged_documents = len(plan.unchanged)
            if prune and plan.foreign:
                report.skipped += [(d.name, "not uploaded by agentkit: --prune leaves it") for d in plan.foreign]
            made: list[RemoteDocument] = []  # grows as uploads land, so a failure anywhere knows what to remove
            pending: list[RemoteDocument] = []
            try:
                await self._upload(api, ds_id, plan.upload, {d.id for d in remote}, made)
                done, pending = await self._wait(api, ds_id, made, len(remote) + len(made), progress, poll, parse_timeout)
            except BaseException:
                await self._discard(api, ds_id, made, pending or made, created and not remote, keep_failed)
                raise
            failed = [d for d in done.values() if d.state != "DONE"]
            if failed or pending:
                leftovers = await self._discard(api, ds_id, made, pending, created and not remote, keep_failed)
                raise _parse_error(failed, pending, len(made), parse_timeout, keep_failed, leftovers)
            gone = [*plan.replaced, *plan.stale]
            await self._delete_documents(api, ds_id, [d.id for d in gone])
            report.chunks_added = sum(done[d.id].chunk_count for d in made)
            report.chunks_removed = sum(d.chunk_count for d in gone)
            report.chunks_total = sum(d.chunk_count for d in await self._documents(api, ds_id))
        return report

    async def _upload(self, api: _Api, ds_id: str, files: Sequence[LocalFile], before: set[str], made: list[RemoteDocument]) -> None:
        """Upload in batches of at most ``upload_batch_files`` files / ``upload_batch_bytes`` bytes, then tag each
        document with its source and hash. Appends to ``made`` as documents appear on the server."""
        for batch in _batches(files, self.upload_batch_files, self.upload_batch_bytes):
            blobs = [f.path.read_bytes() for f in batch]
            parts = [("file", (f.path.name, blob)) for f, blob in zip(batch, blobs, strict=True)]
            try:
                data = (await api.call("POST", f"/datasets/{ds_id}/documents", f"upload {len(batch)} file(s)", files=parts))["data"]
            except RagflowError as exc:
                # Partly failed: 0.27 lists the stored documents, 0.22 does not; find them so they can be removed.
                stored = exc.data if isinstance(exc.data, list) else []
                if stored:
                    made += [RemoteDocument.from_json(d) for d in stored]
                else:
                    names = [f.path.name for f in batch]
                    known = before | {d.id for d in made}
                    made += [d for d in await self._documents(api, ds_id) if d.id not in known and any(_renamed_from(d.name, n) for n in names)]
                raise
            docs = [RemoteDocument.from_json(d) for d in data]
            made += docs
            if len(docs) != len(batch):
                raise KnowledgeBaseError(f"RAGFlow stored {len(docs)} of {len(batch)} uploaded files", "see the server's log")
            # The server keeps upload order (api/db/services/file_service.py upload_document loops over the files).
            for f, blob, doc in zip(batch, blobs, docs, strict=True):
                meta = {META_SOURCE: f.source, META_SHA256: hashlib.sha256(blob).hexdigest()}
                await api.update_document(ds_id, doc.id, {"meta_fields": meta})

    async def _wait(self, api: _Api, ds_id: str, docs: Sequence[RemoteDocument], listed: int, progress: Progress | None, poll: float,
                    timeout: float) -> tuple[dict[str, RemoteDocument], list[RemoteDocument]]:
        """Start parsing ``docs`` and poll until each is finished or ``timeout`` passes: (finished by id, still pending)."""
        ids = [d.id for d in docs]
        for start in range(0, len(ids), MAX_PAGE):
            await api.call("POST", f"/datasets/{ds_id}/chunks", "start parsing", json={"document_ids": ids[start: start + MAX_PAGE]})
        latest = {d.id: d for d in docs}
        done: dict[str, RemoteDocument] = {}
        deadline = time.monotonic() + timeout
        while True:
            waiting = [i for i in ids if i not in done]
            if waiting:
                # Per document when that costs fewer requests than listing the whole dataset.
                if len(waiting) <= max(1, math.ceil(listed / MAX_PAGE)):
                    seen = {i: await self._document(api, ds_id, i) for i in waiting}
                else:
                    listing = {d.id: d for d in await self._documents(api, ds_id)}
                    seen = {i: listing.get(i) for i in waiting}
                for doc_id, doc in seen.items():
                    if doc is None:  # deleted on the server meanwhile
                        done[doc_id] = RemoteDocument(doc_id, ds_id, latest[doc_id].name, run="FAIL", message="deleted on the server while parsing")
                    else:
                        latest[doc_id] = doc
                        if doc.finished:
                            done[doc_id] = doc
            if progress:
                progress(len(done), len(ids))
            if len(done) == len(ids):
                return done, []
            if time.monotonic() > deadline:
                return done, [latest[i] for i in ids if i not in done]
            await asyncio.sleep(poll)

    async def _discard(self, api: _Api, ds_id: str, made: Sequence[RemoteDocument], pending: Sequence[RemoteDocument], drop_dataset: bool,
                       keep: bool) -> list[str]:
        """After a failure: stop what the server will stop, remove this call's uploads (and a dataset this call
        created, once empty) unless ``keep``. Best effort; returns what could not be done."""
        problems = []
        for doc in pending:
            if doc.cancellable:
                try:
                    await api.call("DELETE", f"/datasets/{ds_id}/chunks", "stop parsing", json={"document_ids": [doc.id]})
                except RagflowError:
                    pass  # it finished or failed since the last poll: nothing left to stop
                except KnowledgeBaseError as exc:
                    problems.append(exc.message)
        if keep or not made:
            return problems
        try:
            await self._delete_documents(api, ds_id, [d.id for d in made])
            if drop_dataset and not await self._documents(api, ds_id):
                await api.call("DELETE", "/datasets", "remove the dataset it created", json={"ids": [ds_id]})
                self._ids = {k: v for k, v in self._ids.items() if v != ds_id}
        except KnowledgeBaseError as exc:
            problems.append(exc.message)
        return problems

    # ---- reading -------------------------------------------------------------------------------------

    def count(self) -> int:
        """Chunks in the datasets, as the server counts them."""
        return run_sync(self._count())

    async def _count(self) -> int:
        async with self._session() as api:
            total = 0
            for ds_id in await self._all_dataset_ids(api):
                found = (await api.call("GET", "/datasets", "read the dataset", params={"id": ds_id, "page": 1, "page_size": 1}))["data"]
                total += int(found[0].get("chunk_count") or 0) if found else 0
            return total

    def sources(self) -> list[str]:
        """Each document's source: the file path agentkit uploaded it from, else the server's name for it."""
        return sorted(d.source or d.name for d in run_sync(self._all_documents()))

    async def _all_documents(self) -> list[RemoteDocument]:
        async with self._session() as api:
            return [d for ds_id in await self._all_dataset_ids(api) for d in await self._documents(api, ds_id)]

    def chunks(self) -> list[RetrievedChunk]:
        """Every chunk of every parsed document (for distillation), ordered by source."""
        return run_sync(self._chunks())

    async def _chunks(self) -> list[RetrievedChunk]:
        out: list[RetrievedChunk] = []
        async with self._session() as api:
            for ds_id in await self._all_dataset_ids(api):
                for doc in sorted(await self._documents(api, ds_id), key=lambda d: (d.source or d.name, d.id)):
                    page = 1
                    while True:
                        params = {"page": page, "page_size": MAX_PAGE}
                        data = (await api.call("GET", f"/datasets/{ds_id}/documents/{doc.id}/chunks", "list chunks", params=params))["data"]
                        batch = data.get("chunks") or []
                        for c in batch:
                            text = str(c.get("content", ""))
                            meta = {"document_id": doc.id, "document_name": doc.name, "dataset_id": ds_id, "positions": c.get("positions") or [], "span_of": "chunk_text"}
                            out.append(RetrievedChunk(text, doc.source or doc.name, 0, len(text), 0.0, str(c.get("id", "")), meta))
                        if len(batch) < MAX_PAGE:
                            break
                        page += 1
        return out

    def search(self, query: str, k: int = 5, page: int = 1, highlight: bool = False, document_ids: Sequence[str] = ()) -> dict[str, Any]:
        """One raw ``/retrieval`` page (``chunks``, ``doc_aggs``, ``total``) of at most 100 chunks."""

        async def one() -> dict[str, Any]:
            async with self._session() as api:
                body = self._retrieval_body(query, await self._all_dataset_ids(api), min(k, MAX_PAGE), highlight, document_ids)
                return (await api.call("POST", "/retrieval", "retrieve", json={**body, "page": page})).get("data") or {}

        return run_sync(one())

    def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None, min_score: float | None = None, mmr: bool = False) -> list[RetrievedChunk]:
        """Best-first chunks from all datasets; more than 100 come page by page. ``where={"source": [...]}`` keeps
        chunks of those files (agentkit's source paths or server names). Options RAGFlow cannot honour are errors."""
        if mmr:
            raise ConfigError("--mmr does not apply to a RAGFlow knowledge base", "RAGFlow ranks on the server; use ?rerank_id=MODEL to re-rank there")
        if min_score is not None:
            raise ConfigError("--min-score does not apply to a RAGFlow knowledge base", "set ?similarity_threshold= in the ragflow:// spec")
        unknown = set(where or {}) - {"source"}
        if unknown:
            raise ConfigError(f"cannot filter a RAGFlow knowledge base by {', '.join(sorted(unknown))}", "filter by --source, or by metadata with ?meta.KEY=VALUE")
        if k < 1 or not query.strip():
            return []
        return run_sync(self._retrieve(query, k, where))

    def _retrieval_body(self, query: str, ds_ids: Sequence[str], size: int, highlight: bool, document_ids: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "question": query, "dataset_ids": list(ds_ids), "page_size": size, "similarity_threshold": self.similarity_threshold,
            "vector_similarity_weight": self.vector_similarity_weight, "top_k": self.top_k, "keyword": self.keyword, "highlight": highlight,
            "use_kg": self.use_kg,
        }
        ids = list(document_ids) or list(self.document_ids)
        if ids:
            body["document_ids"] = ids
        elif self.metadata_condition:
            body["metadata_condition"] = dict(self.metadata_condition)  # the server applies it only without document ids
        if self.rerank_id:
            body["rerank_id"] = self.rerank_id
        if self.cross_languages:
            body["cross_languages"] = list(self.cross_languages)
        return body

    async def _retrieve(self, query: str, k: int, where: Mapping[str, Any] | None) -> list[RetrievedChunk]:
        async with self._session() as api:
            ds_ids = await self._all_dataset_ids(api)
            doc_ids: list[str] = []
            if where and where.get("source"):
                wanted = {where["source"]} if isinstance(where["source"], str) else set(where["source"])
                doc_ids = [d.id for ds_id in ds_ids for d in await self._documents(api, ds_id) if (d.source or d.name) in wanted or d.name in wanted]
                if not doc_ids:
                    return []
            size = min(k, MAX_PAGE)
            body = self._retrieval_body(query, ds_ids, size, True, doc_ids)
            found: dict[str, dict[str, Any]] = {}
            for page in range(1, math.ceil(k / size) + 1):
                data = (await api.call("POST", "/retrieval", "retrieve", json={**body, "page": page})).get("data") or {}
                chunks = data.get("chunks") or []
                for c in chunks:
                    found.setdefault(str(c.get("id", "")), c)
                if len(chunks) < size or len(found) >= k:
                    break
            hits = list(found.values())[:k]
            for c in hits:
                doc_id = str(c.get("document_id", ""))
                if doc_id and doc_id not in self._docs:
                    self._docs[doc_id] = await self._document(api, str(c.get("dataset_id", "")), doc_id)
        return [self._chunk(c) for c in hits]

    def _chunk(self, c: Mapping[str, Any]) -> RetrievedChunk:
        doc = self._docs.get(str(c.get("document_id", "")))
        name = str(c.get("document_keyword") or c.get("docnm_kwd") or "")
        text = str(c.get("content", ""))
        positions = [list(p) for p in c.get("positions") or [] if isinstance(p, list | tuple) and len(p) == 5]
        scores = {key: float(c[key]) for key in ("similarity", "vector_similarity", "term_similarity") if c.get(key) is not None}
        meta = {"document_id": str(c.get("document_id", "")), "document_name": name, "dataset_id": str(c.get("dataset_id", "")),
                # positions are [[page, x0, x1, top, bottom], ...] (PDF layouts); highlight keeps the server's <em> markup
                "positions": positions, "pages": sorted({int(p[0]) for p in positions}), "important_keywords": list(c.get("important_keywords") or []),
                "highlight": str(c.get("highlight") or ""), "span_of": "chunk_text"}
        # RAGFlow reports no character spans in the source file: the span is the chunk text itself.
        return RetrievedChunk(text, (doc.source if doc else None) or name, 0, len(text), scores.get("similarity", 0.0), str(c.get("id", "")), meta, scores)


class _Api:
    """One session's calls: every call has the timeout, every answer goes through the envelope check."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, timeout: float) -> None:
        self.client = client
        self.base_url = base_url
        self.timeout = timeout
        self.update_method = "PUT"  # 0.22 has PUT; 0.27 keeps it as a deprecated alias of PATCH

    async def call(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise BackendUnavailableError(f"RAGFlow at {self.base_url} did not answer within {self.timeout:g}s ({what})",
                                          "check the server, or allow more time with ?timeout=SECONDS") from None
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"RAGFlow at {self.base_url} is unreachable ({type(exc).__name__})", "start it (API port 9380) or check the address") from None
        try:
            envelope = response.json()
        except ValueError:
            raise RagflowError(f"RAGFlow answered HTTP {response.status_code} without JSON ({what})", "check that the address is RAGFlow's API", response.status_code) from None
        if not isinstance(envelope, dict):
            raise RagflowError(f"RAGFlow answered {what} with {type(envelope).__name__}", "check that the address is RAGFlow's API")
        code = envelope.get("code")
        # Old servers answer a bad key with HTTP 200 and code 109, new ones with HTTP 401.
        if response.status_code == 401 or code in (109, 401):
            raise RagflowError(f"RAGFlow refused the API key ({envelope.get('message') or 'HTTP 401'})", "check RAGFLOW_API_KEY (make a key in RAGFlow's web UI)", code)
        if code != 0 or response.status_code >= 400:
            message = str(envelope.get("message") or f"HTTP {response.status_code}")
            raise RagflowError(f"RAGFlow refused to {what}: {message}", _hint(message), code, envelope.get("data"))
        return envelope

    async def update_document(self, ds_id: str, doc_id: str, body: dict[str, Any]) -> None:
        try:
            await self.call(self.update_method, f"/datasets/{ds_id}/documents/{doc_id}", "tag a document", json=body)
        except RagflowError as exc:
            if exc.code not in (404, 405) or self.update_method == "PATCH":
                raise
            self.update_method = "PATCH"  # a server without the PUT alias
            await self.call(self.update_method, f"/datasets/{ds_id}/documents/{doc_id}", "tag a document", json=body)


async def _find_dataset(api: _Api, name: str) -> dict[str, Any] | None:
    try:
        found = (await api.call("GET", "/datasets", f"find dataset '{name}'", params={"name": name, "page": 1, "page_size": 1}))["data"]
    except RagflowError as exc:
        # An unknown name is a permission error there (code 108 on 0.22, 102 on 0.27), not an empty list.
        if "lacks permission" in exc.message:
            return None
        raise
    return found[0] if found else None


def _local_files(files: Sequence[Path], report: IngestReport) -> list[LocalFile]:
    refused = [f for f in files if f.suffix.lower() not in SUPPORTED_SUFFIXES]
    if refused:
        shown = ", ".join(str(f) for f in refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        kinds = sorted({f.suffix.lower() or "(no suffix)" for f in refused})
        raise KnowledgeBaseError(f"RAGFlow does not accept {', '.join(kinds)} files: {shown}",
                                 f"leave them out (--exclude '*{kinds[0]}') or convert them; it accepts {' '.join(sorted(SUPPORTED_SUFFIXES))}")
    out: dict[str, LocalFile] = {}
    for f in files:
        blob = f.read_bytes()
        source = str(f.resolve())
        if not blob.strip():
            report.skipped.append((source, "empty document"))
        elif source not in out:
            out[source] = LocalFile(f, source, hashlib.sha256(blob).hexdigest(), len(blob))
    return list(out.values())


def _batches(files: Sequence[LocalFile], max_files: int, max_bytes: int) -> Iterator[list[LocalFile]]:
    batch: list[LocalFile] = []
    size = 0
    for f in files:
        if batch and (len(batch) >= max_files or size + f.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += f.size
    if batch:
        yield batch


def _renamed_from(stored: str, sent: str) -> bool:
    """Whether the server may have stored ``sent`` as ``stored`` (its duplicate_name adds "(N)" before the suffix)."""
    a, b = Path(stored), Path(sent)
    return a.suffix.lower() == b.suffix.lower() and re.fullmatch(re.escape(b.stem) + r"(\(\d+\))?", a.stem, re.IGNORECASE) is not None


def _parse_error(failed: Sequence[RemoteDocument], pending: Sequence[RemoteDocument], total: int, timeout: float, keep: bool, leftovers: Sequence[str]) -> KnowledgeBaseError:
    if failed:
        first = failed[0]
        message = f"RAGFlow could not parse {len(failed)} of {total} document(s), e.g. {first.name}: {first.message.strip().splitlines()[-1] if first.message.strip() else first.state}"
    else:
        message = f"RAGFlow did not finish parsing {len(pending)} of {total} document(s) within {timeout:g}s, e.g. {pending[0].name}"
    if keep:
        queued = [d for d in pending if not d.cancellable]
        hint = "the documents were kept" + (f"; {len(queued)} still queued will be parsed by the server later" if queued else "")
    else:
        hint = "nothing was kept (pass keep_failed=True to keep them)"
        if pending:
            hint += f", or allow more time with parse_timeout (now {timeout:g}s)"
    if leftovers:
        hint += f"; clean-up was incomplete: {'; '.join(leftovers)}"
    return KnowledgeBaseError(message, hint)


def _check_parser_config(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    for key, value in config.items():
        if key not in PARSER_KEYS:
            raise ConfigError(f"unknown RAGFlow parser_config key '{key}'", f"use: {', '.join(PARSER_KEYS)}")
        kind, low, high = PARSER_KEYS[key]
        number: Any = float(value) if kind is float and isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(number, kind) or (kind is int and isinstance(number, bool)):
            raise ConfigError(f"parser_config {key}={value!r} must be {kind.__name__}", "see RAGFlow's dataset parser_config")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"parser_config {key}={value} is outside {low}..{high if high is not None else ''}", "RAGFlow refuses it")
    return dict(config)


def _check_condition(condition: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not condition:
        return None
    conditions = condition.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        raise ConfigError("metadata_condition needs a non-empty 'conditions' list", 'e.g. {"conditions": [{"name": "author", "comparison_operator": "is", "value": "Ann"}]}')
    for c in conditions:
        if not isinstance(c, Mapping) or not {"name", "comparison_operator"} <= set(c) or c["comparison_operator"] not in OPERATORS:
            raise ConfigError(f"bad metadata condition {c!r}", f"each needs name, comparison_operator ({', '.join(OPERATORS)}) and value")
    if condition.get("logic", "and") not in ("and", "or"):
        raise ConfigError(f"metadata_condition logic '{condition.get('logic')}' must be 'and' or 'or'", "omit it for 'and'")
    return dict(condition)


def _hint(message: str) -> str:
    lowered = message.lower()
    if "dataset" in lowered and ("own" in lowered or "not found" in lowered or "lacks permission" in lowered):
        return "check the dataset name and that this key may use it"
    if "page_size" in lowered:
        return "this server caps page sizes; report it if agentkit asked for more than 100"
    if "embedding model" in lowered:
        return "query only datasets that share one embedding model"
    return "see RAGFlow's message above"
