"""The rendering fetcher (``Fetcher(render=True)``, ``--render``) in a real headless Chromium against the local
site on 127.0.0.1 (tests/web_site.py). No other address is ever connected to.

Chromium is heavy on the shared 2-core box, so each module-scoped fixture renders one batch of pages with one
browser, and the tests assert on its pages: six browser starts in all (three batches, one unrouted browser, two
CLI runs). Without
Chromium (``make browser`` installs it where it may) or Playwright these tests skip with the reason; the tests of
what happens without a browser run everywhere.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit.tools import Fetcher, Page
from agentkit.tools.render import BROWSER_ENV, BrowserNotFoundError, find_browser
from tests.conftest import run_cli
from tests.web_site import HANG_TEXT, INJECTION, JS_TEXT, JS_TEXT_EN, LOADING, VISIBLE, Site


def _why_not() -> str:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install 'agentkit-rag[render]')"
    try:
        find_browser()
    except BrowserNotFoundError as exc:
        return f"no Chromium on this machine: `make browser` installs it (root + apt-get), or set {BROWSER_ENV} ({exc.message})"
    return ""


WHY_NOT = _why_not()
needs_browser = pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT)
needs_playwright = pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="Playwright is not installed")


def _paths(site: Site, paths: list[str]) -> dict[str, Page]:
    return dict(zip(paths, Fetcher(render=True, allow_private=True, timeout=20, total_timeout=90).fetch_many([site.url(p) for p in paths]), strict=True))


@pytest.fixture(scope="module")
def rendered(web_site: Site) -> dict[str, Page]:
    """One browser, the ordinary pages. A generous per-page time: the box is shared and loaded."""
    return _paths(web_site, ["/js/page.html", "/js/hidden.html", "/redirect-js", "/utf8.html", "/big5.html", "/gb2312.html", "/js/big.html"])


CUT = 10.0  # per-page seconds in the `cut` batch: 7 s to load, 3 s to read the page and extract its text


@pytest.fixture(scope="module")
def cut(web_site: Site) -> dict[str, Page]:
    """One browser, a short per-page time: a page that never finishes loading, one whose script never yields, and
    an ordinary one beside them. Fetched through the sync API from inside a running event loop (a notebook cell)."""
    paths = ["/js/hang.html", "/js/spin.html", "/js/page.html"]
    fetcher = Fetcher(render=True, allow_private=True, timeout=CUT, total_timeout=60)

    async def notebook_cell() -> list[Page]:
        assert asyncio.get_running_loop().is_running()
        return fetcher.fetch_many([web_site.url(p) for p in paths])

    return dict(zip(paths, asyncio.run(notebook_cell()), strict=True))


@pytest.fixture(scope="module")
def guarded(web_site: Site) -> Iterator[tuple[Page, list[str], list[tuple[str, str]]]]:
    """The guard with ``allow_private=False``, which loopback-only tests cannot reach directly: resolution is stubbed
    so 'site.invalid' is the test site (127.0.0.1, declared public for this test alone) and 'internal.invalid'
    is ::ffff:127.0.0.1 — judged by the real rule, so refused as loopback. Were the guard skipped, the request
    would still reach only this site (an IPv4-mapped loopback address), where ``Site.seen`` would show it.
    Yields the page, the renderer's log lines, and the site's requests during the render."""
    import agentkit.tools.safety as safety

    real_is_public = safety.is_public_address
    table = {"site.invalid": "127.0.0.1", "internal.invalid": "::ffff:127.0.0.1"}

    async def resolve(self, host, port, **kw):  # type: ignore[no-untyped-def]
        address = table.get(host, host)
        if ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("agentkit.tools.render")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    before = len(web_site.seen)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", resolve)
            mp.setattr(safety, "is_public_address", lambda address: address == "127.0.0.1" or real_is_public(address))
            page = Fetcher(render=True, timeout=20, total_timeout=60).fetch(f"http://site.invalid:{web_site.port}/js/guard.html")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    yield page, records, web_site.seen[before:]


# ---- rendering --------------------------------------------------------------------------------------------


@needs_browser
def test_javascript_text_appears_only_when_rendered(web_site: Site, rendered: dict[str, Page]) -> None:
    plain = Fetcher(allow_private=True).fetch(web_site.url("/js/page.html"))
    assert plain.ok and LOADING in plain.text and JS_TEXT not in plain.text
    page = rendered["/js/page.html"]
    assert page.ok, page.error
    assert JS_TEXT in page.text and JS_TEXT_EN in page.text and LOADING not in page.text
    assert page.title == "Mountains" and not page.truncated


@needs_browser
def test_every_request_of_the_page_goes_through_agentkit(web_site: Site, rendered: dict[str, Page]) -> None:
    """The browser's own network stack would ask for br/zstd; agentkit's fetch path asks for what it can undo."""
    subresources = [encoding for path, encoding in web_site.seen if path in ("/js/app.js", "/js/data.json", "/js/hide.css", "/js/hidden.js")]
    assert len(subresources) >= 4
    assert set(subresources) == {"gzip, deflate"}


@needs_browser
def test_hidden_text_is_removed_after_rendering(rendered: dict[str, Page]) -> None:
    page = rendered["/js/hidden.html"]
    assert page.ok, page.error
    assert VISIBLE in page.text
    assert INJECTION not in page.text, page.text


@needs_browser
def test_redirected_document_keeps_its_real_url(web_site: Site, rendered: dict[str, Page]) -> None:
    page = rendered["/redirect-js"]
    assert page.ok, page.error
    assert page.final_url == web_site.url("/js/page.html")
    assert JS_TEXT in page.text  # its relative script URL resolved against the real URL


@needs_browser
def test_static_big5_and_gb2312_pages_read_as_the_plain_fetcher_reads_them(web_site: Site, rendered: dict[str, Page]) -> None:
    paths = ["/utf8.html", "/big5.html", "/gb2312.html"]  # English, Traditional Chinese (header), Simplified (<meta> only)
    plain = Fetcher(allow_private=True).fetch_many([web_site.url(p) for p in paths])
    for page, expected in zip((rendered[p] for p in paths), plain, strict=True):
        assert page.ok, page.error
        assert " ".join(page.text.split()) == " ".join(expected.text.split())
        assert (page.title, page.encoding) == (expected.title, expected.encoding)


@needs_browser
def test_byte_cap_covers_the_pages_requests(rendered: dict[str, Page]) -> None:
    page = rendered["/js/big.html"]
    assert page.ok, page.error
    assert "Before the big request." in page.text and "huge: refused" in page.text
    assert page.truncated


# ---- time ----------------------------------------------------------------------------------------------------


@needs_browser
def test_page_that_never_finishes_loading_is_cut_at_the_timeout(cut: dict[str, Page]) -> None:
    page = cut["/js/hang.html"]
    assert page.ok, page.error
    assert HANG_TEXT in page.text and "never parsed" not in page.text
    assert page.truncated
    assert CUT * 0.6 <= page.seconds <= CUT + 3


@needs_browser
def test_renderer_hung_by_a_script_fails_alone_on_time(cut: dict[str, Page]) -> None:
    page = cut["/js/spin.html"]
    assert not page.ok and f"timed out after {CUT:g}s" in page.error
    assert page.seconds <= CUT + 6  # the time limit, plus closing its browser context
    assert cut["/js/page.html"].ok and JS_TEXT in cut["/js/page.html"].text


@needs_browser
def test_sync_api_works_inside_a_running_event_loop(cut: dict[str, Page]) -> None:
    assert all(page.url for page in cut.values()) and cut["/js/page.html"].ok


# ---- the URL guard in the browser ------------------------------------------------------------------------------


@needs_browser
def test_requests_of_the_page_to_private_addresses_are_refused(guarded: tuple[Page, list[str], list[tuple[str, str]]]) -> None:
    page, log, seen = guarded
    assert page.ok, page.error
    assert "same host: read" in page.text  # the guard let the vetted host through
    for name in ("private name", "redirect to private", "private literal"):
        assert f"{name}: blocked" in page.text, page.text
    paths = [path for path, _ in seen]
    assert "/js/to-internal" in paths  # the redirect itself was fetched; its next hop was not
    assert not [p for p in paths if p.startswith("/js/secret") or p == "/js/ws"], paths
    assert any("internal.invalid" in line and "non-public address ::ffff:127.0.0.1" in line for line in log), log
    assert any("secret-redirected" in line and "non-public" in line for line in log), log
    assert any("secret-literal" in line and "non-public address ::ffff:7f00:1" in line for line in log), log  # as Chromium spells it
    assert any("refused WebSocket" in line for line in log), log


@needs_browser
def test_browser_cannot_connect_on_its_own(web_site: Site) -> None:
    """The second wall, without the route handler: with the renderer's launch flags even the loopback test site is
    out of the browser's reach (no name resolves; everything goes to a proxy that does not exist)."""
    from playwright.async_api import Error, async_playwright

    from agentkit.tools.render import CHROMIUM_ARGS

    async def unrouted() -> list[str]:
        outcomes = []
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=find_browser(), args=list(CHROMIUM_ARGS))
            page = await browser.new_page()
            for url in (web_site.url("/js/secret-direct"), f"http://localhost:{web_site.port}/js/secret-direct"):
                try:
                    await page.goto(url, timeout=15_000)
                    outcomes.append("loaded")
                except Error as exc:
                    outcomes.append(str(exc).splitlines()[0])
            blank = await browser.new_page()  # the first one may still be settling on its error page
            await blank.set_content(f'<link rel="preconnect" href="{web_site.base}"><img src="{web_site.url("/js/secret-img")}">')
            await browser.close()
        return outcomes

    outcomes = asyncio.run(unrouted())
    assert all("ERR_PROXY_CONNECTION_FAILED" in o for o in outcomes), outcomes
    assert not [path for path, _ in web_site.seen if path.startswith("/js/secret")]


# ---- the command line and the web source ----------------------------------------------------------------------


@needs_browser
def test_cli_fetch_render_reads_javascript_text(web_site: Site) -> None:
    proc = run_cli("fetch", web_site.url("/js/page.html"), "--render", "--allow-private", "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert JS_TEXT in data["text"] and LOADING not in data["text"]


@needs_browser
def test_cli_search_render_reads_the_hits(web_site: Site) -> None:
    proc = run_cli("search", "yushan", "--backend", f"searxng://127.0.0.1:{web_site.port}/searxng-js", "--render", "--allow-private", "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["results"]
    assert JS_TEXT in rows[0]["text"] and "Jupiter is the largest planet" in rows[1]["text"]


def test_render_reaches_the_web_source_and_round_trips(tmp_path: Path) -> None:
    from agentkit.pipeline.builtin import build
    from agentkit.sources.web import WebRetriever

    (tmp_path / "a.md").write_text("Yushan", encoding="utf-8")
    pipe = build("rag", source="web", search=f"local://{tmp_path}", render=True, allow_private=True)
    retriever = pipe.to_dict()["steps"][0]["retriever"]
    assert retriever["fetcher"]["render"] is True and retriever["fetcher"]["allow_private"] is True
    again = WebRetriever.from_dict(retriever)
    assert again.fetcher.render and again.fetcher.allow_private
    assert WebRetriever(f"local://{tmp_path}").fetcher.render is False


def test_rendered_and_plain_pages_are_cached_apart() -> None:
    url = "http://example.org/"
    assert Fetcher(render=True)._cache_key(url) != Fetcher()._cache_key(url)


def test_render_without_a_web_source_is_refused() -> None:
    from agentkit.errors import ConfigError
    from agentkit.pipeline.builtin import build

    with pytest.raises(ConfigError, match="--source web"):
        build("rag", source="kb", kb="/nonexistent", render=True)


# ---- without a browser ------------------------------------------------------------------------------------------


def _fake_executable(folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_find_browser_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _fake_executable(tmp_path / "bin", "chromium-browser")
    chosen = _fake_executable(tmp_path / "elsewhere", "my-chrome")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv(BROWSER_ENV, raising=False)
    assert find_browser() == on_path
    monkeypatch.setenv(BROWSER_ENV, chosen)
    assert find_browser() == chosen
    assert find_browser(on_path) == on_path  # an explicit browser= wins
    monkeypatch.setenv(BROWSER_ENV, str(tmp_path / "missing"))
    with pytest.raises(BrowserNotFoundError, match="is not an executable"):
        find_browser()  # a browser that is named but missing is an error, not a fall-back to PATH


def test_no_browser_anywhere_says_how_to_install_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(BROWSER_ENV, raising=False)
    with pytest.raises(BrowserNotFoundError) as info:
        find_browser()
    assert "apt-get install chromium" in info.value.hint and BROWSER_ENV in info.value.hint


@needs_playwright
def test_fetcher_without_a_browser_raises_one_clear_error(web_site: Site) -> None:
    with pytest.raises(BrowserNotFoundError, match="rendering needs Chromium"):
        Fetcher(render=True, allow_private=True, browser="/nonexistent/chromium").fetch(web_site.url("/js/page.html"))


@needs_playwright
def test_cli_render_without_a_browser_is_one_line(web_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BROWSER_ENV, "/nonexistent/chromium")
    proc = run_cli("fetch", web_site.url("/js/page.html"), "--render", "--allow-private", "--no-cache")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "apt-get install chromium" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    plain = run_cli("fetch", web_site.url("/js/page.html"), "--allow-private", "--no-cache")  # the plain fetcher needs none
    assert plain.returncode == 0 and LOADING in plain.stdout
