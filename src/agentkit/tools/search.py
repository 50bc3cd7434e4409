"""Web search behind one interface: ``backend.search(query, n) -> list[SearchResult]``.

Backends: ``google`` (googlesearch-python, over-fetching 2n with ``unique=True`` as the HW01 notebook does),
``duckduckgo`` (ddgs), ``searxng`` (a SearXNG instance's JSON API) and ``local`` (BM25 over a folder of
pages, for offline work and tests). Every backend is wrapped in the same politeness: a minimum interval
between requests, retries with exponential backoff and jitter on HTTP 429/5xx, and a clear SearchError
once the engine keeps refusing. ``load_search("google?lang=zh-TW")`` builds one from a spec string.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from agentkit.cache_dir import files_fingerprint
from agentkit.errors import ConfigError, InputError, SearchError
from agentkit.spec import warn_deprecated
from agentkit.tools.cache import WebCache

MAX_QUERY_CHARS = 100
MAX_RESULTS = 20
T = TypeVar("T")


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str
    rank: int
    #: the page's full text when the backend already has it (``local``), so nothing needs fetching
    text: str = ""
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class SearchBackend(Protocol):
    name: str

    def search(self, query: str, n: int = 3) -> list[SearchResult]: ...


def clean_query(query: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """Whitespace collapsed, cut to ``max_chars`` (at a word boundary when there is one near the end)."""
    query = " ".join(query.split())
    if not query:
        raise InputError("the search query is empty", "pass some words to search for")
    if len(query) <= max_chars:
        return query
    cut = query[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space >= max_chars * 0.6 else cut


def check_n(n: int) -> int:
    if n < 1:
        raise InputError(f"n={n} results asked for", "ask for at least 1 result")
    return min(n, MAX_RESULTS)


class RetryableError(Exception):
    """Raised inside a backend call for answers worth retrying (HTTP 429 and 5xx)."""

    def __init__(self, status: int, detail: str = "") -> None:
        self.status = status
        super().__init__(detail or f"HTTP {status}")


class Politeness:
    """Minimum spacing between calls plus retries with exponential backoff and full jitter."""

    def __init__(self, min_interval: float = 1.0, retries: int = 3, base_delay: float = 1.0, max_delay: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.min_interval = min_interval
        self.retries = retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self._last = 0.0
        self._lock = threading.Lock()

    def call(self, engine: str, fn: Callable[[], T]) -> T:
        last_error: RetryableError | None = None
        for attempt in range(self.retries + 1):
            with self._lock:
                wait = self._last + self.min_interval - time.monotonic()
                if wait > 0:
                    self.sleep(wait)
                self._last = time.monotonic()
            try:
                return fn()
            except RetryableError as exc:
                last_error = exc
                if attempt < self.retries:
                    self.sleep(random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))
        assert last_error is not None
        if last_error.status == 429:
            raise SearchError(
                f"{engine} keeps refusing us (HTTP 429 after {self.retries + 1} tries): it is rate-limiting or blocking this address",
                "wait a while, or use another backend (--backend duckduckgo|searxng|local)",
            )
        raise SearchError(f"{engine} failed {self.retries + 1} times ({last_error})", "try again later or use another backend")


def _http_status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _retry_or_raise(engine: str, exc: Exception) -> None:
    status = _http_status(exc)
    if status == 429 or (status is not None and status >= 500):
        raise RetryableError(status, str(exc)) from exc
    if status is not None:
        raise SearchError(f"{engine} answered HTTP {status}", "check the backend's settings") from None
    raise SearchError(f"{engine} is unreachable ({type(exc).__name__}: {exc})", "check the network, or use --backend local") from None


def _keep(results: list[SearchResult], n: int) -> list[SearchResult]:
    """Unique http(s) URLs, ranked 1..n."""
    seen: set[str] = set()
    out: list[SearchResult] = []
    for r in results:
        if not r.url.startswith(("http://", "https://", "file://")) or r.url in seen:
            continue
        seen.add(r.url)
        out.append(SearchResult(r.title, r.url, r.snippet, len(out) + 1, r.text, r.backend))
        if len(out) == n:
            break
    return out


@dataclass(frozen=True)
class GoogleOptions:
    """``google?lang=zh-TW&region=tw&timeout=10&safe=active``."""

    lang: str = "en"
    region: str | None = None
    timeout: float = 10.0
    safe: str = "active"


@dataclass(frozen=True)
class DuckDuckGoOptions:
    """``duckduckgo?region=tw-tzh&timeout=10``."""

    region: str = "wt-wt"
    timeout: float = 10.0


@dataclass(frozen=True)
class SearxngOptions:
    """``searxng://HOST:PORT?language=zh-TW&timeout=10``."""

    language: str = "auto"
    timeout: float = 10.0


class GoogleSearch:
    """Google via googlesearch-python (scrapes the no-JavaScript results page)."""

    name = "google"

    @classmethod
    def from_spec(cls, spec: Any, options: GoogleOptions) -> GoogleSearch:
        _no_target(spec)
        return cls(**asdict(options))

    def __init__(self, lang: str = "en", region: str | None = None, timeout: float = 10.0, safe: str = "active", politeness: Politeness | None = None) -> None:
        self.lang = lang
        self.region = region
        self.timeout = timeout
        self.safe = safe
        self.politeness = politeness or Politeness(min_interval=2.0)

    def search(self, query: str, n: int = 3) -> list[SearchResult]:
        from agentkit.extras import require

        googlesearch = require("googlesearch", "web", "the google search backend")
        import requests

        query, n = clean_query(query), check_n(n)

        def once() -> list[SearchResult]:
            try:
                # Over-fetch 2n: some hits are ads or duplicates and get dropped below.
                found = googlesearch.search(query, num_results=2 * n, lang=self.lang, region=self.region, advanced=True, unique=True, timeout=self.timeout, safe=self.safe)
                return [SearchResult(r.title, r.url, r.description, i + 1, backend=self.name) for i, r in enumerate(found)]
            except requests.RequestException as exc:
                _retry_or_raise("Google", exc)
                raise  # unreachable: _retry_or_raise always raises

        return _keep(self.politeness.call("Google", once), n)


class DuckDuckGoSearch:
    """DuckDuckGo (and the other engines ddgs aggregates) via the ``ddgs`` package."""

    name = "duckduckgo"

    @classmethod
    def from_spec(cls, spec: Any, options: DuckDuckGoOptions) -> DuckDuckGoSearch:
        _no_target(spec)
        return cls(**asdict(options))

    def __init__(self, region: str = "wt-wt", timeout: float = 10.0, politeness: Politeness | None = None, client_factory: Callable[[], Any] | None = None) -> None:
        self.region = region
        self.timeout = timeout
        self.politeness = politeness or Politeness(min_interval=1.0)
        self._client_factory = client_factory

    def _client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory()
        from agentkit.extras import require

        return require("ddgs", "web", "the duckduckgo search backend").DDGS(timeout=int(self.timeout))

    def search(self, query: str, n: int = 3) -> list[SearchResult]:
        query, n = clean_query(query), check_n(n)

        def once() -> list[SearchResult]:
            try:
                rows = self._client().text(query, region=self.region, max_results=2 * n) or []
            except Exception as exc:  # ddgs raises its own hierarchy; sort by name to stay version-proof
                kind = type(exc).__name__
                if "Ratelimit" in kind:
                    raise RetryableError(429, str(exc)) from exc
                if "Timeout" in kind:
                    raise RetryableError(504, str(exc)) from exc
                if "No results" in str(exc):
                    return []
                raise SearchError(f"DuckDuckGo search failed ({kind}: {exc})", "try again later or use another backend") from None
            return [SearchResult(r.get("title", ""), r.get("href", ""), r.get("body", ""), i + 1, backend=self.name) for i, r in enumerate(rows)]

        return _keep(self.politeness.call("DuckDuckGo", once), n)


class SearxngSearch:
    """A SearXNG instance's JSON API (``GET /search?q=...&format=json``; JSON must be enabled in its settings)."""

    name = "searxng"

    @classmethod
    def from_spec(cls, spec: Any, options: SearxngOptions) -> SearxngSearch:
        scheme = "https" if spec.scheme.endswith("+https") else "http"
        return cls(f"{scheme}://{spec.target}" if spec.target else None, **asdict(options))

    def __init__(self, base_url: str | None = None, language: str = "auto", timeout: float = 10.0, politeness: Politeness | None = None) -> None:
        base_url = base_url or os.environ.get("AGENTKIT_SEARXNG_URL")
        if not base_url:
            raise ConfigError("the searxng backend needs the instance URL", "use searxng://HOST:PORT or set AGENTKIT_SEARXNG_URL")
        self.base_url = base_url.rstrip("/")
        self.language = language
        self.timeout = timeout
        self.politeness = politeness or Politeness(min_interval=0.5)

    def search(self, query: str, n: int = 3) -> list[SearchResult]:
        import httpx

        query, n = clean_query(query), check_n(n)

        def once() -> list[SearchResult]:
            try:
                response = httpx.get(f"{self.base_url}/search", params={"q": query, "format": "json", "language": self.language}, timeout=self.timeout, trust_env=False)
            except httpx.HTTPError as exc:
                raise SearchError(f"SearXNG at {self.base_url} is unreachable ({type(exc).__name__})", "start it, or check the URL") from None
            if response.status_code == 429 or response.status_code >= 500:
                raise RetryableError(response.status_code)
            if response.status_code == 403:
                raise SearchError(f"SearXNG at {self.base_url} refused the JSON format (HTTP 403)", "add 'json' to search.formats in its settings.yml")
            if response.status_code >= 400:
                raise SearchError(f"SearXNG answered HTTP {response.status_code}", "check the URL")
            try:
                rows = response.json().get("results", [])
            except ValueError:
                raise SearchError(f"SearXNG at {self.base_url} did not answer JSON", "check that the URL points at a SearXNG instance") from None
            return [SearchResult(r.get("title", ""), r.get("url", ""), r.get("content", ""), i + 1, backend=self.name) for i, r in enumerate(rows)]

        return _keep(self.politeness.call("SearXNG", once), n)


class LocalSearch:
    """BM25 over a folder of pages and documents (HTML, Markdown, text, PDF). Results carry the full text.

    A page's URL is its ``file://`` URI, unless the folder has ``urls.json`` mapping file names to the
    URLs the pages were saved from (recorded pages then cite their real address).
    """

    name = "local"

    @classmethod
    def from_spec(cls, spec: Any, options: None) -> LocalSearch:
        if not spec.target:
            raise ConfigError("the local backend needs a folder", "use local://PATH, e.g. local://./pages")
        return cls(spec.target)

    def __init__(self, folder: str | Path) -> None:
        from agentkit.loaders import load_path
        from agentkit.retrievers.bm25 import BM25Index

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"local search folder not found: {self.folder}", "pass a directory of pages, e.g. local://./pages")
        urls: dict[str, str] = {}
        mapping = self.folder / "urls.json"
        if mapping.exists():
            urls = json.loads(mapping.read_text(encoding="utf-8"))
        docs = [d for d in load_path(self.folder, exclude=["urls.json"]) if d.text.strip()]
        self.documents = docs
        metas = []
        for d in docs:
            rel = Path(d.source).relative_to(self.folder.resolve()).as_posix()
            title = d.metadata.get("title") or _first_line(d.text) or rel
            metas.append({"url": urls.get(rel, Path(d.source).as_uri()), "title": title, "source": d.source})
        self.index = BM25Index([m["url"] for m in metas], [d.text for d in docs], metas)
        self.fingerprint = files_fingerprint(self.folder)

    def cache_key(self) -> str:
        """The folder and a fingerprint of its files: editing, adding or removing a page changes it."""
        return f"{self.name}:{self.folder.resolve()}#{self.fingerprint}"

    def search(self, query: str, n: int = 3) -> list[SearchResult]:
        query, n = clean_query(query), check_n(n)
        hits = self.index.search(query, n)
        return [SearchResult(h.metadata["title"], h.metadata["url"], _snippet(h.text, query), i + 1, h.text, self.name) for i, h in enumerate(hits)]


def _first_line(text: str) -> str:
    return next((line.strip("# ").strip() for line in text.splitlines() if line.strip()), "")[:120]


def _snippet(text: str, query: str, width: int = 200) -> str:
    """The stretch of ``text`` around the first query term found (CJK bigrams count)."""
    from agentkit.retrievers.bm25 import tokenize

    lowered = text.lower()
    positions = [p for t in sorted(set(tokenize(query)), key=len, reverse=True) if (p := lowered.find(t)) >= 0]
    start = max(0, min(positions) - width // 4) if positions else 0
    return re.sub(r"\s+", " ", text[start:start + width]).strip()


class CachedSearch:
    """Any backend behind the on-disk cache (key: the backend's identity, n, query)."""

    def __init__(self, inner: SearchBackend, cache: WebCache) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache = cache

    def search(self, query: str, n: int = 3) -> list[SearchResult]:
        query, n = clean_query(query), check_n(n)
        key = f"{_backend_key(self.inner)}|{n}|{query}"
        cached = self.cache.get("search", key)
        if cached is not None:
            return [SearchResult.from_dict(r) for r in cached]
        results = self.inner.search(query, n)
        self.cache.put("search", key, [r.to_dict() for r in results])
        return results


_NOT_IDENTITY = frozenset({"name", "timeout"})  # options that never change which results come back


def _backend_key(backend: Any) -> str:
    """What decides a backend's results: its own ``cache_key()`` when it has one (``local`` hashes its
    folder's files), else its name and every plain option (lang, region, safe, base URL, language, ...)."""
    own = getattr(backend, "cache_key", None)
    if callable(own):
        return str(own())
    options = {k: v for k, v in vars(backend).items() if not k.startswith("_") and k not in _NOT_IDENTITY and isinstance(v, str | int | float | bool | None)}
    return f"{backend.name}:{json.dumps(options, sort_keys=True, ensure_ascii=False)}"


def _no_target(spec: Any) -> None:
    if spec.target:
        raise ConfigError(f"search backend '{spec.scheme}' takes no target ('{spec.target}')", f"write options as {spec.scheme}?key=value")


def load_search(spec: str | SearchBackend, cache: WebCache | None = None) -> SearchBackend:
    """A search backend from a spec (search plugins): ``google``, ``google?lang=zh-TW``, ``duckduckgo``,
    ``searxng://HOST:PORT``, ``local://./pages``; wrapped in ``cache`` unless its mode is ``off``.

    The old forms ``local:DIR`` and ``searxng:http://HOST:PORT`` are accepted for one release, with a note."""
    if isinstance(spec, str):
        from agentkit.plugins import registry

        text = spec.strip()
        old_form = re.match(r"^([a-z][a-z0-9+.-]*):(?!//)(.*)$", text)
        if old_form:  # the old name:target form
            name, target = old_form.groups()
            if name == "searxng" and "://" in target:
                scheme, _, rest = target.partition("://")
                new = f"searxng{'+https' if scheme == 'https' else ''}://{rest}"
            else:
                new = f"{name}://{target}"
            warn_deprecated(text, new)
            text = new
        backend: SearchBackend = registry("search").create(text)
        backend.spec = text  # type: ignore[attr-defined]  # lets a WebRetriever save and rebuild it
    else:
        backend = spec
    return CachedSearch(backend, cache) if cache is not None and cache.mode != "off" else backend
