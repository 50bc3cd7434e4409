"""A protocol double of RAGFlow's HTTP API, rebuilt rule by rule from the server's source.

``RagflowDouble(version)`` serves ``/api/v1`` on 127.0.0.1 as RAGFlow ``0.22.1`` (the release the pinned
ragflow-sdk 0.22.x targets) or ``0.27.0`` (the newest release) does, for the routes agentkit and ragflow-sdk use:
datasets (create, list, delete), documents (upload, list, update, delete), parsing (start, stop), chunk listing
and ``/retrieval``. Every rule carries a comment naming the server file (and release) it comes from;
tests/RAGFLOW_DOUBLE.md lists them. Facts were read from infiniflow/ragflow at tags v0.22.1 and v0.27.0.

What it does not copy: chunking is by paragraph (``\\f`` splits pages of a ``.pdf`` stand-in), scores are word
overlap, there is one tenant. Parsing is asynchronous like the server's task executor: ``POST .../chunks``
queues documents; the executor takes ``workers`` documents at a time and moves each one step per API request
(so the world moves between two requests, as it does on a real server). File names steer the executor:
"fail" ends in FAIL, "slow" starts and never finishes.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "ragflow-test-key"
OLD, NEW = "0.22.1", "0.27.0"
VERSIONS = (OLD, NEW)
TENANT = uuid.uuid1().hex
EMBEDDING = "BAAI/bge-large-zh-v1.5@BAAI"

# common/constants.py (both): RetCode
SUCCESS, EXCEPTION, ARGUMENT, DATA, OPERATING, PERMISSION, AUTHENTICATION, UNAUTHORIZED, SERVER_ERROR = 0, 100, 101, 102, 103, 108, 109, 401, 500
# common/constants.py (both): TaskStatus; "5" SCHEDULE exists in both enums
UNSTART, RUNNING, CANCEL, DONE, FAIL, SCHEDULE = "0", "1", "2", "3", "4", "5"
RUN_TEXT = {UNSTART: "UNSTART", RUNNING: "RUNNING", CANCEL: "CANCEL", DONE: "DONE", FAIL: "FAIL"}

# api/utils/file_utils.py filename_type: FileType.OTHER is refused by FileService.upload_document
_DOC_SUFFIXES = "msg|eml|doc|docx|ppt|pptx|yml|xml|htm|json|jsonl|ldjson|csv|txt|ini|xls|xlsx|wps|rtf|hlp|pages|numbers|key|md|py|js|java|c|cpp|h|php|go|ts|sh|cs|kt|html|sql"
_TYPE_RULES = {
    OLD: [("pdf", r"pdf"), ("doc", _DOC_SUFFIXES), ("aural", "wav|flac|ape|alac|wavpack|wv|mp3|aac|ogg|vorbis|opus"),
          ("visual", "jpg|jpeg|png|tif|gif|pcx|tga|exif|fpx|svg|psd|cdr|pcd|dxf|ufo|eps|ai|raw|WMF|webp|avif|apng|icon|ico|mpg|mpeg|avi|rm|rmvb|mov|wmv|asf|dat|asx|wvx|mpe|mpa|mp4|avi|mkv")],
    # v0.27.0 adds mdx, epub (documents) and bmp (images)
    NEW: [("pdf", r"pdf"), ("doc", _DOC_SUFFIXES + "|mdx|epub"), ("aural", "wav|flac|ape|alac|wavpack|wv|mp3|aac|ogg|vorbis|opus"),
          ("visual", "jpg|jpeg|png|tif|gif|bmp|pcx|tga|exif|fpx|svg|psd|cdr|pcd|dxf|ufo|eps|ai|raw|WMF|webp|avif|apng|icon|ico|mpg|mpeg|avi|rm|rmvb|mov|wmv|asf|dat|asx|wvx|mpe|mpa|mp4|avi|mkv")],
}
# api/utils/validation_utils.py CreateDatasetReq.chunk_method (v0.27.0 adds "resume")
_CHUNK_METHODS = {OLD: {"naive", "book", "email", "laws", "manual", "one", "paper", "picture", "presentation", "qa", "table", "tag"}}
_CHUNK_METHODS[NEW] = _CHUNK_METHODS[OLD] | {"resume"}
# api/utils/validation_utils.py ParserConfig (extra="forbid"): the keys and ranges agentkit can send
_PARSER_KEYS = {OLD: {"auto_keywords", "auto_questions", "chunk_token_num", "delimiter", "graphrag", "html4excel", "layout_recognize", "raptor",
                      "tag_kb_ids", "topn_tags", "filename_embd_weight", "task_page_size", "pages"}}
_PARSER_KEYS[NEW] = _PARSER_KEYS[OLD] | {"parent_child", "enable_children", "children_delimiter", "compilation_template_group_id", "ext",
                                         "table_column_mode", "table_column_roles", "table_column_names"}
_PARSER_RANGES = {"chunk_token_num": (1, 2048), "auto_keywords": (0, 32), "auto_questions": (0, 10), "topn_tags": (1, 10)}
FILE_NAME_LEN_LIMIT = 255  # api/constants.py (both)
REST_API_MAX_PAGE_SIZE = 100  # api/utils/pagination_utils.py (v0.27.0 only)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _words(text: str) -> set[str]:
    """Words, plus each Han character on its own (Chinese has no spaces; RAGFlow's tokenizer splits it finer)."""
    return set(re.findall(r"\w+", text.lower())) | set(re.findall(r"[\u3400-\u9fff\uf900-\ufaff]", text))


def _is_uuid1_hex(value: Any) -> bool:
    try:
        return isinstance(value, str) and uuid.UUID(hex=value).version == 1 and len(value) == 32
    except ValueError:
        return False


class Reply(Exception):
    """Raised by a rule to answer at once: ``Reply({"code": 102, "message": ...})``."""

    def __init__(self, payload: dict[str, Any], status: int = 200) -> None:
        super().__init__(payload.get("message", ""))
        self.payload, self.status = payload, status


def error(code: int, message: str, **extra: Any) -> Reply:
    return Reply({"code": code, "message": message, **extra})


@dataclass
class State:
    version: str
    workers: int = 4
    max_content_length: int = 1024 * 1024 * 1024  # api/apps/__init__.py (both): MAX_CONTENT_LENGTH default 1 GiB
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)  # parse tasks, oldest first
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: test hooks that play a race: called with (state, doc) just before the rule reads the document
    before_stop: Callable[[State, dict[str, Any]], None] | None = None
    before_create: Callable[[State, str], None] | None = None

    def calls(self, method: str, suffix: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"].endswith(suffix)]


class Rules:
    """The server's behaviour for one release, one method per route. Each returns the JSON payload or raises Reply."""

    def __init__(self, state: State) -> None:
        self.s = state
        self.v = state.version

    # ---- envelopes ---------------------------------------------------------------------------------

    def result(self, data: Any = None, total: int | None = None) -> dict[str, Any]:
        # api/utils/api_utils.py get_result (both): no "data" key when data is None; list totals under "total_datasets"
        out: dict[str, Any] = {"code": SUCCESS}
        if data is not None:
            out["data"] = data
        if total is not None:
            out["total_datasets"] = total
        return out

    def authenticate(self, header: str | None) -> None:
        if self.v == OLD:
            # api/utils/api_utils.py token_required (v0.22.1): HTTP 200; a missing header even answers code 0
            if not header:
                raise Reply({"code": SUCCESS, "message": "`Authorization` can't be empty", "data": False})
            parts = header.split()
            if len(parts) < 2:
                raise Reply({"code": SUCCESS, "message": "Please check your authorization format.", "data": False})
            if parts[1] != API_KEY:
                raise Reply({"code": AUTHENTICATION, "message": "Authentication error: API key is invalid!", "data": False})
            return
        # api/apps/__init__.py login_required + errorhandler(QuartAuthUnauthorized) (v0.27.0): HTTP 401
        token = (header or "").split(maxsplit=1)[-1] if (header or "")[:7].lower() == "bearer " else header
        if token != API_KEY:
            raise Reply({"code": UNAUTHORIZED, "message": "<Unauthorized '401: Unauthorized'>", "data": None}, 401)

    def validation_error(self, where: str, message: str, value: Any) -> Reply:
        # api/utils/validation_utils.py format_validation_error_message (both), returned as code 101
        return error(ARGUMENT, f"Field: <{where}> - Message: <{message}> - Value: <{value}>")

    def page_size(self, raw: Any, default: int = 30) -> int:
        size = int(raw if raw not in (None, "") else default)
        if self.v == NEW and size > REST_API_MAX_PAGE_SIZE:
            # api/utils/pagination_utils.py validate_rest_api_page_size (v0.27.0) raises ValueError outside the
            # handlers' try; api/apps/__init__.py errorhandler(Exception) -> server_error_response: code 100, HTTP 200
            raise error(EXCEPTION, f"ValueError('page_size must be less than or equal to {REST_API_MAX_PAGE_SIZE}')", data=None)
        return size

    # ---- datasets ----------------------------------------------------------------------------------

    def dataset_json(self, kb: dict[str, Any]) -> dict[str, Any]:
        # api/utils/api_utils.py remap_dictionary_keys (both)
        names = {"chunk_num": "chunk_count", "doc_num": "document_count", "parser_id": "chunk_method", "embd_id": "embedding_model"}
        return {names.get(k, k): v for k, v in kb.items()}

    def find_dataset(self, name: str) -> dict[str, Any] | None:
        # docker/docker-compose-base.yml (both): MySQL collation utf8mb4_unicode_ci, so name lookups ignore case
        return next((d for d in self.s.datasets.values() if d["name"].casefold() == name.casefold()), None)

    def create_dataset(self, body: dict[str, Any]) -> dict[str, Any]:
        # api/utils/validation_utils.py CreateDatasetReq (both): extra="forbid", strict
        allowed = {"name", "avatar", "description", "embedding_model", "permission", "chunk_method", "parser_config"}
        if self.v == NEW:
            allowed |= {"parse_type", "pipeline_id", "auto_metadata_config"}
        for key in body:
            if key not in allowed:
                raise self.validation_error(key, "Extra inputs are not permitted", body[key])
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.validation_error("name", "String should have at least 1 character", name)
        method = body.get("chunk_method") or "naive"
        if method not in _CHUNK_METHODS[self.v]:
            raise self.validation_error("chunk_method", "Input should be " + ", ".join(sorted(_CHUNK_METHODS[self.v])), method)
        config = body.get("parser_config") or {}
        for key, value in config.items():
            if key not in _PARSER_KEYS[self.v]:
                raise self.validation_error(f"parser_config.{key}", "Extra inputs are not permitted", value)
            low, high = _PARSER_RANGES.get(key, (None, None))
            if low is not None and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
                raise self.validation_error(f"parser_config.{key}", f"Input should be an integer between {low} and {high}", value)
        if self.s.before_create:
            self.s.before_create(self.s, name)
        # api/db/services/knowledgebase_service.py create_with_name -> api/db/services/__init__.py duplicate_name
        # (both): a taken name becomes "name(1)", "name(2)", ...
        final = duplicate_name(name.strip(), lambda n: self.find_dataset(n) is not None)
        kb = {"id": uuid.uuid1().hex, "name": final, "tenant_id": TENANT, "created_by": TENANT, "avatar": body.get("avatar"),
              "description": body.get("description"), "embd_id": body.get("embedding_model") or EMBEDDING, "permission": body.get("permission", "me"),
              "parser_id": method, "parser_config": {"chunk_token_num": 512, "delimiter": "\n", "layout_recognize": "DeepDOC", **config},
              "doc_num": 0, "chunk_num": 0, "token_num": 0, "similarity_threshold": 0.2, "vector_similarity_weight": 0.3, "pagerank": 0,
              "status": "1", "language": "English", "create_time": _now_ms(), "update_time": _now_ms()}
        self.s.datasets[kb["id"]] = kb
        return self.result(self.dataset_json(kb))

    def list_datasets(self, query: dict[str, list[str]]) -> dict[str, Any]:
        q = {k: v[0] for k, v in query.items()}
        # api/utils/validation_utils.py ListDatasetReq (both): id must be a UUID1 hex
        if q.get("id") and not _is_uuid1_hex(q["id"]):
            raise self.validation_error("id", "Invalid UUID1 format", q["id"])
        size = int(q.get("page_size", 30))
        if self.v == NEW and size > REST_API_MAX_PAGE_SIZE:  # ListDatasetReq.validate_page_size (v0.27.0)
            raise self.validation_error("page_size", f"page_size must be less than or equal to {REST_API_MAX_PAGE_SIZE}", size)
        found = sorted(self.s.datasets.values(), key=lambda d: d["create_time"], reverse=q.get("desc", "true").lower() != "false")
        # api/apps/sdk/dataset.py list_datasets (v0.22.1) / api/apps/services/dataset_api_service.py (v0.27.0): an unknown
        # id or name is a permission error: code 108 in v0.22.1, code 102 in v0.27.0
        refused = PERMISSION if self.v == OLD else DATA
        if q.get("id"):
            found = [d for d in found if d["id"] == q["id"]]
            if not found:
                raise error(refused, f"User '{TENANT}' lacks permission for dataset '{q['id']}'")
        if q.get("name"):
            found = [d for d in found if d["name"].casefold() == q["name"].casefold()]
            if not found:
                raise error(refused, f"User '{TENANT}' lacks permission for dataset '{q['name']}'")
        page = int(q.get("page", 1))
        return self.result([self.dataset_json(d) for d in found[(page - 1) * size: page * size]], total=len(found))

    def delete_datasets(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.v == OLD and "ids" not in body:  # DeleteReq.ids is Field(...) in v0.22.1
            raise self.validation_error("ids", "Field required", None)
        ids = body.get("ids")
        for value in ids or []:
            if not _is_uuid1_hex(value):  # DeleteReq.validate_ids (both)
                raise self.validation_error("ids", "Invalid UUID1 format", value)
        if ids is None:
            # api/apps/sdk/dataset.py delete (v0.22.1): ids=null deletes every dataset of the tenant;
            # v0.27.0 deletes nothing unless delete_all is true
            ids = list(self.s.datasets) if self.v == OLD or body.get("delete_all") else []
        unknown = [i for i in ids if i not in self.s.datasets]
        if unknown:
            # unknown ids refuse the whole call: code 108 (v0.22.1) / 102 (v0.27.0)
            raise error(PERMISSION if self.v == OLD else DATA, f"User '{TENANT}' lacks permission for datasets: '{', '.join(unknown)}'")
        for ds_id in ids:
            for doc_id in [d for d, doc in self.s.documents.items() if doc["kb_id"] == ds_id]:
                self.remove_document(doc_id)
            del self.s.datasets[ds_id]
        # v0.27.0 dataset_api_service._delete_datasets_sync returns {"success_count": n}; v0.22.1 returns no data
        return self.result({"success_count": len(ids)} if self.v == NEW else None)

    def dataset_or_refuse(self, ds_id: str) -> dict[str, Any]:
        # api/apps/sdk/doc.py (v0.22.1) / restful_apis/document_api.py, chunk_api.py (v0.27.0): KnowledgebaseService.accessible
        if ds_id not in self.s.datasets:
            raise error(DATA, f"You don't own the dataset {ds_id}. ")
        return self.s.datasets[ds_id]

    # ---- documents ---------------------------------------------------------------------------------

    def doc_json(self, doc: dict[str, Any]) -> dict[str, Any]:
        # key renames of list_docs (v0.22.1) / document_api_service.map_doc_keys (v0.27.0)
        names = {"chunk_num": "chunk_count", "kb_id": "dataset_id", "token_num": "token_count", "parser_id": "chunk_method"}
        out = {names.get(k, k): v for k, v in doc.items() if k not in ("content", "task")}
        if self.v == OLD:
            out["run"] = RUN_TEXT.get(doc["run"], doc["run"])  # list_docs (v0.22.1): unmapped states ("5") pass through
            out.pop("content_hash", None)  # the column arrives after v0.22.1
        else:
            out["run"] = RUN_TEXT.get(doc["run"], "UNSTART")  # _process_run_mapping (v0.27.0): anything else is UNSTART
        return out

    def upload(self, ds_id: str, parts: list[tuple[str, str | None, bytes]]) -> dict[str, Any]:
        kb = self.dataset_or_refuse(ds_id)
        files = [(filename, content) for name, filename, content in parts if name == "file"]
        # api/apps/sdk/doc.py upload (v0.22.1) / document_api._upload_local_documents (v0.27.0)
        if not files:
            raise error(ARGUMENT, "No file part!")
        for filename, _ in files:
            if not filename:
                raise error(ARGUMENT, "No file selected!")
            if len(filename.encode("utf-8")) > FILE_NAME_LEN_LIMIT:
                raise error(ARGUMENT, f"File name must be {FILE_NAME_LEN_LIMIT} bytes or less.")
        errors, stored = [], []
        for filename, content in files:
            # api/db/services/file_service.py upload_document (both): rename first, then check the type; each file
            # fails or succeeds on its own
            name = duplicate_name(filename, lambda n: any(d["kb_id"] == ds_id and d["name"].casefold() == n.casefold() for d in self.s.documents.values()))
            kind = self.file_type(name)
            if kind == "other":
                errors.append(f"{filename}: This type of file has not been supported yet!")
                continue
            # content_hash: 0.27 stores xxh128 (any digest does here); 0.22 has no such column (see doc_json)
            doc = {"id": uuid.uuid1().hex, "kb_id": ds_id, "parser_id": kb["parser_id"], "pipeline_id": None, "parser_config": kb["parser_config"],
                   "created_by": TENANT, "type": kind, "name": name, "source_type": "local", "suffix": PurePath(name).suffix.lstrip("."),
                   "location": name, "size": len(content), "thumbnail": "", "run": UNSTART, "progress": 0.0, "progress_msg": "", "chunk_num": 0,
                   "token_num": 0, "meta_fields": {}, "status": "1", "create_time": _now_ms(), "update_time": _now_ms(), "process_duration": 0.0,
                   "content_hash": uuid.uuid5(uuid.NAMESPACE_OID, content.hex()).hex, "content": content.decode("utf-8", "replace")}
            self.s.documents[doc["id"]] = doc
            kb["doc_num"] += 1  # document_service.insert (both): atomic_increase_doc_num_by_id
            stored.append(doc)
        renamed = [{**self.doc_json(d), "run": "UNSTART"} for d in stored]
        if errors and self.v == OLD:
            # v0.22.1: any failed file turns the answer into code 500 without data; the others stay stored, unparsed
            raise error(SERVER_ERROR, "\n".join(errors))
        if errors and not stored:
            raise error(SERVER_ERROR, "\n".join(errors))
        if errors:
            # v0.27.0: a partial success is code 500 with the stored documents as data
            raise Reply({"code": SERVER_ERROR, "message": "\n".join(errors), "data": renamed})
        return self.result(renamed)

    def file_type(self, name: str) -> str:
        lowered = name.lower()
        if self.v == NEW:
            lowered = PurePath(lowered).name.strip()  # _normalize_filename_for_type (v0.27.0)
        for kind, pattern in _TYPE_RULES[self.v]:
            if re.match(rf".*\.({pattern})$", lowered):
                return kind
        return "other"

    def list_documents(self, ds_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        self.dataset_or_refuse(ds_id)
        q = {k: v[0] for k, v in query.items()}
        docs = [d for d in self.s.documents.values() if d["kb_id"] == ds_id]
        # api/apps/sdk/doc.py list_docs (v0.22.1) / document_api._get_docs_with_request (v0.27.0): an unknown id or name
        # is an error, not an empty list
        article = "You" if self.v == OLD else "you"
        if q.get("id"):
            if not any(d["id"] == q["id"] for d in docs):
                raise error(DATA, f"{article} don't own the document {q['id']}" + ("." if self.v == OLD else ""))
            docs = [d for d in docs if d["id"] == q["id"]]
        if q.get("name"):
            if not any(d["name"] == q["name"] for d in docs):
                raise error(DATA, f"{article} don't own the document {q['name']}" + ("." if self.v == OLD else ""))
            docs = [d for d in docs if d["name"] == q["name"]]
        if self.v == NEW and query.get("ids"):  # v0.27.0 filters by repeated ?ids=; v0.22.1 ignores the parameter
            docs = [d for d in docs if d["id"] in query["ids"]]
        if q.get("keywords"):
            docs = [d for d in docs if q["keywords"].lower() in d["name"].lower()]
        docs.sort(key=lambda d: (d["create_time"], d["id"]), reverse=q.get("desc", "true").strip().lower() != "false")
        page, size = int(q.get("page", 1)), self.page_size(q.get("page_size"))
        # both: data is {"total", "docs"}; v0.27.0 answers through get_json_result, which adds message "success"
        out = {"code": SUCCESS, "data": {"total": len(docs), "docs": [self.doc_json(d) for d in docs[(page - 1) * size: page * size]]}}
        if self.v == NEW:
            out["message"] = "success"
        return out

    def update_document(self, ds_id: str, doc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        # api/apps/sdk/doc.py update_doc (v0.22.1, PUT) / document_api.update_document (v0.27.0, PATCH; PUT is the
        # deprecated alias in api/apps/backward_compat.py)
        if ds_id not in self.s.datasets:
            raise error(DATA, "You don't own the dataset." if self.v == OLD else "you don't own the dataset")
        doc = self.s.documents.get(doc_id)
        if doc is None or doc["kb_id"] != ds_id:
            raise error(DATA, "The dataset doesn't own the document." if self.v == OLD else "the dataset doesn't own the document")
        if "meta_fields" in body:
            if not isinstance(body["meta_fields"], dict):
                raise error(DATA, "meta_fields must be a dictionary")
            doc["meta_fields"] = dict(body["meta_fields"])
        return self.result(self.doc_json(doc))

    def delete_documents(self, ds_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.dataset_or_refuse(ds_id)
        ids = body.get("ids")
        in_dataset = [d for d, doc in self.s.documents.items() if doc["kb_id"] == ds_id]
        if self.v == OLD:
            # api/apps/sdk/doc.py delete (v0.22.1): no ids means every document of the dataset; unknown ids are
            # reported after the known ones are gone
            targets = list(dict.fromkeys(ids)) if ids else in_dataset
            missing = [i for i in targets if i not in in_dataset]
            for doc_id in targets:
                if doc_id in in_dataset:
                    self.remove_document(doc_id)
            if missing:
                raise error(DATA, f"Documents not found: {missing}")
            return self.result()
        # document_api.delete_documents (v0.27.0): ids or delete_all, unknown ids refuse the whole call,
        # the answer counts what went
        if not body.get("delete_all") and not ids:
            raise error(DATA, f"should either provide doc ids or set delete_all(true), dataset: {ds_id}. ")
        if body.get("delete_all") and ids:
            raise error(DATA, f"should not provide both doc ids and delete_all(true), dataset: {ds_id}. ")
        targets = in_dataset if body.get("delete_all") else list(ids)
        missing = [i for i in targets if i not in in_dataset]
        if missing:
            raise error(DATA, f"These documents do not belong to dataset {ds_id} or Document not found: {', '.join(missing)}")
        for doc_id in targets:
            self.remove_document(doc_id)
        return self.result({"deleted": len(targets)})

    def remove_document(self, doc_id: str) -> None:
        # document_service.remove_document (both): the dataset's counts go down, queued tasks go with it
        doc = self.s.documents.pop(doc_id)
        kb = self.s.datasets[doc["kb_id"]]
        kb["doc_num"] -= 1
        kb["chunk_num"] -= doc["chunk_num"]
        kb["token_num"] -= doc["token_num"]
        if doc_id in self.s.queue:
            self.s.queue.remove(doc_id)

    # ---- parsing -----------------------------------------------------------------------------------

    def parse(self, ds_id: str, body: dict[str, Any]) -> dict[str, Any]:
        kb = self.dataset_or_refuse(ds_id)
        ids = body.get("document_ids")
        if not ids:
            raise error(DATA, "`document_ids` is required")
        not_found = []
        for doc_id in dict.fromkeys(ids):
            doc = self.s.documents.get(doc_id)
            if doc is None or doc["kb_id"] != ds_id:
                not_found.append(doc_id)
                continue
            # api/apps/sdk/doc.py parse (v0.22.1): refused while 0 < progress < 1;
            # restful_apis/chunk_api.py parse (v0.27.0): refused while run == RUNNING. Earlier ids stay queued.
            busy = 0.0 < doc["progress"] < 1.0 if self.v == OLD else doc["run"] == RUNNING
            if busy:
                raise error(DATA, "Can't parse document that is currently being processed")
            if self.v == NEW:
                kb["chunk_num"] -= doc["chunk_num"]  # chunk_api._release_doc_counters (v0.27.0)
                kb["token_num"] -= doc["token_num"]
            # v0.22.1 zeroes the document's counts without touching the dataset's (they drift on a re-parse)
            doc.update(run=RUNNING, progress=0.0, progress_msg="", chunk_num=0, token_num=0, task=0)
            if doc_id in self.s.queue:
                self.s.queue.remove(doc_id)
            self.s.queue.append(doc_id)  # task_service.queue_tasks: parsing happens later, in the task executor
        if not_found:
            raise error(DATA, f"Documents not found: {not_found}")
        return self.result()

    def stop(self, ds_id: str, body: dict[str, Any]) -> dict[str, Any]:
        kb = self.dataset_or_refuse(ds_id)
        ids = body.get("document_ids")
        if not ids:
            raise error(DATA, "`document_ids` is required")
        for doc_id in dict.fromkeys(ids):
            doc = self.s.documents.get(doc_id)
            if doc is None or doc["kb_id"] != ds_id:
                raise error(DATA, f"You don't own the document {doc_id}." if self.v == OLD else f"you don't own the document {doc_id}")
            if self.s.before_stop:
                self.s.before_stop(self.s, doc)
            if self.v == OLD:
                # api/apps/sdk/doc.py stop_parsing (v0.22.1): refused at progress 0 (queued) or 1 (done); the ids
                # before it in the list are already stopped
                if int(doc["progress"]) == 1 or doc["progress"] == 0:
                    raise error(DATA, "Can't stop parsing document with progress at 0 or 1")
            elif doc["run"] != RUNNING:
                # restful_apis/chunk_api.py stop_parsing (v0.27.0): refused unless run == RUNNING
                raise error(DATA, "Can't stop parsing document that has not started or already completed", data={"error_code": "DOC_STOP_PARSING_INVALID_STATE"})
            if self.v == NEW:
                kb["chunk_num"] -= doc["chunk_num"]
                kb["token_num"] -= doc["token_num"]
            doc.update(run=CANCEL, progress=0.0, chunk_num=0)
            if doc_id in self.s.queue:
                self.s.queue.remove(doc_id)
        return self.result()

    def tick(self) -> None:
        """One step of the task executor (rag/svr/task_executor.py + document_service._sync_progress, both releases)."""
        for doc_id in list(self.s.queue[: self.s.workers]):
            doc = self.s.documents[doc_id]
            if "slow" in doc["name"] and doc["task"] >= 2:
                continue  # a parse that never ends
            doc["task"] += 1
            if doc["task"] == 1:
                doc.update(progress=0.1, progress_msg="Task has been received.")
            elif doc["task"] == 2:
                doc.update(progress=0.5, progress_msg=doc["progress_msg"] + "\nPage(1~100000001): Start to parse.")
            elif "fail" in doc["name"]:
                # _sync_progress: a failed task makes progress -1 and run FAIL
                doc.update(run=FAIL, progress=-1.0, progress_msg=doc["progress_msg"] + "\n[ERROR]Internal server error while chunking: can't parse")
                self.s.queue.remove(doc_id)
            else:
                chunks = chunk_texts(doc)
                tokens = sum(len(c["text"].split()) for c in chunks)
                doc.update(run=DONE, progress=1.0, chunk_num=len(chunks), token_num=tokens, progress_msg=doc["progress_msg"] + "\nDone!")
                kb = self.s.datasets[doc["kb_id"]]
                kb["chunk_num"] += len(chunks)  # document_service.increment_chunk_num: the dataset's counts follow parsing
                kb["token_num"] += tokens
                self.s.queue.remove(doc_id)

    # ---- chunks and retrieval ----------------------------------------------------------------------

    def list_chunks(self, ds_id: str, doc_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        self.dataset_or_refuse(ds_id)
        doc = self.s.documents.get(doc_id)
        if doc is None or doc["kb_id"] != ds_id:
            raise error(DATA, f"You don't own the document {doc_id}." if self.v == OLD else f"you don't own the document {doc_id}")
        q = {k: v[0] for k, v in query.items()}
        page, size = int(q.get("page", 1)), self.page_size(q.get("page_size"))
        chunks = [self.chunk_json(doc, c) for c in chunk_texts(doc)] if doc["run"] == DONE else []
        for c in chunks:
            c["docnm_kwd"] = c.pop("document_keyword")
        return self.result({"total": len(chunks), "chunks": chunks[(page - 1) * size: page * size], "doc": self.doc_json(doc)})

    def chunk_json(self, doc: dict[str, Any], chunk: dict[str, Any]) -> dict[str, Any]:
        out = {"id": chunk["id"], "content": chunk["text"], "document_id": doc["id"], "document_keyword": doc["name"], "dataset_id": doc["kb_id"],
               "important_keywords": [], "questions": [], "image_id": "", "available": True, "positions": chunk["positions"], "doc_type_kwd": ""}
        if self.v == NEW:
            out["tag_kwd"] = []
        return out

    def retrieval(self, body: dict[str, Any]) -> dict[str, Any]:
        # api/apps/sdk/doc.py retrieval_test (v0.22.1) / restful_apis/chunk_api.py retrieval_test (v0.27.0)
        kb_ids = body.get("dataset_ids")
        if not kb_ids:
            raise error(DATA, "`dataset_ids` is required.")
        if not isinstance(kb_ids, list):
            raise error(DATA, "`dataset_ids` should be a list")
        for ds_id in kb_ids:
            if ds_id not in self.s.datasets:
                raise error(DATA, f"You don't own the dataset {ds_id}.")
        if len({self.s.datasets[i]["embd_id"].split("@")[0] for i in kb_ids}) != 1:
            raise error(DATA, 'Datasets use different embedding models."')
        if "question" not in body:
            raise error(DATA, "`question` is required.")
        page = max(int(body.get("page", 1)), 1)
        size = self.page_size(body.get("page_size"))
        question = body["question"]
        empty = {"total": 0, "chunks": [], "doc_aggs": {}}
        if self.v == NEW:
            question = question.strip() if isinstance(question, str) else question
            if not question:
                return self.result(empty)
        doc_ids = body.get("document_ids") or []
        if not isinstance(doc_ids, list):
            raise error(DATA, "`documents` should be a list")
        owned = {d["id"] for d in self.s.documents.values() if d["kb_id"] in kb_ids}
        for doc_id in doc_ids:
            if doc_id not in owned:
                raise error(DATA, f"The datasets don't own the document {doc_id}")
        condition = body.get("metadata_condition")
        if not doc_ids and condition:
            doc_ids = meta_filter([d for d in self.s.documents.values() if d["kb_id"] in kb_ids], condition)
            if not doc_ids and self.v == NEW:
                # v0.27.0: a condition that matches nothing returns nothing. v0.22.1 passes the empty id list on,
                # which filters nothing (dialog_service.meta_filter returns [], search then ignores doc_ids)
                return self.result(empty)
        threshold = float(body.get("similarity_threshold", 0.2))
        weight = float(body.get("vector_similarity_weight", 0.3))
        top = int(body.get("top_k", 1024))
        if self.v == NEW and top <= 0:
            raise error(DATA, "`top_k` must be greater than 0")
        highlight = self.highlight_flag(body.get("highlight"))
        if not question:  # rag/nlp/search.py Dealer.retrieval (v0.22.1): an empty question finds nothing
            return self.result(empty)
        candidates = []
        q = _words(question)
        for doc in self.s.documents.values():
            if doc["kb_id"] not in kb_ids or doc["run"] != DONE or (doc_ids and doc["id"] not in doc_ids):
                continue
            for chunk in chunk_texts(doc):
                term = len(q & _words(chunk["text"])) / max(1, len(q))
                vector = 0.9 * term
                candidates.append((weight * vector + (1 - weight) * term, vector, term, doc, chunk))
        candidates.sort(key=lambda c: -c[0])
        candidates = candidates[:top]
        # rag/nlp/search.py Dealer.retrieval (both): results come in windows of RERANK_LIMIT = ceil(64/size)*size
        window = math.ceil(64 / size) * size if size > 1 else 1
        offset = (page - 1) * size
        block = candidates[(offset // window) * window: (offset // window + 1) * window]
        if self.v == OLD:
            # v0.22.1: page_index = (page % (window // size)) - 1, so a page that is a multiple of window/size
            # repeats the block's first page; "total" counts the page only
            begin = max(((page % (window // size)) - 1) * size, 0)
            page_items = [c for c in block[begin: begin + size] if c[0] >= threshold]
            total = len(page_items)
            valid = page_items
        else:
            valid = [c for c in block if c[0] >= (0.0 if weight <= 0 else threshold)]
            total = len(valid)  # v0.27.0: "total" counts the window, not the dataset
            page_items = valid[offset % window: offset % window + size]
        chunks = []
        for sim, vector, term, doc, chunk in page_items:
            out = {**self.chunk_json(doc, chunk), "content_ltks": " ".join(sorted(_words(chunk["text"]))), "similarity": sim,
                   "vector_similarity": vector, "term_similarity": term}
            out.pop("available")
            if highlight:
                out["highlight"] = em(chunk["text"], q)  # Elasticsearch highlighting: matched terms in <em> tags
            chunks.append(out)
        aggs: dict[str, dict[str, Any]] = {}
        for _, _, _, doc, _ in valid:  # keyed by document *name*: two documents with one name share a row
            aggs.setdefault(doc["name"], {"doc_name": doc["name"], "doc_id": doc["id"], "count": 0})["count"] += 1
        return self.result({"chunks": chunks, "doc_aggs": sorted(aggs.values(), key=lambda a: -a["count"]), "total": total})

    def highlight_flag(self, value: Any) -> bool:
        if self.v == OLD:
            return value not in ("False", "false")  # v0.22.1: on unless the *string* "false"
        if value is None:
            return False  # v0.27.0: off by default, a boolean or "true"/"false"
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise error(DATA, "`highlight` should be a boolean")


def duplicate_name(name: str, taken: Callable[[str], bool]) -> str:
    """api/db/services/__init__.py duplicate_name (both): ``a.md`` → ``a(1).md`` → ``a(2).md``; ``docs`` → ``docs(1)``."""
    current = name
    while taken(current):
        path = PurePath(current)
        match = re.match(r"^(.*?)\((\d+)\)$", path.stem)
        stem, counter = (match.group(1).rstrip(), int(match.group(2)) + 1) if match else (path.stem, 1)
        current = f"{stem}({counter}){path.suffix}"
    return current


def chunk_texts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Paragraph chunks; a ``.pdf`` stand-in splits pages at form feeds and carries RAGFlow's
    ``positions = [[page, x0, x1, top, bottom], ...]`` (rag/nlp/__init__.py add_positions, both releases)."""
    pages = doc["content"].split("\f") if doc["suffix"].lower() == "pdf" else [doc["content"]]
    out = []
    for page_no, page in enumerate(pages, 1):
        top = 72
        for para in page.split("\n\n"):
            text = para.strip()
            if not text:
                continue
            positions = [[page_no, 72, 540, top, top + 14 * (1 + text.count("\n"))]] if doc["suffix"].lower() == "pdf" else []
            top += 20 + 14 * (1 + text.count("\n"))
            out.append({"id": uuid.uuid5(uuid.NAMESPACE_OID, f"{doc['id']}:{len(out)}").hex, "text": text, "positions": positions})
    return out


def em(text: str, words: set[str]) -> str:
    def mark(match: re.Match[str]) -> str:
        return f"<em>{match.group(0)}</em>" if match.group(0).lower() in words else match.group(0)

    return re.sub(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]", mark, text)


def meta_filter(docs: list[dict[str, Any]], condition: dict[str, Any]) -> list[str]:
    """api/db/services/dialog_service.py convert_conditions + meta_filter (v0.22.1; v0.27.0 adds "logic")."""
    ops = {"is": "=", "not is": "≠"}
    found: set[str] | None = None
    for cond in condition.get("conditions", []):
        op, key, value = ops.get(cond["comparison_operator"], cond["comparison_operator"]), cond["name"], cond["value"]
        ids = set()
        for doc in docs:
            if key not in doc["meta_fields"]:
                continue
            have = doc["meta_fields"][key]
            tests = {"=": str(have) == str(value), "≠": str(have) != str(value), "contains": str(value).lower() in str(have).lower(),
                     "not contains": str(value).lower() not in str(have).lower(), "start with": str(have).lower().startswith(str(value).lower()),
                     "end with": str(have).lower().endswith(str(value).lower()), "empty": not have, "not empty": bool(have)}
            if tests.get(op):
                ids.add(doc["id"])
        found = ids if found is None else (found | ids if condition.get("logic") == "or" else found & ids)
    return sorted(found or [])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        s = self.state
        with s.lock:
            record: dict[str, Any] = {"method": method, "path": parts.path, "query": parse_qs(parts.query), "bytes": length}
            s.requests.append(record)
            rules = Rules(s)
            try:
                rules.tick()  # the executor runs beside the API: every request sees the world one step on
                if length > s.max_content_length:
                    # Quart refuses the body (RequestEntityTooLarge) and errorhandler(Exception) answers code 100
                    raise error(EXCEPTION, "<RequestEntityTooLarge '413: Request Entity Too Large'>", data=None)
                if not parts.path.startswith("/api/v1/"):
                    raise Reply({"code": 404, "message": f"Not Found: {parts.path}", "data": None, "error": "Not Found"}, 404)
                rules.authenticate(self.headers.get("Authorization"))
                payload, status = self._route(rules, method, parts.path[len("/api/v1"):], parse_qs(parts.query), raw, record), 200
            except Reply as reply:
                payload, status = reply.payload, reply.status
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, rules: Rules, method: str, route: str, query: dict[str, list[str]], raw: bytes, record: dict[str, Any]) -> dict[str, Any]:
        if route.startswith("/datasets/") and route.endswith("/documents") and method == "POST":
            message = BytesParser(policy=email_policy).parsebytes(f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw)
            parts = [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_payload(decode=True) or b"") for p in message.iter_parts()]
            record["files"] = [filename for name, filename, _ in parts if name == "file"]
            return rules.upload(route.split("/")[2], parts)
        body = json.loads(raw or b"{}") if raw else {}
        record["json"] = body
        if route == "/datasets":
            handlers = {"POST": lambda: rules.create_dataset(body), "GET": lambda: rules.list_datasets(query), "DELETE": lambda: rules.delete_datasets(body)}
            if method in handlers:
                return handlers[method]()
        if route == "/retrieval" and method == "POST":
            return rules.retrieval(body)
        m = re.fullmatch(r"/datasets/([^/]+)/(documents|chunks)(?:/([^/]+)(/chunks)?)?", route)
        if m:
            ds_id, what, doc_id, chunks = m.groups()
            if what == "documents" and doc_id and chunks and method == "GET":
                return rules.list_chunks(ds_id, doc_id, query)
            if what == "documents" and doc_id and not chunks and method in ("PUT", "PATCH"):
                if method == "PATCH" and rules.v == OLD:
                    raise Reply({"code": 404, "message": f"Not Found: /api/v1{route}"}, 405)  # v0.22.1 has PUT only
                return rules.update_document(ds_id, doc_id, body)
            if what == "documents" and not doc_id and method == "GET":
                return rules.list_documents(ds_id, query)
            if what == "documents" and not doc_id and method == "DELETE":
                return rules.delete_documents(ds_id, body)
            if what == "chunks" and not doc_id and method == "POST":
                return rules.parse(ds_id, body)
            if what == "chunks" and not doc_id and method == "DELETE":
                return rules.stop(ds_id, body)
        raise Reply({"code": 404, "message": f"Not Found: /api/v1{route}", "data": None, "error": "Not Found"}, 404)


class RagflowDouble:
    """``with RagflowDouble("0.27.0") as server: server.base_url, server.state``."""

    def __init__(self, version: str = NEW, workers: int = 4) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")
        self.version = version
        self.state = State(version, workers=workers)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.address = self.base_url.split("://", 1)[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RagflowDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def documents(self, dataset: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            ids = {d["id"] for d in self.state.datasets.values() if dataset is None or d["name"] == dataset}
            return [dict(d) for d in self.state.documents.values() if d["kb_id"] in ids]

    def dataset(self, name: str) -> dict[str, Any] | None:
        with self.state.lock:
            return next((dict(d) for d in self.state.datasets.values() if d["name"] == name), None)
