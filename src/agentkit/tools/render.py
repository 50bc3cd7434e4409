"""Reading pages in a headless Chromium, so that text built by JavaScript is read too (``Fetcher(render=True)``).

The browser is a system Chromium (Debian's ``chromium``; ``$AGENTKIT_CHROMIUM`` or ``PATH``) driven by Playwright;
nothing here downloads a browser. The rendering fetcher keeps the plain fetcher's promises:

- **Every request goes through agentkit.** The browser fetches nothing itself: a route handler answers each
  request the page makes (the document, scripts, stylesheets, XHR/fetch, every redirect hop) by fetching it along
  the plain fetcher's path — URL guard, connection pinned to the vetted address (so DNS rebinding between check and
  connect is impossible), decompression under the byte cap — and fulfilling it with the bytes. Redirects are
  followed here, hop by hop, because Chromium does not route the next hop of a redirect it is handed; the
  document's own redirects are resolved before the browser opens it, so the page sees its real URL. Refused:
  methods other than GET/HEAD (a reader does not post forms), resource types other than the document, scripts,
  stylesheets and XHR/fetch (images, fonts, media, beacons, event streams, frames, prefetches), WebSockets,
  service workers, downloads and popups. As a second wall the browser resolves no host name and sends whatever
  it might not route to a proxy that does not exist, so a request that escaped routing fails instead of connecting.
- **Time.** ``timeout`` bounds each page from its first request to its extracted text: the browser waits for the
  ``load`` event and then for the network to go quiet (500 ms without requests), until 70% of the page's time is
  used (or until 3 s before its end, when that is later); a page that has not finished loading by then is read as
  rendered so far and marked ``truncated``. The rest is for reading the page and extracting its text; a page whose scripts hang the renderer fails with
  "timed out after Ns". ``total_timeout`` bounds the batch; the browser's start has its own bound,
  ``LAUNCH_TIMEOUT``.
- **Bytes.** ``max_bytes`` bounds all bytes fulfilled for one page together (a response that would pass it is
  refused and the page marked ``truncated``), and the rendered page is cut at ``max_bytes`` before extraction.
- **Text.** The rendered page is read in an isolated world the page's scripts cannot reach
  (``render_snapshot.js``): text the browser does not paint is left out there, judged on computed styles and
  layout, so stylesheets fetched or built by scripts count; the result then goes through the same bounded
  ``extract_html`` in the same killable worker process as a plain page.

Not promised: Chromium's sandbox when running as root (Chromium refuses it; it is on otherwise); CORS between the
page's origins (Playwright adds allow headers to fulfilled cross-origin responses and answers preflights itself:
the guard, not CORS, keeps internal addresses out, and a fresh context per page holds no credentials); text in
closed shadow roots, canvas or images; text that scripts add after the network has gone quiet; memory beyond a
512 MB JavaScript heap per page; and anything the page does inside the browser that needs no network (it runs
arbitrary JavaScript, confined as described).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import ModuleType
from typing import Any
from urllib.parse import urldefrag

import httpx

from agentkit.errors import FetchError
from agentkit.extras import require
from agentkit.tools.extract import ExtractorPool, decode_body, looks_binary
from agentkit.tools.fetch import ACCEPT_ENCODING, TEXT_TYPES, Fetcher, Page, header_param, open_guarded, read_capped, run_batch, timed

log = logging.getLogger(__name__)

BROWSER_ENV = "AGENTKIT_CHROMIUM"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = f"install Chromium (Debian/Ubuntu: apt-get install chromium; in a checkout: make browser) or set {BROWSER_ENV}=/path/to/chromium"
LAUNCH_TIMEOUT = 30.0
ROUTED_TYPES = frozenset({"document", "script", "stylesheet", "xhr", "fetch"})
METHODS = frozenset({"GET", "HEAD"})
MAX_NODES = 500_000  # nodes the snapshot visits; past it the page is cut (fail closed)
# The second wall: no name resolves inside the browser, and everything not routed goes to a proxy that cannot
# be reached (loopback included: <-loopback> removes Chromium's implicit bypass), so a connection the browser
# opens on its own (a preconnect, a request Chromium does not route) fails. WebRTC may not use UDP outside the
# proxy. Then less background traffic than Playwright's defaults leave, and a bound on each page's JS heap.
CHROMIUM_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://proxy.invalid:9",
    "--proxy-bypass-list=<-loopback>",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--force-webrtc-ip-handling-policy",
    "--dns-prefetch-disable",
    "--no-pings",
    "--disable-dev-shm-usage",
    "--js-flags=--max-old-space-size=512",
)
FORWARDED_HEADERS = ("accept", "accept-language", "referer", "origin", "cookie", "x-requested-with", "content-type")
# Hop-by-hop and encoding headers (the body is already decoded), and any that would make the browser go somewhere
# on its own: a Location (agentkit has followed every redirect; the browser is never handed one), Link preconnects.
DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive", "alt-svc", "trailer", "upgrade",
                             "location", "link"})
SNAPSHOT_JS = resources.files("agentkit.tools").joinpath("render_snapshot.js").read_text(encoding="utf-8")


class BrowserNotFoundError(FetchError):
    """No Chromium to render pages with."""


def find_browser(explicit: str | None = None) -> str:
    """The Chromium to run: ``explicit``, else ``$AGENTKIT_CHROMIUM``, else the first of ``BROWSER_NAMES`` on PATH.

    A name that is given but not found is an error (never a silent fall-back to another browser)."""
    for origin, value in (("browser=", explicit), (f"${BROWSER_ENV}", os.environ.get(BROWSER_ENV))):
        if value:
            path = shutil.which(value)
            if path is None:
                raise BrowserNotFoundError(f"rendering needs Chromium, and {origin}{value!r} is not an executable", INSTALL_HINT)
            return path
    for name in BROWSER_NAMES:
        if path := shutil.which(name):
            return path
    raise BrowserNotFoundError(f"rendering needs Chromium, and none was found (${BROWSER_ENV} is unset; no {', '.join(BROWSER_NAMES)} on PATH)", INSTALL_HINT)


async def render_batch(fetcher: Fetcher, urls: Sequence[str]) -> list[Page]:
    """``fetcher``'s pages, rendered, in the order of ``urls`` (one browser for the batch, one context per page).

    Raises (for the whole batch) when Playwright or the browser is missing or the browser does not start; every
    other failure is that page's ``error``."""
    api = require("playwright.async_api", "render", "rendering pages (--render)")
    executable = find_browser(fetcher.browser)
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(fetcher.client())
        extractors = await stack.enter_async_context(ExtractorPool(min(fetcher.concurrency, len(urls))))
        browser = await _launch(stack, api, executable)
        renderer = _Renderer(fetcher, api, browser, client, extractors)
        return await run_batch(urls, lambda url: timed(url, renderer.render(url), fetcher.timeout), fetcher.total_timeout, fetcher.concurrency)


async def _launch(stack: contextlib.AsyncExitStack, api: ModuleType, executable: str) -> Any:
    playwright = await stack.enter_async_context(api.async_playwright())
    sandbox = getattr(os, "geteuid", lambda: 1)() != 0  # Chromium will not run its sandbox as root
    try:
        browser = await asyncio.wait_for(
            playwright.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS), chromium_sandbox=sandbox, timeout=LAUNCH_TIMEOUT * 1000),
            LAUNCH_TIMEOUT + 5,
        )
    except (api.Error, TimeoutError) as exc:
        raise FetchError(f"cannot start the browser {executable}: {_first_line(exc) or 'no answer'}",
                         f"check that `{executable} --headless --dump-dom about:blank` works, or set {BROWSER_ENV} to another Chromium") from None
    stack.push_async_callback(_quietly, browser.close(), 10)
    return browser


@dataclass(frozen=True)
class _Response:
    url: str  # after redirects
    status: int
    headers: dict[str, str]  # for the browser: hop-by-hop and encoding headers removed
    body: bytes
    truncated: bool

    @property
    def mime(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()


@dataclass
class _PageState:
    """What one page's requests have used so far; lives as long as the page."""

    document: _Response
    used: int = 0
    truncated: bool = False
    navigations: int = 0
    refused: list[str] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    main_frame: Any = None


class _Renderer:
    """One batch's browser, HTTP client and extractors; ``render(url)`` reads one page."""

    def __init__(self, fetcher: Fetcher, api: ModuleType, browser: Any, client: httpx.AsyncClient, extractors: ExtractorPool) -> None:
        self.f = fetcher
        self.api = api
        self.browser = browser
        self.client = client
        self.extractors = extractors

    async def render(self, url: str) -> Page:
        f = self.f
        loop = asyncio.get_running_loop()
        deadline = loop.time() + f.timeout
        settle_until = deadline - min(3.0, 0.3 * f.timeout)  # the rest is for reading the page and extracting its text
        doc = await self._fetch(url, {"accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"}, f.max_bytes)
        if doc.status >= 400:
            raise FetchError(f"HTTP {doc.status} from {doc.url}")
        if doc.mime and doc.mime not in TEXT_TYPES:
            raise FetchError(f"skipped: content type '{doc.mime}' is not HTML or plain text")
        if looks_binary(doc.body):
            raise FetchError(f"skipped: binary content served as '{doc.mime or 'no content type'}'")
        # The browser would take an unlabelled page for windows-1252; it gets the page as the plain fetcher decodes
        # it (BOM, header, <meta charset>, detection; WHATWG encodings only), in UTF-8 and labelled so.
        charset = header_param(doc.headers.get("content-type", "").partition(";")[2], "charset")
        decoded, encoding = await asyncio.to_thread(decode_body, doc.body, charset, doc.mime != "text/plain")  # detection is CPU work
        utf8 = {**doc.headers, "content-type": f"{doc.mime or 'text/html'}; charset=utf-8"}
        state = _PageState(_Response(doc.url, doc.status, utf8, decoded.encode("utf-8", "replace"), doc.truncated), used=len(doc.body), truncated=doc.truncated)
        context = await self.browser.new_context(user_agent=f.user_agent, service_workers="block", accept_downloads=False)
        try:
            await context.route("**/*", lambda route: self._route(state, route))
            await context.route_web_socket(lambda _url: True, lambda ws: self._refuse_socket(state, ws))
            page = await context.new_page()
            state.main_frame = page.main_frame
            context.on("page", lambda other: None if other == page else _quietly(other.close(), 5))  # window.open: closed unread
            if settle_until <= loop.time():
                raise TimeoutError  # the document alone took the time: reported as the page's timeout
            try:
                await page.goto(doc.url, wait_until="commit", timeout=_ms(settle_until - loop.time()))
            except self.api.Error as exc:
                raise FetchError(state.refused[0] if state.refused else f"the browser could not open {doc.url}: {_first_line(exc)}") from None
            loaded = await self._wait(page, "load", settle_until)
            if loaded:
                await self._wait(page, "networkidle", settle_until)
            snap = await self._snapshot(context, page, deadline)
            html = snap["html"].encode("utf-8", "replace")  # a script can leave lone surrogates in the DOM
            # Still inside the page's time limit: extraction that runs over is killed with its worker.
            text = await self.extractors.extract(html[: f.max_bytes], "text/html", "utf-8", f.max_bytes, f.html_extractor)
            truncated = not loaded or state.truncated or snap["full"] or snap["cut"] or len(html) > f.max_bytes or text.truncated
            if not loaded:
                log.info("rendered %s: still loading when its time to settle ran out; read as rendered so far", url)
            return Page(url, page.url, doc.status, text.title or snap["title"][:1000], text.text, doc.mime or "text/html", encoding, truncated)
        finally:
            for task in list(state.tasks):
                task.cancel()
            await _quietly(context.close(), 5)

    async def _wait(self, page: Any, event: str, until: float) -> bool:
        remaining = until - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        try:
            await page.wait_for_load_state(event, timeout=remaining * 1000)
        except self.api.TimeoutError:
            return False
        return True

    async def _snapshot(self, context: Any, page: Any, deadline: float) -> dict[str, Any]:
        """``render_snapshot.js`` in an isolated world: the shown part of the page as HTML, and what cut it."""
        cdp = await context.new_cdp_session(page)
        try:
            tree = await cdp.send("Page.getFrameTree")
            world = await cdp.send("Page.createIsolatedWorld", {"frameId": tree["frameTree"]["frame"]["id"], "worldName": "agentkit-snapshot"})
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            result = await cdp.send("Runtime.evaluate", {
                "expression": f"({SNAPSHOT_JS})({int(self.f.max_bytes)}, {MAX_NODES})",
                "contextId": world["executionContextId"], "returnByValue": True, "timeout": int(remaining * 1000),
            })
        finally:
            await _quietly(cdp.detach(), 2)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise FetchError(f"reading the rendered page failed: {details.get('exception', {}).get('description') or details.get('text')}")
        value: dict[str, Any] = result["result"]["value"]
        return value

    # ---- the page's requests -------------------------------------------------------------------

    async def _route(self, state: _PageState, route: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            state.tasks.add(task)
        try:
            refusal = await self._answer(state, route)
            if refusal:
                state.refused.append(refusal)
                log.info("rendering %s: %s", state.document.url, refusal)
                await route.abort("blockedbyclient")
        except Exception as exc:  # a failed request fails alone; the page goes on without it
            log.debug("rendering %s: %s failed: %s", state.document.url, route.request.url, exc)
            with contextlib.suppress(Exception):
                await route.abort("failed")
        finally:
            if task is not None:
                state.tasks.discard(task)

    async def _answer(self, state: _PageState, route: Any) -> str:
        """Fulfil ``route`` through agentkit's fetch path, or return why it is refused."""
        request = route.request
        kind, method, url = request.resource_type, request.method, request.url
        if kind not in ROUTED_TYPES:
            await route.abort("blockedbyclient")  # not text: skipped quietly
            return ""
        if method not in METHODS:
            return f"refused {method} {url}: the renderer only reads (GET, HEAD)"
        try:
            main = request.is_navigation_request() and request.frame == state.main_frame
        except self.api.Error:  # a request with no frame (a worker's)
            main = False
        if kind == "document" and not main:
            await route.abort("blockedbyclient")  # frames are not read (as in the plain fetcher)
            return ""
        if main:
            state.navigations += 1
            if state.navigations > self.f.max_redirects + 1:
                return f"refused navigation to {url}: more than {self.f.max_redirects} after the first"
            if state.navigations == 1 and _same(url, state.document.url):
                await self._fulfil(route, state.document)  # fetched (and counted) already
                return ""
        room = self.f.max_bytes - state.used
        headers = await request.all_headers()
        try:
            response = await self._fetch(url, {k: v for k, v in headers.items() if k.lower() in FORWARDED_HEADERS}, max(room, 0), method)
        except FetchError as exc:
            return exc.message
        state.used += len(response.body)
        if response.truncated:
            state.truncated = True
            return f"refused {url}: the page's byte budget ({self.f.max_bytes}) is spent"
        await self._fulfil(route, response)
        return ""

    async def _fetch(self, url: str, headers: dict[str, str], limit: int, method: str = "GET") -> _Response:
        f = self.f
        headers = {**headers, "user-agent": f.user_agent, "accept-encoding": ACCEPT_ENCODING}
        async with open_guarded(self.client, url, headers, allow_private=f.allow_private, max_redirects=f.max_redirects, method=method) as (final, response):
            body, truncated = (b"", False) if method == "HEAD" else await read_capped(response, limit)
            kept: dict[str, str] = {}
            for name, value in response.headers.multi_items():
                name = name.lower()
                if name not in DROPPED_HEADERS:
                    kept[name] = f"{kept[name]}\n{value}" if name in kept else value  # Playwright's way to repeat a header
            return _Response(final, response.status_code, kept, body, truncated)

    async def _fulfil(self, route: Any, response: _Response) -> None:
        await route.fulfill(status=response.status, headers=response.headers, body=response.body)

    async def _refuse_socket(self, state: _PageState, socket: Any) -> None:
        state.refused.append(f"refused WebSocket {socket.url}")
        log.info("rendering %s: refused WebSocket %s", state.document.url, socket.url)
        await socket.close(code=1008, reason="refused by agentkit")


def _same(a: str, b: str) -> bool:
    """Two URLs that name the same document (fragments and URL spelling aside)."""
    try:
        return httpx.URL(urldefrag(a).url) == httpx.URL(urldefrag(b).url)
    except (httpx.InvalidURL, ValueError):
        return False


def _ms(seconds: float) -> float:
    return max(1.0, seconds * 1000)


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


async def _quietly(awaitable: Awaitable[Any], timeout: float) -> None:
    """Await a clean-up step, bounded; failures of a page that is going away do not matter."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(awaitable, timeout)
