"""A protocol double of RAGFlow's HTTP API (v0.27 as described in ../shared/reference/ragflow-http-api.md):
``/api/v1/datasets``, ``/datasets/{id}/documents`` (multipart upload, list with pagination, delete),
``/datasets/{id}/chunks`` (start/cancel parsing), ``/datasets/{id}/documents/{doc}/chunks``, ``/retrieval``.
Bearer auth (HTTP 401 envelope), application errors as HTTP 200 with a non-zero ``code``, parsing states
UNSTART → RUNNING → DONE, FAIL for files whose name contains "fail", and "slow" files that never finish.

It is a stand-in for tests, not RAGFlow: chunking is by paragraph and scoring is word overlap.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "ragflow-test-key"


class State:
    def __init__(self) -> None:
        self.datasets: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, Any]] = {}  # id -> doc (with dataset_id, content)
        self.polls: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w", text.lower())) | set(re.findall(r"\w+", text.lower()))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, payload: dict[str, Any], status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _ok(self, data: Any = None) -> None:
        self._reply({"code": 0, "data": data})

    def _error(self, code: int, message: str) -> None:
        self._reply({"code": code, "message": message})  # HTTP 200, as RAGFlow does

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self._reply({"code": 401, "message": "Authentication error: API key is invalid!", "data": None}, 401)
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = self._body()
        with self.state.lock:
            self.state.requests.append((method, path))
        if not path.startswith("/api/v1/"):
            return self._reply({"code": 404, "message": "Not found"}, 404)
        if not self._authorized():
            return None
        route = path[len("/api/v1"):]
        with self.state.lock:
            return self._dispatch(method, route, query, body)

    def _dispatch(self, method: str, route: str, query: dict[str, str], body: bytes) -> None:
        s = self.state
        if route == "/datasets" and method == "POST":
            data = json.loads(body or b"{}")
            if any(d["name"] == data.get("name") for d in s.datasets.values()):
                return self._error(103, f"Dataset name '{data.get('name')}' already exists")
            ds = {"id": uuid.uuid4().hex, "name": data["name"], "chunk_method": data.get("chunk_method", "naive"),
                  "parser_config": data.get("parser_config") or {"chunk_token_num": 512, "delimiter": "\\n"}, "document_count": 0, "chunk_count": 0}
            s.datasets[ds["id"]] = ds
            return self._ok(ds)
        if route == "/datasets" and method == "GET":
            found = list(s.datasets.values())
            if query.get("name"):
                found = [d for d in found if d["name"] == query["name"]]
                if not found:
                    return self._error(108, f"User 'tenant' lacks permission for dataset '{query['name']}'")
            page, size = int(query.get("page", 1)), int(query.get("page_size", 30))
            return self._ok(found[(page - 1) * size: page * size])
        if route == "/datasets" and method == "DELETE":
            for ds_id in json.loads(body or b"{}").get("ids") or []:
                s.datasets.pop(ds_id, None)
                for doc_id in [d for d, doc in s.documents.items() if doc["dataset_id"] == ds_id]:
                    s.documents.pop(doc_id)
            return self._ok()
        if route == "/retrieval" and method == "POST":
            return self._retrieval(json.loads(body or b"{}"))
        m = re.fullmatch(r"/datasets/(\w+)/(documents|chunks)(?:/(\w+)/chunks)?", route)
        if not m or m.group(1) not in s.datasets:
            return self._error(102, "You don't own the dataset.")
        ds_id, what, doc_id = m.group(1), m.group(2), m.group(3)
        if what == "documents" and doc_id:
            return self._doc_chunks(doc_id, query)
        if what == "documents" and method == "POST":
            return self._upload(ds_id, body)
        if what == "documents" and method == "GET":
            docs = [d for d in s.documents.values() if d["dataset_id"] == ds_id]
            if query.get("id"):
                docs = [d for d in docs if d["id"] == query["id"]]
                for d in docs:
                    self._advance(d)
            page, size = int(query.get("page", 1)), int(query.get("page_size", 30))
            public = [{k: v for k, v in d.items() if k != "content"} for d in docs[(page - 1) * size: page * size]]
            return self._ok({"docs": public, "total_datasets": len(docs)})
        if what == "documents" and method == "DELETE":
            for i in json.loads(body or b"{}").get("ids") or []:
                s.documents.pop(i, None)
            return self._ok()
        if what == "chunks" and method == "POST":
            ids = json.loads(body or b"{}").get("document_ids") or []
            for i in ids:
                if i not in s.documents:
                    return self._error(102, f"Document not found: {i}")
                s.documents[i]["run"] = "RUNNING"
                s.polls[i] = 0
            return self._ok()
        if what == "chunks" and method == "DELETE":
            for i in json.loads(body or b"{}").get("document_ids") or []:
                if i in s.documents:
                    s.documents[i]["run"] = "CANCEL"
            return self._ok()
        return self._error(100, "unsupported")

    def _upload(self, ds_id: str, body: bytes) -> None:
        message = BytesParser(policy=email_policy).parsebytes(f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        files = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
        if not files:
            return self._error(101, "No file part!")
        out = []
        for part in files:
            content = part.get_payload(decode=True) or b""
            doc = {"id": uuid.uuid4().hex, "name": part.get_filename(), "dataset_id": ds_id, "size": len(content), "run": "UNSTART",
                   "progress": 0.0, "progress_msg": "", "chunk_count": 0, "token_count": 0, "content": content.decode("utf-8", "replace")}
            self.state.documents[doc["id"]] = doc
            out.append({k: v for k, v in doc.items() if k != "content"})
        return self._ok(out)

    def _advance(self, doc: dict[str, Any]) -> None:
        """Parsing moves on each time the client polls: RUNNING for two polls, then DONE (or FAIL)."""
        if doc["run"] != "RUNNING" or "slow" in doc["name"]:
            return
        self.state.polls[doc["id"]] += 1
        doc["progress"] = min(1.0, self.state.polls[doc["id"]] / 3)
        if self.state.polls[doc["id"]] >= 3:
            if "fail" in doc["name"]:
                doc.update(run="FAIL", progress_msg="[ERROR] Can't parse this file")
            else:
                doc.update(run="DONE", progress=1.0, chunk_count=len(self._chunks_of(doc)))

    @staticmethod
    def _chunks_of(doc: dict[str, Any]) -> list[str]:
        return [p.strip() for p in doc["content"].split("\n\n") if p.strip()]

    def _doc_chunks(self, doc_id: str, query: dict[str, str]) -> None:
        doc = self.state.documents.get(doc_id)
        if doc is None:
            return self._error(102, f"You don't own the document {doc_id}.")
        chunks = [{"id": f"{doc_id}-{i}", "content": c, "document_id": doc_id} for i, c in enumerate(self._chunks_of(doc))] if doc["run"] == "DONE" else []
        page, size = int(query.get("page", 1)), int(query.get("page_size", 30))
        return self._ok({"chunks": chunks[(page - 1) * size: page * size], "doc": {k: v for k, v in doc.items() if k != "content"}, "total": len(chunks)})

    def _retrieval(self, req: dict[str, Any]) -> None:
        if not req.get("dataset_ids"):
            return self._error(101, "`dataset_ids` is required.")
        if req.get("top_k", 1024) <= 0:
            return self._error(101, "`top_k` must be greater than 0")
        for ds_id in req["dataset_ids"]:
            if ds_id not in self.state.datasets:
                return self._error(102, "You don't own the dataset.")
        if not req.get("question"):
            return self._ok({"total": 0, "chunks": [], "doc_aggs": {}})
        q = _words(req["question"])
        scored = []
        for doc in self.state.documents.values():
            if doc["dataset_id"] not in req["dataset_ids"] or doc["run"] != "DONE":
                continue
            if req.get("document_ids") and doc["id"] not in req["document_ids"]:
                continue
            for i, text in enumerate(self._chunks_of(doc)):
                term = len(q & _words(text)) / max(1, len(q))
                vector = term * 0.9
                w = float(req.get("vector_similarity_weight", 0.3))
                sim = w * vector + (1 - w) * term
                if sim >= float(req.get("similarity_threshold", 0.2)):
                    chunk = {"id": f"{doc['id']}-{i}", "content": text, "document_id": doc["id"], "document_keyword": doc["name"], "dataset_id": doc["dataset_id"],
                             "important_keywords": [], "questions": [], "image_id": "", "similarity": sim, "vector_similarity": vector, "term_similarity": term, "positions": []}
                    if req.get("highlight"):
                        chunk["highlight"] = text
                    scored.append(chunk)
        scored.sort(key=lambda c: -c["similarity"])
        page, size = int(req.get("page", 1)), int(req.get("page_size", 30))
        aggs: dict[str, dict[str, Any]] = {}
        for c in scored:
            agg = aggs.setdefault(c["document_id"], {"doc_name": c["document_keyword"], "doc_id": c["document_id"], "count": 0})
            agg["count"] += 1
        return self._ok({"chunks": scored[(page - 1) * size: page * size], "doc_aggs": list(aggs.values()), "total": len(scored)})


class RagflowDouble:
    def __init__(self) -> None:
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RagflowDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
