"""The on-disk caches: corrupt files are misses, keys name what decides the value, sizes stay bounded,
and `agentkit cache info|clear`."""

from __future__ import annotations

import json
import logging
import sqlite3

import numpy as np
import pytest

from agentkit.embeddings import CachedEmbedder, OllamaEmbedder, OpenAIEmbedder, SentenceTransformerEmbedder
from agentkit.tools.cache import WebCache
from agentkit.tools.search import CachedSearch, DuckDuckGoSearch, GoogleSearch, LocalSearch, _backend_key

from .conftest import HashEmbedder, run_cli

TEXTS = [f"text number {i} 第{i}號" for i in range(40)]


def _live_bytes(path) -> int:
    db = sqlite3.connect(path)
    try:
        size, pages, free = (db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count", "freelist_count"))
    finally:
        db.close()
    return (pages - free) * size


def _checkpointed(path) -> None:
    # Move everything from the write-ahead log into the main file, so damaging that file damages the data.
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# ---- corrupt files -------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_embedding_cache_is_a_miss(tmp_path, caplog, damage):
    path = tmp_path / "embeddings.sqlite"
    if damage == "garbage":
        path.write_bytes(b"this is not a database " * 200)
    else:
        filled = CachedEmbedder(HashEmbedder(dim=64), path)
        filled.embed([f"filler {i}" for i in range(3000)])
        filled.embed(TEXTS)
        _checkpointed(path)
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size // 3)
    expected = HashEmbedder(dim=64).embed(TEXTS)
    cached = CachedEmbedder(HashEmbedder(dim=64), path)
    with caplog.at_level(logging.WARNING, logger="agentkit.cache"):
        got = cached.embed(TEXTS)
        again = cached.embed(TEXTS)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(again, expected, atol=1e-6)
    assert cached.computed == len(TEXTS)  # the rebuilt file serves the second call
    assert len([r for r in caplog.records if "corrupt" in r.getMessage()]) == 1
    assert (tmp_path / "embeddings.sqlite.corrupt").exists()


def test_corrupt_web_cache_is_a_miss(tmp_path, caplog):
    path = tmp_path / "web.sqlite"
    path.write_bytes(b"\x00garbage" * 500)
    cache = WebCache(path)
    with caplog.at_level(logging.WARNING, logger="agentkit.cache"):
        assert cache.get("search", "q") is None
        cache.put("search", "q", [{"url": "http://127.0.0.1/a"}])
        assert cache.get("search", "q") == [{"url": "http://127.0.0.1/a"}]
    assert sum("corrupt" in r.getMessage() for r in caplog.records) == 1
    cache.close()
    # A truncated file with many entries: reads are misses, writes go on.
    big = WebCache(tmp_path / "big.sqlite")
    for i in range(400):
        big.put("page", f"k{i}", "x" * 2000)
    _checkpointed(tmp_path / "big.sqlite")
    with (tmp_path / "big.sqlite").open("r+b") as f:
        f.truncate((tmp_path / "big.sqlite").stat().st_size // 3)
    again = WebCache(tmp_path / "big.sqlite")
    assert [again.get("page", f"k{i}") for i in (0, 399)] in ([None, None], ["x" * 2000, None], [None, "x" * 2000], ["x" * 2000, "x" * 2000])
    again.put("page", "new", "fresh")
    assert again.get("page", "new") == "fresh"


def test_cached_vector_of_the_wrong_length_is_recomputed(tmp_path):
    from agentkit.chunking import make_splitter
    from agentkit.retrievers import KnowledgeBase

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Mars has two moons, Phobos and Deimos.\n\nJupiter has a Great Red Spot.\n", encoding="utf-8")
    split = make_splitter("recursive", chunk_size=40, chunk_overlap=0)
    # Another model that calls itself the same (no identity of its own) filled the cache with 32-dim vectors.
    KnowledgeBase(tmp_path / "old", embedder=HashEmbedder(dim=32, name="same"), splitter=split).ingest([docs])
    kb = KnowledgeBase(tmp_path / "new", embedder=HashEmbedder(dim=64, name="same"), splitter=split)
    report = kb.ingest([docs])
    assert report.embedded == report.chunks_added > 0
    vectors = kb._vectors([c.chunk_id for c in kb.chunks()])
    assert vectors.shape[1] == 64
    fresh = KnowledgeBase(tmp_path / "new", embedder=HashEmbedder(dim=64, name="same"), splitter=split)
    assert "Phobos" in fresh.retrieve("Phobos Deimos", k=1, mode="dense")[0].text


# ---- identity ------------------------------------------------------------------------------------


class NamedHash(HashEmbedder):
    """Same name for every instance, identity from ``where`` (two servers serving one model name)."""

    def __init__(self, where: str, dim: int = 64, salt: int = 0) -> None:
        super().__init__(dim, name="shared-name")
        self.where, self.salt = where, salt

    @property
    def identity(self) -> str:
        return f"hash:{self.where}"

    def _embed_batch(self, texts):
        return super()._embed_batch([f"{self.salt} {t}" for t in texts])


def test_embedding_cache_is_keyed_by_identity_not_name(tmp_path):
    path = tmp_path / "e.sqlite"
    a = CachedEmbedder(NamedHash("http://127.0.0.1:1", salt=1), path)
    b = CachedEmbedder(NamedHash("http://127.0.0.1:2", salt=2), path)
    va, vb = a.embed(TEXTS), b.embed(TEXTS)
    assert b.computed == len(TEXTS) and not np.allclose(va, vb)
    np.testing.assert_allclose(vb, NamedHash("x", salt=2).embed(TEXTS), atol=1e-6)
    again = CachedEmbedder(NamedHash("http://127.0.0.1:1", salt=1), path)
    np.testing.assert_allclose(again.embed(TEXTS), va, atol=1e-6)
    assert again.computed == 0


def test_backend_identities(tmp_path):
    first, second = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for folder, weights in ((first, b"one"), (second, b"two!")):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}", encoding="utf-8")
        (folder / "model.safetensors").write_bytes(weights)
    st_a, st_b = SentenceTransformerEmbedder(first), SentenceTransformerEmbedder(second)
    assert st_a.name == st_b.name and st_a.identity != st_b.identity
    before = SentenceTransformerEmbedder(first).identity
    (first / "model.safetensors").write_bytes(b"other weights")
    assert SentenceTransformerEmbedder(first).identity != before  # replaced weights: a new identity
    assert OllamaEmbedder("nomic", "http://127.0.0.1:1").identity != OllamaEmbedder("nomic", "http://127.0.0.1:2").identity
    assert OpenAIEmbedder("http://127.0.0.1:1/v1", "m").identity != OpenAIEmbedder("http://127.0.0.1:2/v1", "m").identity


def test_search_cache_key_covers_options_and_local_folder_content(tmp_path):
    assert _backend_key(GoogleSearch(lang="en")) != _backend_key(GoogleSearch(lang="en", region="tw"))
    assert _backend_key(GoogleSearch(safe="active")) != _backend_key(GoogleSearch(safe="off"))
    assert _backend_key(DuckDuckGoSearch(region="tw-tzh")) != _backend_key(DuckDuckGoSearch(region="us-en"))
    assert _backend_key(GoogleSearch(timeout=5)) == _backend_key(GoogleSearch(timeout=50))  # timeouts change no result

    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.md").write_text("# 臺北\n\n臺北 101 高 508 公尺。\n", encoding="utf-8")
    cache = WebCache(tmp_path / "web.sqlite")
    first = CachedSearch(LocalSearch(pages), cache).search("臺北 101", 1)
    assert "508" in first[0].text
    (pages / "a.md").write_text("# 臺北\n\n臺北 101 高 509 公尺（改寫）。\n", encoding="utf-8")
    second = CachedSearch(LocalSearch(pages), cache).search("臺北 101", 1)
    assert "509" in second[0].text


# ---- bounds --------------------------------------------------------------------------------------


def test_embedding_cache_stays_under_its_cap(tmp_path):
    path = tmp_path / "e.sqlite"
    cap = 256 * 1024
    cache = CachedEmbedder(HashEmbedder(dim=256), path, max_bytes=cap)
    batches = [[f"batch {b} text {i}" for i in range(100)] for b in range(30)]  # ~30 x 100 x 1 KB rows
    for batch in batches:
        cache.embed(batch)
        assert _live_bytes(path) <= cap * 1.1
    computed = cache.computed
    cache.embed(batches[-1])  # the newest rows are kept ...
    assert cache.computed == computed
    cache.embed(batches[0])  # ... the oldest were evicted
    assert cache.computed == computed + len(batches[0])
    cache.close()
    assert path.stat().st_size <= cap * 2


def test_web_cache_stays_under_its_cap(tmp_path):
    path = tmp_path / "web.sqlite"
    cache = WebCache(path, max_bytes=128 * 1024)
    for i in range(600):
        cache.put("page", f"url{i}", "頁" * 700)
    assert _live_bytes(path) <= 128 * 1024 * 1.1
    assert cache.get("page", "url599") is not None and cache.get("page", "url0") is None


def test_cache_limit_from_environment(tmp_path, monkeypatch):
    from agentkit.errors import ConfigError

    monkeypatch.setenv("AGENTKIT_CACHE_MAX_MB", "0.25")
    cache = WebCache(tmp_path / "w.sqlite")
    assert cache.store.max_bytes == 256 * 1024
    monkeypatch.setenv("AGENTKIT_CACHE_MAX_MB", "lots")
    with pytest.raises(ConfigError):
        WebCache(tmp_path / "w.sqlite")


def test_old_web_cache_layout_is_migrated(tmp_path):
    path = tmp_path / "web.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE entries (kind TEXT, key TEXT, created REAL, value TEXT, PRIMARY KEY (kind, key))")
    db.execute("INSERT INTO entries VALUES ('fetch', 'http://127.0.0.1/a', strftime('%s','now'), '\"kept\"')")
    db.commit()
    db.close()
    assert WebCache(path).get("fetch", "http://127.0.0.1/a") == "kept"


# ---- the CLI -------------------------------------------------------------------------------------


def test_cli_cache_info_and_clear(tmp_path, monkeypatch):
    from agentkit.cache_dir import cache_info

    root = tmp_path / "cache"
    monkeypatch.setenv("AGENTKIT_CACHE_DIR", str(root))
    embeddings = CachedEmbedder(HashEmbedder(), root / "embeddings.sqlite")
    embeddings.embed(TEXTS[:5])
    web, judge = WebCache(root / "web.sqlite"), WebCache(root / "judge.sqlite", ttl=0)
    for i in range(3):
        web.put("search", f"q{i}", [])
    judge.put("judge", "case", {"ok": True})
    for cache in (embeddings, web, judge):
        cache.close()
    (root / "bm25" / "abc").mkdir(parents=True)
    (root / "bm25" / "abc" / "chunks.json").write_text("{}", encoding="utf-8")

    info = run_cli("cache", "info", "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    entries = {c["name"]: c["entries"] for c in data["caches"]}
    assert data["dir"] == str(root) and entries == {"embeddings": 5, "web": 3, "judge": 1, "bm25": 1}
    assert all(c["bytes"] > 0 and c["limit_bytes"] > 0 for c in data["caches"])
    assert {c.name: c.entries for c in cache_info(root)} == entries
    table = run_cli("cache", "info")
    assert table.returncode == 0 and "embeddings" in table.stdout

    nothing = run_cli("cache", "clear")
    assert nothing.returncode == 2 and "--all" in nothing.stderr and "Traceback" not in nothing.stderr
    assert run_cli("cache", "clear", "--web").returncode == 0
    assert not (root / "web.sqlite").exists() and (root / "embeddings.sqlite").exists() and (root / "judge.sqlite").exists()
    assert run_cli("cache", "clear", "--all").returncode == 0
    assert {c.name: c.entries for c in cache_info(root)} == {"embeddings": 0, "web": 0, "judge": 0, "bm25": 0}


def test_cache_info_reports_old_layout_and_corrupt_files(tmp_path):
    from agentkit.cache_dir import cache_info

    db = sqlite3.connect(tmp_path / "embeddings.sqlite")
    db.execute("CREATE TABLE embeddings (model TEXT, hash BLOB, vector BLOB, PRIMARY KEY (model, hash))")  # the name-keyed layout
    db.commit()
    db.close()
    (tmp_path / "web.sqlite").write_bytes(b"garbage" * 100)
    entries = {c.name: c.entries for c in cache_info(tmp_path)}
    assert entries["embeddings"] == 0 and entries["web"] is None
    CachedEmbedder(HashEmbedder(), tmp_path / "embeddings.sqlite").embed(TEXTS[:3])  # first use drops the old table
    db = sqlite3.connect(tmp_path / "embeddings.sqlite")
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["vectors"]
    db.close()
    assert {c.name: c.entries for c in cache_info(tmp_path)}["embeddings"] == 3


def test_cache_commits_do_not_wait_for_the_disk(tmp_path):
    """Storing a query's vector used to fsync the write-ahead log on every commit (1.5 of its 2.2 ms). A cache may
    lose its last writes to a power cut, never its consistency (WAL), so commits skip the fsync."""
    cached = CachedEmbedder(HashEmbedder(name="sync"), tmp_path / "e.sqlite")
    cached.embed(["one query"])
    assert cached.store.run(lambda db: db.execute("PRAGMA synchronous").fetchone()[0], None) == 1  # NORMAL
    assert cached.store.run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0], None) == "wal"
