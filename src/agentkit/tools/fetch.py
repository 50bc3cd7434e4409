"""Fetching web pages concurrently and safely.

Every hop of a redirect chain passes the URL guard (``tools.safety``); each page has its own time limit
and the batch a total budget, both covering the download *and* the text extraction (which runs in a worker
process that is killed when time is up), so one slow-loris or slow-to-parse page cannot hold up the rest;
bodies are read (and decompressed, every gzip member) up to ``max_bytes`` and no further, and the decoded
text is capped too, so a huge page, a gzip bomb or a codec posing as a charset is bounded; only HTML and
plain text are read. Any failure — a malformed URL, a bad charset, a crash — is reported on that page
(``Page.error``) and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from agentkit.concurrency import run_sync
from agentkit.errors import FetchError
from agentkit.tools.cache import WebCache
from agentkit.tools.extract import (
    DEFAULT_HTML_EXTRACTOR,
    ExtractorPool,
    decode_body,
    looks_binary,
)
from agentkit.tools.safety import check_url

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 agentkit/0.1"
ACCEPT_ENCODING = "gzip, deflate"  # what _Decompressor can undo
__all__ = ["Fetcher", "Page", "decode_body", "header_param", "looks_binary", "open_guarded", "read_capped"]


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


class _Decompressor:
    """gzip/deflate with an output cap, so a bomb inflates to ``limit`` bytes and no more.

    A gzip body may hold several members back to back (RFC 1952; ``cat a.gz b.gz``): all are decoded, as
    ``gzip -d`` does; zero padding after the last member is skipped, and other trailing bytes end the body.
    """

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self._gzip = encoding in ("gzip", "x-gzip")
        self._done = False  # trailing garbage after a complete gzip member: ignore the rest
        if encoding in ("", "identity"):
            self._z = None
        elif self._gzip:
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise FetchError(f"unsupported content-encoding '{encoding}'", "the server ignored our Accept-Encoding")

    def feed(self, data: bytes, limit: int) -> tuple[bytes, bool]:
        """Decoded bytes (at most ``limit``) and whether output was left over."""
        if self._z is None:
            return data[:limit], len(data) > limit
        out = bytearray()
        while not self._done:
            if self._z.eof:
                if not self._gzip:
                    break
                data = (self._z.unused_data + data).lstrip(b"\0")
                if not data:
                    break
                if not data.startswith(b"\x1f\x8b"[: len(data)]):
                    self._done = True
                    break
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            room = limit - len(out)
            if room <= 0:  # zlib's max_length=0 would mean "no limit"
                return bytes(out), True
            try:
                out += self._z.decompress(data, room)
            except zlib.error as exc:
                raise FetchError(f"corrupt compressed body ({exc})", "the server sent a broken page") from None
            if self._z.unconsumed_tail:
                return bytes(out), True
            if not (self._z.eof and self._z.unused_data):
                break
            data = b""
        return bytes(out), False


class Fetcher:
    """Fetches pages: ``fetch(url)``, ``fetch_many(urls)`` (and ``afetch``/``afetch_many``).

    ``timeout`` bounds each page: connect, every byte (so a trickling server is cut off) and the extraction of
    its text; ``total_timeout`` bounds a whole ``fetch_many``; ``max_bytes`` caps the decompressed body and the
    decoded text (the page is marked ``truncated``). ``html_extractor`` is an importable ``module:function``
    mapping HTML to (text, title); it runs in a worker process. The sync methods also work inside a running
    event loop (a notebook).

    ``render=True`` loads each page in a headless Chromium so that text built by JavaScript is read, under the
    same guard, limits and extraction (``agentkit.tools.render``; needs the ``render`` extra and a system
    Chromium, found through ``browser``, ``$AGENTKIT_CHROMIUM`` or ``PATH``).
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
        html_extractor: str = DEFAULT_HTML_EXTRACTOR,
        render: bool = False,
        browser: str | None = None,
    ) -> None:
        if timeout <= 0 or total_timeout <= 0:
            raise FetchError(f"timeouts must be positive (timeout={timeout}, total_timeout={total_timeout})", "pass seconds > 0")
        if max_bytes < 1:
            raise FetchError(f"max_bytes={max_bytes} must be >= 1", "pass a positive byte cap")
        if not all(html_extractor.partition(":")[::2]):
            raise FetchError(f"html_extractor={html_extractor!r} is not 'module:function'", f"e.g. {DEFAULT_HTML_EXTRACTOR!r}")
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.allow_private = allow_private
        self.concurrency = max(1, concurrency)
        self.user_agent = user_agent
        self.cache = cache
        self.verify = verify
        self.html_extractor = html_extractor
        self.render = render
        self.browser = browser

    # ---- public API ----------------------------------------------------------------------------

    def fetch(self, url: str) -> Page:
        return run_sync(self.afetch(url))

    def fetch_many(self, urls: Sequence[str]) -> list[Page]:
        return run_sync(self.afetch_many(urls))

    async def afetch(self, url: str) -> Page:
        return (await self.afetch_many([url]))[0]

    async def afetch_many(self, urls: Sequence[str]) -> list[Page]:
        """Pages in the order of ``urls``; failures carry ``error``. Returns within ``total_timeout`` (plus the
        moment it takes to stop the extraction workers, and when rendering the browser's start, bounded on its own).
        Never raises for one page's sake; rendering without Playwright or a browser raises for the batch."""
        pages: dict[int, Page] = {}
        todo: list[tuple[int, str]] = []
        for i, url in enumerate(urls):
            cached = self.cache.get("page", self._cache_key(url)) if self.cache else None
            if cached is not None:
                pages[i] = Page.from_dict(cached)
            else:
                todo.append((i, url))
        if todo:
            if self.render:
                from agentkit.tools.render import render_batch  # Playwright is imported only when asked for

                fetched = await render_batch(self, [url for _, url in todo])
            else:
                fetched = await self._fetch_batch([url for _, url in todo])
            pages.update(zip((i for i, _ in todo), fetched, strict=True))
            if self.cache:
                for i, _ in todo:
                    if pages[i].ok:
                        self.cache.put("page", self._cache_key(pages[i].url), pages[i].to_dict())
        return [pages[i] for i in range(len(urls))]

    def _cache_key(self, url: str) -> str:
        # A page fetched with allow_private must not be served to a fetcher that forbids it; a rendered page
        # (JavaScript ran) is not the page a plain fetch reads.
        extractor = "" if self.html_extractor == DEFAULT_HTML_EXTRACTOR else f"{self.html_extractor}|"
        return f"{'private-ok' if self.allow_private else 'public'}|{'render|' if self.render else ''}{extractor}{url}"

    def client(self) -> httpx.AsyncClient:
        """The HTTP client for one batch: no redirects followed by httpx (``open_guarded`` follows them), no proxy
        or settings from the environment."""
        limits = httpx.Limits(max_connections=self.concurrency)
        return httpx.AsyncClient(follow_redirects=False, timeout=httpx.Timeout(self.timeout), limits=limits, verify=self.verify, trust_env=False)

    async def _fetch_batch(self, urls: Sequence[str]) -> list[Page]:
        async with self.client() as client, ExtractorPool(min(self.concurrency, len(urls))) as extractors:
            return await run_batch(urls, lambda url: timed(url, self._get(client, extractors, url), self.timeout), self.total_timeout, self.concurrency)

    # ---- one page ------------------------------------------------------------------------------

    async def _get(self, client: httpx.AsyncClient, extractors: ExtractorPool, url: str) -> Page:
        headers = {"User-Agent": self.user_agent, "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1", "Accept-Encoding": ACCEPT_ENCODING}
        async with open_guarded(client, url, headers, allow_private=self.allow_private, max_redirects=self.max_redirects) as (current, response):
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} from {current}")
            mime, _, params = response.headers.get("content-type", "").partition(";")
            mime = mime.strip().lower()
            if mime and mime not in TEXT_TYPES:
                raise FetchError(f"skipped: content type '{mime}' is not HTML or plain text")
            body, truncated = await read_capped(response, self.max_bytes)
            charset = header_param(params, "charset")
        # Still inside the page's wait_for: a page that is slow to extract times out like a slow download.
        text = await extractors.extract(body, mime, charset, self.max_bytes, self.html_extractor)
        return Page(url, current, response.status_code, text.title, text.text, text.content_type, text.encoding, truncated or text.truncated)


# ---- the pieces a fetch is made of (shared with the rendering fetcher, tools.render) ------------------------


async def run_batch(urls: Sequence[str], one: Callable[[str], Awaitable[Page]], total_timeout: float, concurrency: int) -> list[Page]:
    """``one(url)`` for every URL, at most ``concurrency`` at a time, within ``total_timeout``: pages in the order
    of ``urls``; a page still running when the budget is spent is cancelled and says so."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def gated(url: str) -> Page:
        async with gate:
            return await one(url)

    tasks = [asyncio.create_task(gated(url)) for url in urls]
    done, pending = await asyncio.wait(tasks, timeout=total_timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    return [
        task.result() if task in done else Page(url, error=f"not fetched: the total budget of {total_timeout:g}s ran out", seconds=total_timeout)
        for task, url in zip(tasks, urls, strict=True)
    ]


async def timed(url: str, get: Awaitable[Page], timeout: float) -> Page:
    """``get`` within ``timeout`` seconds, every failure turned into this page's ``error``, ``seconds`` filled in."""
    started = time.perf_counter()
    try:
        page = await asyncio.wait_for(get, timeout)
    except FetchError as exc:
        page = Page(url, error=exc.message)
    except (TimeoutError, httpx.TimeoutException):
        page = Page(url, error=f"timed out after {timeout:g}s")
    except httpx.HTTPError as exc:
        page = Page(url, error=_describe(exc))
    except (httpx.InvalidURL, UnicodeError) as exc:  # a malformed host or Location (IDNA) past the guard
        page = Page(url, error=f"refused {url!r}: malformed URL ({exc})")
    except Exception as exc:  # one hostile page must never sink the batch
        page = Page(url, error=f"failed: {type(exc).__name__}: {exc}")
    return Page(**{**page.to_dict(), "seconds": time.perf_counter() - started})


@contextlib.asynccontextmanager
async def open_guarded(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], *, allow_private: bool, max_redirects: int, method: str = "GET",
) -> AsyncIterator[tuple[str, httpx.Response]]:
    """``(final_url, response)`` at the end of ``url``'s redirect chain, the response streaming (closed on exit).

    Every hop passes the URL guard first and its connection is pinned to the address the guard vetted; a redirect
    without a Location, or more than ``max_redirects`` of them, raises FetchError."""
    current = url
    for _ in range(max_redirects + 1):
        pinned = await check_url(current, allow_private)
        response = await client.send(_pinned_request(client, current, pinned, headers, method), stream=True)
        try:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {response.status_code} redirect without a Location from {current}")
                current = str(httpx.URL(current).join(location))  # relative to the name, not the pinned address
                continue
            yield current, response
            return
        finally:
            await response.aclose()
    raise FetchError(f"too many redirects (more than {max_redirects}) starting at {url}")


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The decompressed body, at most ``limit`` bytes, and whether it was cut (also when the compressed bytes
    alone run past four times the cap)."""
    decoder = _Decompressor(response.headers.get("content-encoding", ""))
    parts: list[bytes] = []
    size = raw = 0
    async for data in response.aiter_raw():
        raw += len(data)
        out, more = decoder.feed(data, limit - size + 1)
        parts.append(out)
        size += len(out)
        if size > limit or more or raw > limit * 4:
            return b"".join(parts)[:limit], True
    return b"".join(parts), False


def _pinned_request(client: httpx.AsyncClient, url: str, address: str | None, headers: dict[str, str], method: str = "GET") -> httpx.Request:
    """A request to ``url`` whose connection goes to the already vetted ``address``: the Host header and the
    TLS server name (SNI, and so certificate checks) keep the original host name."""
    if address is None:
        return client.build_request(method, url, headers=headers)
    original = httpx.URL(url)
    target = original.copy_with(host=address)
    port = f":{original.port}" if original.port else ""
    extensions = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return client.build_request(method, target, headers={**headers, "Host": f"{original.host}{port}"}, extensions=extensions)


def header_param(params: str, name: str) -> str | None:
    """``name``'s value in a header's parameters (``"; charset=big5"`` → ``big5``), or None."""
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
