"""Chunking evaluation: metrics on hand-built spans with known answers, data loading, a small end-to-end run."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from agentkit.chunking import make_splitter
from agentkit.errors import ConfigError, InputError
from agentkit.evaluation import ChunkingEvaluation, load_eval_data, min_k, precision_omega, retrieval_scores
from agentkit.evaluation.spans import intersect, length, union
from tests.conftest import SHARED, run_cli

DATA = SHARED / "chunking_eval"
approx = pytest.approx


def test_span_arithmetic() -> None:
    assert union([(5, 10), (0, 3), (8, 12), (12, 14), (20, 20)]) == [(0, 3), (5, 14)]
    assert length([(0, 10), (5, 15)]) == 15
    assert intersect([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]


def test_full_overlap() -> None:
    refs = [("a", 10, 20)]
    assert retrieval_scores(refs, [("a", 10, 20)]) == (1.0, 1.0, 1.0)


def test_partial_overlap() -> None:
    refs = [("a", 10, 20)]
    recall, precision, iou = retrieval_scores(refs, [("a", 15, 35)])  # 5 of 10 ref chars; chunk is 20 long
    assert (recall, precision) == (0.5, 0.25)
    assert iou == approx(5 / (20 + 5))


def test_no_overlap_and_other_corpus() -> None:
    refs = [("a", 10, 20)]
    # Same offsets in another corpus do not count, but the chunk still counts in the denominators.
    recall, precision, iou = retrieval_scores(refs, [("b", 10, 20), ("a", 100, 110)])
    assert (recall, precision, iou) == (0.0, 0.0, 0.0)
    recall, precision, iou = retrieval_scores(refs, [("a", 10, 20), ("b", 10, 20)])
    assert recall == 1.0 and precision == 0.5 and iou == approx(10 / 20)


def test_overlapping_chunks_counted_twice_in_precision() -> None:
    refs = [("a", 0, 10)]
    recall, precision, iou = retrieval_scores(refs, [("a", 0, 10), ("a", 5, 15)])
    assert recall == 1.0  # overlap is the union: 10 characters, not 15
    assert precision == approx(10 / 20) and iou == approx(10 / 20)


def test_multiple_references_union() -> None:
    refs = [("a", 0, 10), ("a", 5, 20), ("a", 40, 50)]  # union (0,20)+(40,50): 30 reference characters
    recall, _, iou = retrieval_scores(refs, [("a", 0, 20)])
    assert recall == approx(20 / 30) and iou == approx(20 / (20 + 10))


def test_precision_omega_and_min_k() -> None:
    refs = [("a", 10, 20), ("a", 50, 55)]
    chunks = [(0, 15), (15, 30), (30, 45), (45, 60)]
    # touching chunks: (0,15), (15,30), (45,60): union 45 chars, covering all 15 reference chars
    assert precision_omega(refs, chunks) == approx(15 / 45)
    assert min_k(refs, chunks) == 3
    assert precision_omega([("a", 10, 20)], [(30, 40)]) == 0.0  # no chunk touches: 0 / (0 + 10)


def test_shared_data_loads_and_every_reference_matches() -> None:
    data = load_eval_data(DATA)
    assert len(data.questions) == 472 and sum(len(q.references) for q in data.questions) == 790
    for q in data.questions:
        for r in q.references:
            assert data.corpora[q.corpus][r.start:r.end] == r.content


def _copy_data(tmp_path, corpus: str = "chatlogs"):  # type: ignore[no-untyped-def]
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(DATA / f"{corpus}.md", folder)
    with (DATA / "questions_df.csv").open(encoding="utf-8", newline="") as src, (folder / "questions_df.csv").open("w", encoding="utf-8", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        writer.writerows(r for r in reader if r["corpus_id"] == corpus)
    return folder


def test_bad_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="not found"):
        load_eval_data(tmp_path / "nope")
    folder = _copy_data(tmp_path)
    text = (folder / "chatlogs.md").read_text(encoding="utf-8")
    (folder / "chatlogs.md").write_text("X" + text, encoding="utf-8")  # shifts every span by one
    with pytest.raises(InputError, match="does not match"):
        load_eval_data(folder)
    (folder / "questions_df.csv").write_text("question,corpus_id\nq,chatlogs\n", encoding="utf-8")
    with pytest.raises(InputError, match="references"):
        load_eval_data(folder)


def test_end_to_end_one_corpus(tmp_path, hash_embedder) -> None:  # type: ignore[no-untyped-def]
    data = load_eval_data(DATA, ["chatlogs"])
    evaluation = ChunkingEvaluation(data, hash_embedder)
    results = evaluation.run(make_splitter("recursive", chunk_size=200, size_unit="tokens"), ("dense", "bm25", "hybrid"), 5)
    assert [r.config["mode"] for r in results] == ["dense", "bm25", "hybrid"]
    for r in results:
        assert len(r.scores) == 56 and r.chunks > 5
        recall, recall_std = r.overall["recall"]
        assert 0 < recall <= 100 and recall_std >= 0
        assert 0 < r.overall["iou"][0] <= r.overall["precision"][0] + 1e-9  # IoU never exceeds precision
        assert r.mean_tokens <= 200
    # precision_Ω does not depend on retrieval
    assert len({r.overall["precision_omega"] for r in results}) == 1
    # k = min gives every question at least one chunk and at most 20
    assert evaluation.run(make_splitter("recursive", chunk_size=200, size_unit="tokens"), ("bm25",), "min")[0].config["k"] == "min"
    with pytest.raises(ConfigError, match="larger than the collection"):
        evaluation.run(make_splitter("recursive", chunk_size=4000), ("bm25",), 10_000)


def test_splitter_with_no_chunks(hash_embedder) -> None:  # type: ignore[no-untyped-def]
    from agentkit.chunking.base import Splitter

    class Nothing(Splitter):
        name = "nothing"

        def spans(self, text: str) -> list[tuple[int, int]]:
            return []

    with pytest.raises(ConfigError, match="no chunks"):
        ChunkingEvaluation(load_eval_data(DATA, ["chatlogs"]), hash_embedder).run(Nothing(), ("bm25",))


def test_paragraph_splitter_spans_sections_and_balance() -> None:
    text = "# Title\nFirst sentence here. Second one.\n\nA new paragraph starts. " + "Filler sentence number x. " * 30 + "\n\n## Next\nShort."
    chunks = make_splitter("paragraph", chunk_size=200).split(text)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert all(len(c.text) <= 200 for c in chunks)
    assert not any("Short." in c.text and "Filler" in c.text for c in chunks)  # heading closes the chunk
    body = [c for c in chunks if "Filler" in c.text]
    sizes = [len(c.text) for c in body]
    assert max(sizes) - min(sizes) < 60  # balanced: no dangling fragment


def test_cli_json_bm25_one_corpus(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("chunking-eval", "--data", str(DATA), "--corpora", "chatlogs", "--splitter", "recursive,paragraph", "--chunk-size", "200",
                   "--mode", "bm25", "--json", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["results"]) == 2
    for row in data["results"]:
        for m in ("recall", "precision", "iou", "precision_omega"):
            assert 0 <= row[m] <= 100 and f"{m}_std" in row
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"results.csv", "results.md", "recall_vs_iou.png", "metrics_by_size.png"}
    bad = run_cli("chunking-eval", "--data", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "not found" in bad.stderr
