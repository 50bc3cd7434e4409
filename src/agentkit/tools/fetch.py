"""Fetching web pages concurrently and safely.

Every hop of a redirect chain passes the URL guard (``tools.safety``); each page has its own time limit
and the batch a total budget, so one slow-loris page cannot hold up the rest; bodies are read (and
decompressed) up to ``max_bytes`` and no further, so a huge page or a gzip bomb is bounded; only HTML and
plain text are read. A failure is reported on that page (``Page.error``) and never stops the others.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from agentkit.errors import FetchError
from agentkit.loaders import html_to_text
from agentkit.tools.cache import WebCache
from agentkit.tools.safety import check_url

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 agentkit/0.1"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# WHATWG maps these labels to supersets; decoding with the narrow codec would fail on common pages.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "csgb2312": "gb18030", "chinese": "gb18030",
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs", "x-x-big5": "big5hkscs", "cn-big5": "big5hkscs", "csbig5": "big5hkscs",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
    "x-sjis": "shift_jis", "shift-jis": "shift_jis",
}


@dataclass(frozen=True)
class Page:
    """A fetched page: ``text`` is the visible text (HTML) or the body (plain text). ``error`` is empty on success."""

    url: str
    final_url: str = ""
    status: int = 0
    title: str = ""
    text: str = ""
    content_type: str = ""
    encoding: str = ""
    truncated: bool = False
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Page:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _decode_strict(body: bytes, codec: str) -> str | None:
    # Incremental decoding tolerates a multi-byte character cut by truncation at the very end.
    try:
        return codecs.getincrementaldecoder(codec)("strict").decode(body, final=False)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_body(body: bytes, header_charset: str | None = None, html: bool = True) -> tuple[str, str]:
    """(text, encoding): BOM, then the HTTP header's charset, then ``<meta charset>``, then charset-normalizer.

    A declared charset that does not decode cleanly is not trusted (pages lie); the detector decides.
    """
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", "replace"), "utf-8"
    declared = [header_charset]
    if html:
        match = _META_CHARSET.search(body[:4096])
        declared.append(match.group(1).decode("ascii", "ignore") if match else None)
    for label in declared:
        codec = _codec(label)
        if codec and (text := _decode_strict(body, codec)) is not None:
            return text, codec
    if (text := _decode_strict(body, "utf-8")) is not None:
        return text, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    codec = _codec(best.encoding) if best is not None else None
    if codec:
        return body.decode(codec, "replace"), codec
    return body.decode("utf-8", "replace"), "utf-8"


def looks_binary(body: bytes) -> bool:
    head = body[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return bool(head) and control / len(head) > 0.1


class _Decompressor:
    """gzip/deflate with an output cap, so a bomb inflates to ``limit`` bytes and no more."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise FetchError(f"unsupported content-encoding '{encoding}'", "the server ignored our Accept-Encoding")

    def feed(self, data: bytes, limit: int) -> tuple[bytes, bool]:
        """Decoded bytes (at most ``limit``) and whether output was left over."""
        if self._z is None:
            return data[:limit], len(data) > limit
        try:
            out = self._z.decompress(data, limit)
        except zlib.error as exc:
            raise FetchError(f"corrupt compressed body ({exc})", "the server sent a broken page") from None
        return out, bool(self._z.unconsumed_tail)


class Fetcher:
    """Fetches pages: ``fetch(url)``, ``fetch_many(urls)`` (and ``afetch``/``afetch_many``).

    ``timeout`` bounds each page (connect + every byte, so a trickling server is cut off); ``total_timeout``
    bounds a whole ``fetch_many``; ``max_bytes`` caps the decoded body (the text is marked ``truncated``).
    """

    def __init__(
        self,
        timeout: float = 10.0,
        total_timeout: float = 30.0,
        max_bytes: int = 2_000_000,
        max_redirects: int = 5,
        allow_private: bool = False,
        concurrency: int = 8,
        user_agent: str = DEFAULT_USER_AGENT,
        cache: WebCache | None = None,
        verify: bool = True,
    ) -> None:
        if timeout <= 0 or total_timeout <= 0:
            raise FetchError(f"timeouts must be positive (timeout={timeout}, total_timeout={total_timeout})", "pass seconds > 0")
        if max_bytes < 1:
            raise FetchError(f"max_bytes={max_bytes} must be >= 1", "pass a positive byte cap")
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.allow_private = allow_private
        self.concurrency = max(1, concurrency)
        self.user_agent = user_agent
        self.cache = cache
        self.verify = verify

    # ---- public API ----------------------------------------------------------------------------

    def fetch(self, url: str) -> Page:
        return asyncio.run(self.afetch(url))

    def fetch_many(self, urls: Sequence[str]) -> list[Page]:
        return asyncio.run(self.afetch_many(urls))

    async def afetch(self, url: str) -> Page:
        return (await self.afetch_many([url]))[0]

    async def afetch_many(self, urls: Sequence[str]) -> list[Page]:
        """Pages in the order of ``urls``; failures carry ``error``. Returns within ``total_timeout``."""
        pages: dict[int, Page] = {}
        todo: list[tuple[int, str]] = []
        for i, url in enumerate(urls):
            cached = self.cache.get("page", self._cache_key(url)) if self.cache else None
            if cached is not None:
                pages[i] = Page.from_dict(cached)
            else:
                todo.append((i, url))
        if todo:
            limits = httpx.Limits(max_connections=self.concurrency)
            timeout = httpx.Timeout(self.timeout)
            gate = asyncio.Semaphore(self.concurrency)
            async with httpx.AsyncClient(follow_redirects=False, timeout=timeout, limits=limits, verify=self.verify, trust_env=False) as client:

                async def one(url: str) -> Page:
                    async with gate:
                        return await self._timed(client, url)

                tasks = {asyncio.create_task(one(url)): (i, url) for i, url in todo}
                done, pending = await asyncio.wait(tasks, timeout=self.total_timeout)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending)
                for task, (i, url) in tasks.items():
                    if task in done:
                        pages[i] = task.result()
                    else:
                        pages[i] = Page(url, error=f"not fetched: the total budget of {self.total_timeout:g}s ran out", seconds=self.total_timeout)
            if self.cache:
                for i, _ in todo:
                    if pages[i].ok:
                        self.cache.put("page", self._cache_key(pages[i].url), pages[i].to_dict())
        return [pages[i] for i in range(len(urls))]

    def _cache_key(self, url: str) -> str:
        # A page fetched with allow_private must not be served to a fetcher that forbids it.
        return f"{'private-ok' if self.allow_private else 'public'}|{url}"

    # ---- one page ------------------------------------------------------------------------------

    async def _timed(self, client: httpx.AsyncClient, url: str) -> Page:
        started = time.perf_counter()
        try:
            page = await asyncio.wait_for(self._get(client, url), self.timeout)
        except FetchError as exc:
            page = Page(url, error=exc.message)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            page = Page(url, error=f"timed out after {self.timeout:g}s")
        except httpx.HTTPError as exc:
            page = Page(url, error=_describe(exc))
        return Page(**{**page.to_dict(), "seconds": time.perf_counter() - started})

    async def _get(self, client: httpx.AsyncClient, url: str) -> Page:
        current = url
        headers = {"User-Agent": self.user_agent, "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1", "Accept-Encoding": "gzip, deflate"}
        for _ in range(self.max_redirects + 1):
            pinned = await check_url(current, self.allow_private)
            response = await client.send(_pinned_request(client, current, pinned, headers), stream=True)
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {response.status_code} redirect without a Location from {current}")
                    current = str(httpx.URL(current).join(location))  # relative to the name, not the pinned address
                    continue
                if response.status_code >= 400:
                    raise FetchError(f"HTTP {response.status_code} from {current}")
                mime, _, params = response.headers.get("content-type", "").partition(";")
                mime = mime.strip().lower()
                if mime and mime not in TEXT_TYPES:
                    raise FetchError(f"skipped: content type '{mime}' is not HTML or plain text")
                body, truncated = await self._read(response)
                charset = _param(params, "charset")
            finally:
                await response.aclose()
            return self._page(url, current, response.status_code, mime, charset, body, truncated)
        raise FetchError(f"too many redirects (more than {self.max_redirects}) starting at {url}")

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        decoder = _Decompressor(response.headers.get("content-encoding", ""))
        parts: list[bytes] = []
        size = raw = 0
        async for data in response.aiter_raw():
            raw += len(data)
            out, more = decoder.feed(data, self.max_bytes - size + 1)
            parts.append(out)
            size += len(out)
            if size > self.max_bytes or more or raw > self.max_bytes * 4:
                return b"".join(parts)[: self.max_bytes], True
        return b"".join(parts), False

    def _page(self, url: str, final_url: str, status: int, mime: str, charset: str | None, body: bytes, truncated: bool) -> Page:
        if looks_binary(body):
            raise FetchError(f"skipped: binary content served as '{mime or 'no content type'}'")
        is_html = mime != "text/plain" and (mime in ("text/html", "application/xhtml+xml") or b"<html" in body[:2048].lower())
        text, encoding = decode_body(body, charset, html=is_html)
        title = ""
        if is_html:
            text, title = html_to_text(text)
        return Page(url, final_url, status, title, text, mime or ("text/html" if is_html else "text/plain"), encoding, truncated)


def _pinned_request(client: httpx.AsyncClient, url: str, address: str | None, headers: dict[str, str]) -> httpx.Request:
    """A request to ``url`` whose connection goes to the already vetted ``address``: the Host header and the
    TLS server name (SNI, and so certificate checks) keep the original host name."""
    if address is None:
        return client.build_request("GET", url, headers=headers)
    original = httpx.URL(url)
    target = original.copy_with(host=address)
    port = f":{original.port}" if original.port else ""
    extensions = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return client.build_request("GET", target, headers={**headers, "Host": f"{original.host}{port}"}, extensions=extensions)


def _param(params: str, name: str) -> str | None:
    for part in params.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip("\"'")
    return None


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "SSL" in text or "certificate" in text.lower():
            return f"TLS error: {text}"
        if "Name or service not known" in text or "nodename" in text or "getaddrinfo" in text:
            return f"cannot resolve host: {text}"
        return f"cannot connect: {text}"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    return f"{type(exc).__name__}: {text}"
