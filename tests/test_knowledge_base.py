"""Idempotent ingestion, replacement, pruning, retrieval modes, filters and errors."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from agentkit.chunking import make_splitter
from agentkit.errors import ConfigError, KnowledgeBaseError
from agentkit.retrievers import KnowledgeBase, tokenize

from .conftest import HashEmbedder, free_port, run_cli, wait_for_port

DOCS = {
    "mars.md": "# Mars\n\nMars has two moons, Phobos and Deimos.\n\nA day on Mars lasts 24 hours and 39 minutes.\n",
    "jupiter.md": "# Jupiter\n\nJupiter is the largest planet. The Great Red Spot is a storm.\n",
    "taiwan.md": "# 臺灣\n\n玉山是臺灣最高的山，海拔 3,952 公尺。\n\n臺灣高速鐵路於 2007 年通車。\n",
}


@pytest.fixture
def docs(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for name, text in DOCS.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def make_kb(path, embedder=None):
    return KnowledgeBase(path, embedder=embedder or HashEmbedder(), splitter=make_splitter("recursive", chunk_size=60, chunk_overlap=0))


def test_reingest_adds_and_embeds_nothing(tmp_path, docs):
    first = make_kb(tmp_path / "kb").ingest([docs])
    assert first.documents == 3 and first.chunks_added == first.chunks_total > 3 and first.embedded == first.chunks_added
    again = make_kb(tmp_path / "kb").ingest([docs])
    assert (again.chunks_added, again.embedded, again.chunks_removed) == (0, 0, 0)
    assert again.unchanged_documents == 3 and again.chunks_total == first.chunks_total
    assert make_kb(tmp_path / "kb").count() == first.chunks_total
    untouched = _Probed()
    make_kb(tmp_path / "kb", untouched).ingest([docs])
    assert (untouched.calls, untouched.probes) == (0, 0)  # nothing new: the model is never loaded, not even to probe its width


class _Probed(HashEmbedder):
    """Counts width probes: a real backend loads its model for one (the ONNX session: ~0.35 s per re-ingest)."""

    probes = 0

    @property
    def dimension(self) -> int:
        self.probes += 1
        return self.dim


def test_changed_file_replaces_its_chunks(tmp_path, docs):
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    before = kb.count()
    (docs / "mars.md").write_text("# Mars\n\nMars is red.\n", encoding="utf-8")
    report = kb.ingest([docs])
    assert report.chunks_added >= 1 and report.chunks_removed >= 1 and report.unchanged_documents == 2
    texts = [c.text for c in kb.retrieve("Mars", k=10, mode="bm25")]
    assert any("Mars is red." in t for t in texts) and not any("Phobos" in t for t in texts)
    assert kb.count() == before - report.chunks_removed + report.chunks_added


def test_prune_removes_deleted_files(tmp_path, docs):
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    (docs / "jupiter.md").unlink()
    report = kb.ingest([docs], prune=True)
    assert report.chunks_removed >= 1 and not any(s.endswith("jupiter.md") for s in kb.sources())


def test_interrupted_ingest_resumes_without_duplicates(tmp_path, docs, monkeypatch):
    from agentkit.retrievers import knowledge_base

    monkeypatch.setattr(knowledge_base, "_BATCH", 1)  # one chunk per write: the crash lands mid-ingest
    class Exploding(HashEmbedder):
        def _embed_batch(self, texts):
            if any("Jupiter" in t for t in texts):
                raise RuntimeError("killed")
            return super()._embed_batch(texts)

    name = f"resume-{tmp_path.name}"  # a fresh cache namespace, so Jupiter really needs the model
    with pytest.raises(RuntimeError):
        make_kb(tmp_path / "kb", Exploding(name=name)).ingest([docs / "mars.md", docs / "jupiter.md"])
    kb = make_kb(tmp_path / "kb", HashEmbedder(name=name))
    report = kb.ingest([docs / "mars.md", docs / "jupiter.md"])
    ids = kb._existing_collection().get(include=[])["ids"]
    assert len(ids) == len(set(ids)) == report.chunks_total
    assert report.unchanged_documents == 1  # mars finished before the crash


def test_spans_index_the_source_file(tmp_path, docs):
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    for mode in ("dense", "bm25", "hybrid"):
        results = kb.retrieve("moons of Mars", k=3, mode=mode)
        assert results
        for r in results:
            assert open(r.source, encoding="utf-8").read()[r.start:r.end] == r.text


def test_bm25_on_chinese(tmp_path, docs):
    assert "台湾" in tokenize("臺灣高鐵") and "高铁" in tokenize("臺灣高鐵") and "the" not in tokenize("the moon")  # folded to Simplified
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    top = kb.retrieve("高速鐵路哪一年通車", k=1, mode="bm25")[0]
    assert "2007" in top.text


def test_hybrid_fuses_both_rankings(tmp_path, docs):
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    hybrid = kb.retrieve("Great Red Spot storm", k=3, mode="hybrid")
    assert "Great Red Spot" in hybrid[0].text
    assert {"rrf"} <= set(hybrid[0].scores) and ("dense" in hybrid[0].scores or "bm25" in hybrid[0].scores)
    assert [r.score for r in hybrid] == sorted((r.score for r in hybrid), reverse=True)


def test_filters_threshold_and_mmr(tmp_path, docs):
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs / "mars.md"], tags=["space"])
    kb.ingest([docs / "taiwan.md"], tags=["asia"])
    mars = str((docs / "mars.md").resolve())
    for mode in ("dense", "bm25", "hybrid"):
        assert {r.source for r in kb.retrieve("moons 臺灣", k=10, mode=mode, where={"source": mars})} == {mars}
        assert all("asia" in r.metadata["tags"] for r in kb.retrieve("moons 臺灣", k=10, mode=mode, where={"tags": "asia"}))
    assert all(r.score >= 0.5 for r in kb.retrieve("Mars moons", k=10, mode="dense", min_score=0.5))
    diverse = kb.retrieve("Mars", k=2, mode="dense", mmr=True)
    assert len(diverse) == 2 and diverse[0].chunk_id != diverse[1].chunk_id


def test_embedder_mismatch_refused_and_kb_untouched(tmp_path, docs):
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    count = kb.count()
    with pytest.raises(KnowledgeBaseError) as e:
        make_kb(tmp_path / "kb", HashEmbedder(dim=32, name="other")).ingest([docs])
    assert "test-hash" in str(e.value)
    assert make_kb(tmp_path / "kb").count() == count


def test_empty_and_binary_files_skipped_with_reason(tmp_path, docs):
    (docs / "empty.md").write_text("  \n", encoding="utf-8")
    (docs / "bin.txt").write_bytes(b"\x00\x00\x01")
    report = make_kb(tmp_path / "kb").ingest([docs])
    reasons = dict(report.skipped)
    assert report.documents == 3 and any("empty" in r for r in reasons.values()) and any("binary" in r for r in reasons.values())


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError):
        KnowledgeBase(tmp_path, mode="fuzzy")
    with pytest.raises(ConfigError):
        KnowledgeBase("http://127.0.0.1:8000/a/b")
    assert KnowledgeBase(tmp_path / "new").retrieve("anything", k=3) == []


def test_server_down_is_clear():
    with pytest.raises(KnowledgeBaseError) as e:
        KnowledgeBase(f"http://127.0.0.1:{free_port()}/docs", embedder=HashEmbedder()).count()
    assert "chroma run" in str(e.value)


def test_spec_forms_of_chroma_open_what_they_name(tmp_path):
    """chroma+http://… is a server (it once created a local folder named 'chroma+http:'), chroma://DIR a folder."""
    port = free_port()
    server = KnowledgeBase(f"chroma+http://127.0.0.1:{port}/docs", embedder=HashEmbedder())
    assert server.is_server and server.location == f"http://127.0.0.1:{port}/docs"
    local = KnowledgeBase(f"chroma://{tmp_path / 'kb'}", embedder=HashEmbedder())
    assert not local.is_server and local.location == str(tmp_path / "kb")
    assert not any(p.name.startswith("chroma") for p in Path.cwd().iterdir())


@pytest.mark.slow
def test_chroma_server_mode(tmp_path, docs):
    chroma = shutil.which("chroma") or str(Path(__import__("sys").executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}/space-docs"
        first = make_kb(url).ingest([docs])
        again = make_kb(url).ingest([docs])
        assert first.chunks_added > 0 and (again.chunks_added, again.embedded) == (0, 0)
        results = make_kb(url).retrieve("moons of Mars", k=2)
        assert results and "Phobos" in results[0].text + results[1].text
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
def test_cli_ingest_query_with_minilm(tmp_path, docs):
    kb = str(tmp_path / "kb")
    first = json.loads(run_cli("ingest", str(docs), "--kb", kb, "--chunk-size", "80", "--chunk-overlap", "10", "--json").stdout)
    assert first["documents"] == 3 and first["chunks_added"] == first["chunks_total"] > 0
    second = run_cli("ingest", str(docs), "--kb", kb, "--chunk-size", "80", "--chunk-overlap", "10", "--json")
    assert json.loads(second.stdout)["chunks_added"] == 0 and json.loads(second.stdout)["embedded"] == 0
    for mode in ("dense", "bm25", "hybrid"):
        r = run_cli("query", "How many moons does Mars have?", "--kb", kb, "--k", "3", "--mode", mode, "--json")
        results = json.loads(r.stdout)["results"]
        assert results and any("Phobos" in x["text"] for x in results)
        for x in results:
            assert open(x["source"], encoding="utf-8").read()[x["start"]:x["end"]] == x["text"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, needle",
    [
        (["ingest", "/no/such/dir", "--kb", "{kb}"], "no such file"),
        (["ingest", "{docs}", "--kb", "{kb}", "--chunk-size", "100", "--chunk-overlap", "100"], "chunk_overlap"),
        (["ingest", "{docs}", "--kb", "{kb}", "--splitter", "magic"], "unknown splitter"),
        (["ingest", "{docs}", "--kb", "{kb}", "--embedder", "sentence-transformers:///no/model"], "not found"),
        (["query", "x", "--kb", "{kb}/missing"], "no knowledge base"),
        (["query", "x", "--kb", "http://127.0.0.1:{port}/c"], "chroma run"),
    ],
)
def test_cli_bad_input(tmp_path, docs, args, needle):
    subs = {"{kb}": str(tmp_path / "kb"), "{docs}": str(docs), "{port}": str(free_port())}
    r = run_cli(*[_sub(a, subs) for a in args])
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def _sub(arg, subs):
    for k, v in subs.items():
        arg = arg.replace(k, v)
    return arg


# ---- hardening (issue #15) -----------------------------------------------------------------------

_KILL_BEFORE_STAMP = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from tests.conftest import HashEmbedder
from agentkit.chunking import make_splitter
from agentkit.retrievers import KnowledgeBase

# The moment the issue names: every upsert done, the stamp not yet written.
KnowledgeBase._touch = lambda self, col: os.kill(os.getpid(), signal.SIGKILL)
kb = KnowledgeBase(sys.argv[2], embedder=HashEmbedder(), splitter=make_splitter("recursive", chunk_size=60, chunk_overlap=0))
kb.ingest(sys.argv[3:])
"""


def test_bm25_catches_up_after_a_kill_between_upsert_and_stamp(tmp_path, docs):
    import signal
    import sys

    from .conftest import ROOT

    kb_dir = tmp_path / "kb"
    make_kb(kb_dir).ingest([docs / "mars.md"])
    assert make_kb(kb_dir).retrieve("moons", k=3, mode="bm25")  # the BM25 index is built and saved now
    script = tmp_path / "kill.py"
    script.write_text(_KILL_BEFORE_STAMP, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), str(ROOT), str(kb_dir), str(docs / "mars.md"), str(docs / "jupiter.md")], check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    rerun = make_kb(kb_dir).ingest([docs / "mars.md", docs / "jupiter.md"])
    assert rerun.chunks_added == 0  # the killed run's chunks are in the collection
    for kb in (make_kb(kb_dir), make_kb(kb_dir)):  # a fresh process reads the saved index, then it is rebuilt
        top = kb.retrieve("Great Red Spot storm", k=1, mode="bm25")
        assert top and "Great Red Spot" in top[0].text
        assert len(kb.bm25_index().ids) == kb.count()


def test_empty_knowledge_base_answers_no_results(tmp_path, docs):
    from agentkit import pipeline
    from agentkit.distill import DistillJob
    from agentkit.llm import ScriptedLLM

    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs / "mars.md"])
    kb.delete_source(str((docs / "mars.md").resolve()))
    fresh = make_kb(tmp_path / "kb")
    assert fresh.count() == 0 and fresh.chunks() == []
    for mode in ("dense", "bm25", "hybrid"):
        assert fresh.retrieve("moons", k=3, mode=mode, mmr=True) == []
    result = pipeline.create("rag", ScriptedLLM(["I do not know."]), retriever=fresh, k=3).run("How many moons?")
    assert result.answer == "I do not know." and result.sources == ()
    with pytest.raises(KnowledgeBaseError, match="empty"):
        DistillJob(fresh, tmp_path / "out", ScriptedLLM(["x"])).run()


def test_first_ingest_killed_early_leaves_a_queryable_kb(tmp_path):
    kb = make_kb(tmp_path / "kb")
    kb._collection_for_write(kb.embedder)  # the collection exists, no chunk was written yet
    assert make_kb(tmp_path / "kb").retrieve("anything", k=3, mode="hybrid") == []


def test_ingest_of_only_skipped_files_leaves_kb_untouched(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "empty.md").write_text("\n", encoding="utf-8")
    report = make_kb(tmp_path / "kb").ingest([d])
    assert report.documents == 0 and [r for _, r in report.skipped] == ["empty document"]
    assert make_kb(tmp_path / "kb")._existing_collection() is None


def test_cli_empty_kb_ingest_query(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "empty.md").write_text("  \n", encoding="utf-8")
    (d / "blob.txt").write_bytes(b"\x00\x01\x02")
    kb = str(tmp_path / "kb")
    r = run_cli("ingest", str(d), "--kb", kb)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "every file was skipped" in r.stderr and "empty.md" in r.stderr and "blob.txt" in r.stderr
    make = make_kb(kb)
    make.ingest([Path(__file__).parent / "conftest.py"])
    make.delete_source(str((Path(__file__).parent / "conftest.py").resolve()))
    for mode in ("dense", "bm25", "hybrid"):
        q = run_cli("query", "anything", "--kb", kb, "--mode", mode)
        assert q.returncode == 0 and "no results" in q.stdout and "Traceback" not in q.stderr, q.stderr


def test_cli_distill_over_an_empty_folder(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "empty.md").write_text("", encoding="utf-8")
    r = run_cli("distill", str(d), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "nothing to distill" in r.stderr and "empty.md" in r.stderr and "Traceback" not in r.stderr


def test_new_tags_reach_unchanged_chunks(tmp_path, docs):
    kb = make_kb(tmp_path / "kb")
    first = kb.ingest([docs / "mars.md"], tags=["old"])
    again = make_kb(tmp_path / "kb").ingest([docs / "mars.md"], tags=["new"])
    kb = make_kb(tmp_path / "kb")
    for mode in ("dense", "bm25", "hybrid"):
        assert len(kb.retrieve("Mars moons day", k=10, mode=mode, where={"tags": "new"})) > 0
        assert kb.retrieve("Mars moons day", k=10, mode=mode, where={"tags": "old"}) == []
    assert (again.chunks_added, again.embedded, again.chunks_retagged) == (0, 0, first.chunks_total)
    cleared = make_kb(tmp_path / "kb").ingest([docs / "mars.md"])
    assert cleared.chunks_retagged == first.chunks_total
    assert all("tags" not in c.metadata or not c.metadata["tags"] for c in make_kb(tmp_path / "kb").chunks())


@pytest.mark.parametrize("prune", [False, True])
def test_emptied_file_drops_its_chunks(tmp_path, docs, prune):
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    mars = str((docs / "mars.md").resolve())
    n = len([c for c in kb.chunks() if c.source == mars])
    (docs / "mars.md").write_text("\n\n", encoding="utf-8")
    report = make_kb(tmp_path / "kb").ingest([docs], prune=prune)
    assert report.chunks_removed == n and (mars, "empty document") in report.skipped
    kb = make_kb(tmp_path / "kb")
    assert mars not in kb.sources() and not any("Phobos" in c.text for c in kb.retrieve("Phobos moons", k=10, mode="bm25"))


def test_min_score_is_cosine_similarity_in_dense_and_hybrid(tmp_path, docs):
    import numpy as np

    from agentkit.embeddings import normalize

    embedder = HashEmbedder()
    kb = make_kb(tmp_path / "kb", embedder)
    kb.ingest([docs])
    query = "Great Red Spot storm on Jupiter"
    q = normalize(embedder.embed([query]))[0]
    similarity = {c.chunk_id: float(normalize(embedder.embed([c.text]))[0] @ q) for c in kb.chunks()}
    floor = float(np.median(list(similarity.values())))  # hash vectors are all alike: a fixed 0.3 would keep everything
    expected = {cid for cid, s in similarity.items() if s >= floor}
    assert expected and len(expected) < len(similarity)  # the floor really separates chunks
    dense = kb.retrieve(query, k=50, mode="dense", min_score=floor)
    hybrid = kb.retrieve(query, k=50, mode="hybrid", min_score=floor)
    assert {c.chunk_id for c in dense} == expected
    hybrid_pool = {c.chunk_id for c in kb.retrieve(query, k=50, mode="hybrid")}
    assert {c.chunk_id for c in hybrid} == expected & hybrid_pool and hybrid
    for c in hybrid:
        assert c.scores["dense"] == pytest.approx(similarity[c.chunk_id], abs=1e-4) and c.score < floor  # ordered by RRF
    assert [c.score for c in hybrid] == sorted((c.score for c in hybrid), reverse=True)
    bm25 = kb.retrieve(query, k=50, mode="bm25")
    cut = float(np.median([c.score for c in bm25]))
    assert {c.chunk_id for c in kb.retrieve(query, k=50, mode="bm25", min_score=cut)} == {c.chunk_id for c in bm25 if c.score >= cut}


def test_vectors_of_another_dimension_never_reach_the_collection(tmp_path, docs):
    class Lying(HashEmbedder):
        @property
        def dimension(self) -> int:
            return 32  # what it claims; it embeds 64

    kb = make_kb(tmp_path / "kb", Lying(name=f"lying-{tmp_path.name}"))
    with pytest.raises(KnowledgeBaseError, match="64-dimensional"):
        kb.ingest([docs])
    assert make_kb(tmp_path / "kb").count() == 0


def test_dense_queries_do_not_count_the_collection_each_time(tmp_path, docs, monkeypatch):
    """count() is a round trip per query (a millisecond with an embedded Chroma, more with a server); only the
    first query of a knowledge base whose embedder is not loaded yet needs it (an empty one answers [])."""
    kb = make_kb(tmp_path / "kb")
    kb.ingest([docs])
    fresh = make_kb(tmp_path / "kb")
    counts = []
    original = type(fresh)._existing_collection

    def counting_collection(self):
        col = original(self)
        if col is not None and not hasattr(col, "_counted"):
            real = col.count
            object.__setattr__(col, "count", lambda: counts.append(1) or real())
            object.__setattr__(col, "_counted", True)
        return col

    monkeypatch.setattr(type(fresh), "_existing_collection", counting_collection)
    for q in ["Mars moons", "Jupiter", "red planet", "Phobos", "Deimos"]:
        assert fresh.retrieve(q, 3, mode="dense")
    assert counts == [1]  # the first query, before the embedder is loaded


def test_a_failed_store_stops_the_ingest_and_raises(tmp_path, docs, monkeypatch):
    """Storing runs on a worker thread while the next batch is embedded: its error must still reach the caller,
    and no later batch may be stored after it."""
    from agentkit.retrievers import knowledge_base

    monkeypatch.setattr(knowledge_base, "_BATCH", 1)
    kb = make_kb(tmp_path / "kb")
    col = kb._collection_for_write(kb.embedder)
    stored = []
    real_upsert = col.upsert

    def failing_upsert(**kwargs):
        if stored:
            raise RuntimeError("disk full")
        stored.append(kwargs["ids"])
        return real_upsert(**kwargs)

    object.__setattr__(col, "upsert", failing_upsert)
    with pytest.raises(RuntimeError, match="disk full"):
        kb.ingest([docs])
    assert kb.count() == 1
