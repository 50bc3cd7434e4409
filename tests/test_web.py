"""Web search and fetching against a real HTTP server on 127.0.0.1 (tests/web_site.py). No public network."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from agentkit.errors import FetchError, InputError, SearchError
from agentkit.tools import Fetcher, LocalSearch, Politeness, WebCache, check_url, clean_query, decode_body, is_public_address, load_search
from agentkit.tools.search import GoogleSearch, SearxngSearch
from tests.conftest import run_cli
from tests.web_site import BIG5_TEXT, GB_TEXT, INJECTION

NO_WAIT = Politeness(min_interval=0, retries=2, base_delay=0.01, max_delay=0.02)


def fetcher(**kw) -> Fetcher:  # type: ignore[no-untyped-def]
    kw.setdefault("allow_private", True)
    return Fetcher(**kw)


# ---- URL guard -------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4", "169.254.169.254", "::1", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "fd00:ec2::254", "100.64.0.1"])
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "140.112.8.116", "2001:4860:4860::8888"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x", "javascript:alert(1)", "http://"])
def test_guard_refuses_non_http(url: str) -> None:
    with pytest.raises(FetchError):
        asyncio.run(check_url(url, allow_private=True))


def test_guard_refuses_loopback_names_and_literals() -> None:
    for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/x", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(FetchError, match="non-public"):
            asyncio.run(check_url(url))


def test_fetch_of_local_page_refused_by_default(web_site) -> None:  # type: ignore[no-untyped-def]
    page = Fetcher().fetch(web_site.url("/utf8.html"))
    assert not page.ok and "non-public" in page.error and "allow_private" not in page.text


def test_redirect_to_private_address_is_checked_per_hop(web_site) -> None:  # type: ignore[no-untyped-def]
    # The first hop is allowed (private allowed), the guard runs again on the redirect target.
    page = fetcher().fetch(web_site.url("/redirect"))
    assert page.ok and page.final_url.endswith("/utf8.html")


# ---- decoding and extraction -----------------------------------------------------------------


def test_big5_page_with_header_charset(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher().fetch(web_site.url("/big5.html"))
    assert page.ok, page.error
    assert BIG5_TEXT in page.text and page.title == "臺大" and page.encoding == "big5hkscs"


def test_gb2312_page_with_meta_charset_only(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher().fetch(web_site.url("/gb2312.html"))
    assert page.ok and GB_TEXT in page.text and page.encoding == "gb18030"


def test_undeclared_big5_is_detected(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher().fetch(web_site.url("/big5-undeclared.html"))
    assert page.ok and BIG5_TEXT in page.text


def test_declared_charset_that_lies_is_not_trusted() -> None:
    # A Big5 page whose header claims UTF-8 (a common server misconfiguration): the detector decides.
    body = f"<html><body><p>{BIG5_TEXT * 3}</p></body></html>".encode("big5")
    text, encoding = decode_body(body, "utf-8")
    assert BIG5_TEXT in text and encoding != "utf-8"


def test_truncation_does_not_break_a_multibyte_character() -> None:
    body = "臺灣".encode("big5")[:-1]
    text, _ = decode_body(body, "big5")
    assert text == "臺"


def test_hidden_injection_is_removed(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher().fetch(web_site.url("/hidden.html"))
    assert page.ok
    assert "Io is a moon of Jupiter." in page.text and "Europa has an ice crust." in page.text
    assert INJECTION not in page.text and "IGNORE" not in page.text


def test_main_content_and_no_glued_words(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher().fetch(web_site.url("/utf8.html"))
    assert "Jupiter is the largest planet in the Solar System." in page.text
    assert "Home | About" not in page.text  # nav dropped


def test_plain_text_and_pdf_skipped(web_site) -> None:  # type: ignore[no-untyped-def]
    pages = fetcher().fetch_many([web_site.url("/plain.txt"), web_site.url("/doc.pdf")])
    assert pages[0].ok and pages[0].text.strip() == "Plain text: Mars is red." and pages[0].content_type == "text/plain"
    assert not pages[1].ok and "application/pdf" in pages[1].error


# ---- bounded failures ------------------------------------------------------------------------


def test_huge_page_truncated(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher(max_bytes=100_000).fetch(web_site.url("/huge.html"))
    assert page.ok and page.truncated and 90_000 < len(page.text) <= 100_000


def test_gzip_bomb_is_bounded(web_site) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    page = fetcher(max_bytes=1_000_000).fetch(web_site.url("/bomb.html"))
    assert time.perf_counter() - started < 5
    assert not page.ok and "binary" in page.error  # 50 MB of NULs inflated only up to the cap


def test_binary_served_as_html(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher().fetch(web_site.url("/binary.html"))
    assert not page.ok and "binary" in page.error


def test_endless_redirect(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher(max_redirects=3).fetch(web_site.url("/loop"))
    assert not page.ok and "too many redirects" in page.error


def test_http_errors_and_dns_failure(web_site) -> None:  # type: ignore[no-untyped-def]
    pages = fetcher().fetch_many([web_site.url("/status/404"), web_site.url("/status/503"), "http://no-such-host.invalid/x"])
    assert "HTTP 404" in pages[0].error and "HTTP 503" in pages[1].error
    assert not pages[2].ok and ("resolve" in pages[2].error or "connect" in pages[2].error)
    assert "resolve" in Fetcher().fetch("http://no-such-host.invalid/x").error  # guard resolves first


def test_tls_error_is_one_bounded_failure(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher(timeout=3).fetch(web_site.url("/utf8.html").replace("http://", "https://"))
    assert not page.ok and page.error


def test_slowloris_cut_off_and_others_still_return(web_site) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    pages = fetcher(timeout=1.5).fetch_many([web_site.url("/slowloris"), web_site.url("/utf8.html")])
    assert time.perf_counter() - started < 4
    assert "timed out" in pages[0].error and pages[1].ok


def test_total_budget(web_site) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    pages = fetcher(timeout=10, total_timeout=1).fetch_many([web_site.url("/slow?s=3"), web_site.url("/utf8.html")])
    assert time.perf_counter() - started < 2.5
    assert "total budget" in pages[0].error and pages[1].ok


def test_fetching_is_concurrent(web_site) -> None:  # type: ignore[no-untyped-def]
    urls = [web_site.url(f"/slow?s=1&id={i}") for i in range(6)]
    started = time.perf_counter()
    pages = fetcher(concurrency=8).fetch_many(urls)
    assert all(p.ok for p in pages) and [p.text for p in pages] == [f"slow page {i}" for i in range(6)]
    assert time.perf_counter() - started < 3.5  # sequential would take 6 s


# ---- cache -----------------------------------------------------------------------------------


def test_page_cache_and_private_key(web_site, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = WebCache(tmp_path / "web.sqlite")
    url = web_site.url("/slow?s=1&id=cached")
    first = fetcher(cache=cache).fetch(url)
    started = time.perf_counter()
    again = fetcher(cache=cache).fetch(url)
    assert again == first and time.perf_counter() - started < 0.5 and cache.hits == 1
    # a fetcher that forbids private addresses must not get the page from the cache
    assert not Fetcher(cache=cache).fetch(url).ok
    refreshed = fetcher(cache=WebCache(tmp_path / "web.sqlite", mode="refresh")).fetch(url)
    assert refreshed.ok and refreshed.seconds >= 0.9


def test_cache_ttl(tmp_path) -> None:
    cache = WebCache(tmp_path / "c.sqlite", ttl=0.05)
    cache.put("search", "k", [1])
    assert cache.get("search", "k") == [1]
    time.sleep(0.1)
    assert cache.get("search", "k") is None
    off = WebCache(tmp_path / "c.sqlite", mode="off")
    off.put("search", "x", [2])
    assert WebCache(tmp_path / "c.sqlite").get("search", "x") is None


# ---- search backends -------------------------------------------------------------------------


def test_query_cleaning() -> None:
    assert clean_query("  a   b \n c ") == "a b c"
    long = "word " * 40
    assert len(clean_query(long)) <= 100 and not clean_query(long).endswith(" ")
    assert len(clean_query("臺" * 300)) == 100
    with pytest.raises(InputError):
        clean_query("   ")


def test_google_backend_parses_recorded_page(web_site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import googlesearch
    import requests

    requests_made: list[dict] = []

    def local_get(url, **kwargs):  # type: ignore[no-untyped-def]
        # Same request googlesearch-python builds (params, headers, cookies), sent to the local server.
        requests_made.append(dict(kwargs["params"]))
        return requests.get(web_site.url("/google/search"), **kwargs)

    monkeypatch.setattr(googlesearch, "get", local_get)
    results = GoogleSearch(lang="zh-TW", politeness=NO_WAIT).search("臺大 校長", 3)
    assert [r.rank for r in results] == [1, 2, 3]
    assert results[0].url == "https://zh.wikipedia.org/zh-tw/國立臺灣大學"
    assert results[0].title.startswith("國立臺灣大學") and "陳文章" in results[0].snippet
    assert len({r.url for r in results}) == 3 and all(r.url.startswith("https://") for r in results)
    first = requests_made[0]
    assert first["hl"] == "zh-TW" and first["num"] >= 6 and first["q"] == "臺大 校長"  # over-fetching 2n


def test_google_429_storm_gives_clear_error(web_site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import googlesearch
    import requests

    calls = []

    def blocked(url, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return requests.get(web_site.url("/status/429"), **kwargs)

    monkeypatch.setattr(googlesearch, "get", blocked)
    sleeps: list[float] = []
    polite = Politeness(min_interval=0, retries=3, base_delay=1.0, max_delay=8.0, sleep=sleeps.append)
    with pytest.raises(SearchError, match="429"):
        GoogleSearch(politeness=polite).search("q", 3)
    assert len(calls) == 4 and len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, (1, 2, 4)))  # exponential caps, full jitter


def test_searxng_backend_and_errors(web_site) -> None:  # type: ignore[no-untyped-def]
    results = SearxngSearch(web_site.url("/searxng"), politeness=NO_WAIT).search("jupiter", 2)
    assert [r.title for r in results] == ["Jupiter", "Moons"]
    with pytest.raises(SearchError, match="429"):
        SearxngSearch(web_site.url("/searxng429"), politeness=NO_WAIT).search("x", 2)
    with pytest.raises(SearchError, match="unreachable"):
        from tests.conftest import free_port

        SearxngSearch(f"http://127.0.0.1:{free_port()}", politeness=NO_WAIT).search("x", 2)


def test_duckduckgo_error_mapping() -> None:
    class Ratelimited(Exception):
        pass

    Ratelimited.__name__ = "RatelimitException"

    class Client:
        def text(self, *a, **k):  # type: ignore[no-untyped-def]
            raise Ratelimited("202 Ratelimit")

    from agentkit.tools import DuckDuckGoSearch

    with pytest.raises(SearchError, match="429"):
        DuckDuckGoSearch(politeness=NO_WAIT, client_factory=Client).search("x", 2)


def test_local_backend_chinese_and_english(tmp_path) -> None:
    (tmp_path / "ntu.html").write_text(f"<html><head><title>臺大</title></head><body><p>{BIG5_TEXT}</p></body></html>", encoding="utf-8")
    (tmp_path / "space.md").write_text("# Planets\nJupiter is the largest planet.", encoding="utf-8")
    (tmp_path / "urls.json").write_text(json.dumps({"ntu.html": "https://www.ntu.edu.tw/"}), encoding="utf-8")
    backend = LocalSearch(tmp_path)
    hit = backend.search("臺大校長是誰", 2)[0]
    assert hit.url == "https://www.ntu.edu.tw/" and hit.title == "臺大" and "陳文章" in hit.text
    top = backend.search("largest planet", 2)[0]
    assert top.title == "Planets" and top.url.startswith("file://")
    with pytest.raises(InputError):
        LocalSearch(tmp_path / "missing")


def test_search_cache(tmp_path) -> None:
    (tmp_path / "a.md").write_text("Jupiter is big.", encoding="utf-8")
    cache = WebCache(tmp_path / "w.sqlite")
    backend = load_search(f"local:{tmp_path}", cache)
    first = backend.search("jupiter", 1)
    assert backend.search("jupiter", 1) == first and cache.hits == 1


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_fetch_refused_without_allow_private(web_site) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("fetch", web_site.url("/utf8.html"))
    assert proc.returncode != 0 and "non-public" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_fetch_json(web_site) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("fetch", web_site.url("/big5.html"), "--allow-private", "--json", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {"url", "final_url", "title", "text", "content_type", "encoding", "truncated"}
    assert BIG5_TEXT in data["text"] and data["encoding"] == "big5hkscs" and data["truncated"] is False


def test_cli_fetch_failure_exit_code(web_site) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("fetch", web_site.url("/doc.pdf"), "--allow-private", "--no-cache")
    assert proc.returncode != 0 and "not HTML" in proc.stderr


def test_cli_search_local(tmp_path) -> None:
    (tmp_path / "a.md").write_text("Jupiter has 95 moons.", encoding="utf-8")
    proc = run_cli("search", "jupiter moons", "--backend", f"local:{tmp_path}", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["title"] == "Jupiter has 95 moons."
    bad = run_cli("search", "  ", "--backend", f"local:{tmp_path}")
    assert bad.returncode != 0 and "empty" in bad.stderr


def test_connection_is_pinned_to_the_vetted_address(web_site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding: the address checked is the address connected to. 'rebind.invalid' resolves (through a
    patched resolver) to a vetted address exactly once; system DNS cannot resolve it, so the fetch only works
    if the connection goes to the checked address, with the original name in the Host header."""
    import socket

    import agentkit.tools.safety as safety

    calls = []

    async def resolve(self, host, port, **kw):  # type: ignore[no-untyped-def]
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", resolve)
    monkeypatch.setattr(safety, "is_public_address", lambda address: True)  # pretend 127.0.0.1 is public here
    page = Fetcher().fetch(f"http://rebind.invalid:{web_site.port}/utf8.html")
    assert page.ok, page.error
    assert "Jupiter is the largest planet" in page.text and calls == ["rebind.invalid"]
    redirected = Fetcher().fetch(f"http://rebind.invalid:{web_site.port}/redirect")
    assert redirected.ok and redirected.final_url == f"http://rebind.invalid:{web_site.port}/utf8.html"
