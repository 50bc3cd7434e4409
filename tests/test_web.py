"""Web search and fetching against a real HTTP server on 127.0.0.1 (tests/web_site.py). No public network."""

from __future__ import annotations

import asyncio
import codecs
import gzip
import json
import os
import socket
import time
import zlib
from pathlib import Path

import pytest

from agentkit.errors import FetchError, InputError, SearchError
from agentkit.tools import (
    Fetcher,
    LocalSearch,
    Politeness,
    WebCache,
    check_url,
    clean_query,
    decode_body,
    is_public_address,
    load_search,
)
from agentkit.tools.search import GoogleSearch, SearxngSearch
from tests.conftest import run_cli
from tests.web_site import BIG5_TEXT, CODEC_BODIES, GB_TEXT, INJECTION, MULTI_GZIP_PARTS

NO_WAIT = Politeness(min_interval=0, retries=2, base_delay=0.01, max_delay=0.02)


def fetcher(**kw) -> Fetcher:  # type: ignore[no-untyped-def]
    kw.setdefault("allow_private", True)
    return Fetcher(**kw)


# ---- URL guard -------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4", "169.254.169.254", "::1", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "fd00:ec2::254", "100.64.0.1"])
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "140.112.8.116", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


# IPv6 addresses that carry a private IPv4 inside, or are not globally routed at all.
WRAPPED = [
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "2002:a00:1::1",  # 6to4 around 10.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 around 169.254.169.254 (cloud metadata)
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (stored XOR-ed: 80ff:fffe)
    "2001:0:c0a8:101:0:f227:f5ff:fefe",  # Teredo, server 192.168.1.1, client 10.0.1.1
    "fec0::1",  # site-local
    "fec0:0:0:ffff::1",
    "64:ff9b::7f00:1",  # NAT64 well-known prefix around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # ... around 169.254.169.254
    "64:ff9b::c0a8:1",  # ... around 192.168.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64 prefix
    "64:ff9b:1:ffff::808:808",
]


@pytest.mark.parametrize("address", WRAPPED)
def test_wrapped_private_ipv4_is_refused(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", WRAPPED)
def test_guard_refuses_names_resolving_to_wrapped_addresses(address: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Resolution is stubbed: the name 'tunnel.invalid' answers with the address; nothing is ever connected to."""

    async def resolve(self, host, port, **kw):  # type: ignore[no-untyped-def]
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", resolve)
    with pytest.raises(FetchError, match="non-public"):
        asyncio.run(check_url("http://tunnel.invalid/x"))
    page = Fetcher(timeout=5).fetch("http://tunnel.invalid/x")
    assert not page.ok and "non-public" in page.error


def test_guard_refuses_a_literal_tunnel_address() -> None:
    with pytest.raises(FetchError, match="non-public"):
        asyncio.run(check_url("http://[2002:7f00:1::1]:8080/"))


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


@pytest.mark.parametrize("codec", sorted(CODEC_BODIES))
def test_codec_posing_as_charset_is_not_used(web_site, codec: str) -> None:  # type: ignore[no-untyped-def]
    """zlib/bz2 would inflate ~50 KB into 50 MB of text, hex/base64/uu/rot13 would give bytes or raise, 'undefined'
    always raises: none of them is a charset. The page is read as text (or skipped as binary), within the cap."""
    cap = 100_000
    for route in ("/charset/", "/html-charset/"):
        page = fetcher(max_bytes=cap).fetch(web_site.url(route + codec))
        assert isinstance(page.text, str) and isinstance(page.title, str)
        assert len(page.text) <= cap and len(page.title) <= cap
        assert page.ok or "binary" in page.error, page.error
        if page.ok:
            assert page.encoding != codecs.lookup(codec).name and codecs.lookup(page.encoding)._is_text_encoding  # type: ignore[attr-defined]
    assert "hex page" not in fetcher().fetch(web_site.url("/charset/hex")).text  # not decoded as hex


def test_codec_charsets_do_not_sink_a_batch(web_site) -> None:  # type: ignore[no-untyped-def]
    urls = [web_site.url(f"/charset/{c}") for c in sorted(CODEC_BODIES)] + [web_site.url("/utf8.html")]
    pages = fetcher(max_bytes=100_000).fetch_many(urls)
    assert len(pages) == len(urls) and pages[-1].ok and "Jupiter" in pages[-1].text
    assert all(isinstance(p.text, str) and len(p.text) <= 100_000 for p in pages)


def test_decode_body_takes_only_whatwg_text_encodings() -> None:
    bomb = zlib.compress(b"A" * 5_000_000)
    text, encoding = decode_body(bomb, "zlib")
    assert isinstance(text, str) and len(text) <= len(bomb) and encoding != "zlib"
    assert decode_body(b"68656c6c6f", "hex") == ("68656c6c6f", "utf-8")
    assert decode_body(b"plain words", "undefined") == ("plain words", "utf-8")
    assert decode_body(b"+AGEAYgBj-", "utf-7") == ("+AGEAYgBj-", "utf-8")  # utf-7 is no web charset
    assert decode_body(b"\\u81fa", "unicode_escape", html=False) == ("\\u81fa", "utf-8")
    assert decode_body(b"<p>hi</p>", "base64")[0] == "<p>hi</p>"
    # WHATWG label semantics: case, surrounding spaces and aliases as browsers read them
    assert decode_body("臺灣".encode("big5"), " BIG5 ") == ("臺灣", "big5hkscs")
    assert decode_body("中国".encode("gb2312"), "x-gbk") == ("中国", "gb18030")
    assert decode_body("café".encode("cp1252"), "latin1") == ("café", "cp1252")
    # a meta charset naming a codec is ignored as well
    text, encoding = decode_body(b'<html><head><meta charset="rot13"></head><body>Uryyb</body></html>', None)
    assert "Uryyb" in text and encoding == "utf-8"


def test_multi_member_gzip_is_decoded_whole(web_site) -> None:  # type: ignore[no-untyped-def]
    page = fetcher().fetch(web_site.url("/multigzip.html"))
    assert page.ok and not page.truncated, page.error
    assert "First member: Jupiter." in page.text and "Second member: Saturn has rings." in page.text
    capped = fetcher(max_bytes=len(MULTI_GZIP_PARTS[0]) + 5).fetch(web_site.url("/multigzip.html"))
    assert capped.ok and capped.truncated and "Saturn" not in capped.text


def test_gzip_members_split_at_any_byte() -> None:
    from agentkit.tools.fetch import _Decompressor

    parts = [b"first member " * 50, "第二個成員".encode() * 30, b"third"]
    body = b"".join(gzip.compress(p) for p in parts) + b"\0" * 8  # zero padding after the last member is allowed
    for step in (1, 7, 64, len(body)):
        decoder = _Decompressor("gzip")
        out = b""
        for i in range(0, len(body), step):
            chunk, more = decoder.feed(body[i : i + step], 10_000)
            out += chunk
            assert not more
        assert out == b"".join(parts)
    # a cap inside the second member: output stops at the cap and says more was left
    decoder = _Decompressor("gzip")
    out, more = decoder.feed(body, len(parts[0]) + 10)
    assert out == b"".join(parts)[: len(parts[0]) + 10] and more
    # trailing garbage after a complete member ends the body
    decoder = _Decompressor("gzip")
    assert decoder.feed(gzip.compress(b"kept") + b"<html>junk", 100) == (b"kept", False)


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


@pytest.mark.parametrize("guard", [True, False])
def test_malformed_urls_are_per_page_errors(web_site, guard: bool) -> None:  # type: ignore[no-untyped-def]
    bad = ["http://a..b/", "http://[::1", "http://xn--/", "http://host:99999/", "http://" + "a" * 70 + ".com/"]
    pages = Fetcher(allow_private=not guard, timeout=5).fetch_many([*bad, web_site.url("/charset/base64"), web_site.url("/utf8.html")])
    assert [p.url for p in pages[: len(bad)]] == bad
    assert all(not p.ok and p.error for p in pages[: len(bad)])
    assert all("malformed" in p.error or "port" in p.error for p in pages[: len(bad)]), [p.error for p in pages]
    if not guard:
        assert pages[-2].ok and isinstance(pages[-2].text, str) and pages[-1].ok and "Jupiter" in pages[-1].text


def test_extraction_is_inside_the_page_timeout(web_site) -> None:  # type: ignore[no-untyped-def]
    """A page that takes a minute to extract (a stand-in extractor sleeps on it) fails at its own time limit;
    the fast pages of the same batch succeed."""
    slow = fetcher(timeout=4, total_timeout=30, html_extractor="tests.slow_extractor:html_to_text")
    started = time.perf_counter()
    pages = slow.fetch_many([web_site.url("/slow-extract.html"), web_site.url("/utf8.html"), web_site.url("/big5.html")])
    elapsed = time.perf_counter() - started
    assert "timed out after 4s" in pages[0].error and not pages[0].text
    assert pages[1].ok and "Jupiter" in pages[1].text and pages[2].ok and BIG5_TEXT in pages[2].text
    assert elapsed < 12  # 4 s limit + starting workers on a loaded machine; never the 60 s the extractor wants


def test_total_budget_covers_extraction(web_site) -> None:  # type: ignore[no-untyped-def]
    slow = fetcher(timeout=30, total_timeout=4, html_extractor="tests.slow_extractor:html_to_text")
    started = time.perf_counter()
    pages = slow.fetch_many([web_site.url("/slow-extract.html"), web_site.url("/utf8.html"), web_site.url("/plain.txt")])
    assert time.perf_counter() - started < 12
    assert "total budget" in pages[0].error and pages[1].ok and pages[2].ok


def _children() -> set[int]:
    me = str(os.getpid())
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts child processes through /proc")
def test_a_spinning_extraction_is_killed(web_site) -> None:  # type: ignore[no-untyped-def]
    before = _children()
    spin = fetcher(timeout=2, html_extractor="tests.slow_extractor:html_to_text")
    page = spin.fetch(web_site.url("/spin-extract.html"))
    assert "timed out" in page.error
    assert _children() <= before  # the worker burning a core was killed, not abandoned


def test_pathological_html_is_bounded_by_the_timeout(web_site) -> None:  # type: ignore[no-untyped-def]
    """10 000 nested <div> and 15 000 <p>: the real extractor either finishes or is cut off at the time limit."""
    started = time.perf_counter()
    pages = fetcher(timeout=3, total_timeout=30).fetch_many([web_site.url("/nested.html"), web_site.url("/many-p.html"), web_site.url("/utf8.html")])
    assert time.perf_counter() - started < 10
    for page in pages[:2]:
        assert page.ok or "timed out after 3s" in page.error, page.error
    assert pages[2].ok and "Jupiter" in pages[2].text


def test_cli_fetch_timeout_covers_extraction(web_site) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    proc = run_cli("fetch", web_site.url("/many-p.html"), "--allow-private", "--no-cache", "--timeout", "3", timeout=60)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0 or "timed out after 3s" in proc.stderr, proc.stderr
    assert time.perf_counter() - started < 25  # CLI start-up (imports) on a loaded machine + 3 s


def test_sync_api_works_inside_a_running_event_loop(web_site) -> None:  # type: ignore[no-untyped-def]
    """As in a notebook cell: sync calls made while an event loop runs in this thread."""

    async def cell() -> tuple:  # type: ignore[type-arg]
        return fetcher().fetch(web_site.url("/utf8.html")), fetcher().fetch_many([web_site.url("/plain.txt"), web_site.url("/big5.html")])

    page, pages = asyncio.run(cell())
    assert page.ok and "Jupiter" in page.text
    assert [p.ok for p in pages] == [True, True] and BIG5_TEXT in pages[1].text


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
    backend = load_search(f"local://{tmp_path}", cache)
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
    proc = run_cli("search", "jupiter moons", "--backend", f"local://{tmp_path}", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["title"] == "Jupiter has 95 moons."
    bad = run_cli("search", "  ", "--backend", f"local://{tmp_path}")
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
