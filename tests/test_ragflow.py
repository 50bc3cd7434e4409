"""RAGFlow knowledge base against the rebuilt protocol double (tests/ragflow_double.py, rules in RAGFLOW_DOUBLE.md).

Two halves, each run for both server releases the double knows (0.22.1, the pinned SDK's; 0.27.0, the newest):
first the double itself, driven through the real ragflow-sdk and raw HTTP, shows each way RAGFlow differs from what
agentkit used to assume (tests named after the divergence); then agentkit's client is held to those rules.
tests/test_ragflow_live.py runs the client's behaviour against a real server when RAGFLOW_BASE_URL is set.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid

import httpx
import pytest

from agentkit import pipeline
from agentkit.errors import BackendUnavailableError, ConfigError, KnowledgeBaseError
from agentkit.llm.scripted import ScriptedLLM
from agentkit.retrievers.open import open_knowledge_base
from agentkit.retrievers.ragflow import RagflowKnowledgeBase, RemoteDocument, parse_spec, plan_ingest, run_state
from tests.conftest import free_port, run_cli
from tests.ollama_double import OllamaDouble
from tests.ragflow_double import API_KEY, NEW, OLD, VERSIONS, RagflowDouble


@pytest.fixture(params=VERSIONS)
def ragflow(request):  # type: ignore[no-untyped-def]
    with RagflowDouble(request.param) as double:
        yield double


@pytest.fixture
def docs(tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "jupiter.md").write_text("Jupiter is the largest planet.\n\nJupiter has 95 known moons.", encoding="utf-8")
    (folder / "taiwan.md").write_text("臺北是臺灣的首都。\n\n玉山是臺灣最高的山。", encoding="utf-8")
    return folder


def kb_for(double: RagflowDouble, dataset: str = "planets", query: str = "", **kw) -> RagflowKnowledgeBase:  # type: ignore[no-untyped-def]
    return RagflowKnowledgeBase.from_spec(f"ragflow://{double.address}/{dataset}?api_key={API_KEY}&similarity_threshold=0.1{query}", **kw)


def sdk(double: RagflowDouble):  # type: ignore[no-untyped-def]
    # RAGFlow's own client (a test extra: 0.22.x installs only below Python 3.13)
    return pytest.importorskip("ragflow_sdk").RAGFlow(api_key=API_KEY, base_url=double.base_url)


def api(double: RagflowDouble, method: str, path: str, key: str = API_KEY, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.request(method, f"{double.base_url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"}, trust_env=False, **kw)


def parse_all(double: RagflowDouble, dataset, ids: list[str], start: bool = True) -> None:  # type: ignore[no-untyped-def]
    if start:
        dataset.async_parse_documents(ids)
    for _ in range(200):  # every request moves the double's task executor one step
        if all(run_state(d.run) in ("DONE", "FAIL") for d in dataset.list_documents(page_size=100)):
            return
    raise AssertionError("the double never finished parsing")


# ---- the double reproduces the server (driven through the real ragflow-sdk and raw HTTP) ------------------------


def test_stop_is_refused_for_queued_documents(ragflow) -> None:  # type: ignore[no-untyped-def]
    ragflow.state.workers = 1
    ds = sdk(ragflow).create_dataset("stop")
    first, queued = ds.upload_documents([{"display_name": "slow.md", "blob": b"one"}, {"display_name": "b.md", "blob": b"two"}])
    ds.async_parse_documents([first.id, queued.id])
    assert run_state(ds.list_documents(id=queued.id)[0].run) == "RUNNING"  # the executor has not picked it up
    if ragflow.version == OLD:  # progress 0 (queued) or 1 refuses, whatever ``run`` says
        with pytest.raises(Exception, match="progress at 0 or 1"):
            ds.async_cancel_parse_documents([first.id, queued.id])
        assert run_state(ds.list_documents(id=first.id)[0].run) == "CANCEL"  # the ids before the refused one are stopped
    else:  # anything not RUNNING refuses: a document that never started, or finished
        ds.async_cancel_parse_documents([queued.id])
        with pytest.raises(Exception, match="not started or already completed"):
            ds.async_cancel_parse_documents([queued.id])


def test_second_upload_with_an_existing_name_is_renamed(ragflow) -> None:  # type: ignore[no-untyped-def]
    ds = sdk(ragflow).create_dataset("names")
    ds.upload_documents([{"display_name": "README.md", "blob": b"a"}])
    again = ds.upload_documents([{"display_name": "README.md", "blob": b"b"}, {"display_name": "readme.md", "blob": b"c"}])
    assert [d.name for d in again] == ["README(1).md", "readme(2).md"]  # names compare without case (MySQL *_ci)


def test_unsupported_types_are_refused_and_a_partly_failed_upload_is_an_error(ragflow) -> None:  # type: ignore[no-untyped-def]
    ds = sdk(ragflow).create_dataset("types")
    for suffix in (".rst", ".markdown", ".text", ".xhtml"):
        with pytest.raises(Exception, match="not been supported"):
            ds.upload_documents([{"display_name": f"x{suffix}", "blob": b"text"}])
    files = [("file", ("good.md", b"fine")), ("file", ("bad.rst", b"refused"))]
    answer = api(ragflow, "POST", f"/datasets/{ds.id}/documents", files=files).json()
    assert answer["code"] == 500 and "bad.rst: This type of file has not been supported yet!" in answer["message"]
    assert ("data" in answer) is (ragflow.version == NEW)  # only 0.27 says which files it kept
    assert [(d.name, run_state(d.run)) for d in ds.list_documents()] == [("good.md", "UNSTART")]  # kept, unparsed


def test_retrieval_caps_page_size_at_100(ragflow) -> None:  # type: ignore[no-untyped-def]
    rag = sdk(ragflow)
    ds = rag.create_dataset("cap")
    if ragflow.version == NEW:
        with pytest.raises(Exception, match="page_size must be less than or equal to 100"):
            rag.retrieve([ds.id], question="x", page_size=101)
    else:
        assert rag.retrieve([ds.id], question="x", page_size=101) == []


def test_document_listing_shape_and_unknown_ids(ragflow) -> None:  # type: ignore[no-untyped-def]
    ds = sdk(ragflow).create_dataset("listing")
    ds.upload_documents([{"display_name": "a.md", "blob": b"a"}])
    data = api(ragflow, "GET", f"/datasets/{ds.id}/documents").json()["data"]
    assert set(data) == {"total", "docs"} and data["total"] == 1
    with pytest.raises(Exception, match="don't own the document"):
        ds.list_documents(id="0" * 32)


def test_creating_a_dataset_whose_name_exists_makes_name_1(ragflow) -> None:  # type: ignore[no-untyped-def]
    rag = sdk(ragflow)
    assert [rag.create_dataset(n).name for n in ("docs", "docs", "Docs")] == ["docs", "docs(1)", "Docs(2)"]


def test_deleting_returns_a_count_and_refuses_unknown_ids(ragflow) -> None:  # type: ignore[no-untyped-def]
    ds = sdk(ragflow).create_dataset("delete")
    a, b = ds.upload_documents([{"display_name": "a.md", "blob": b"a"}, {"display_name": "b.md", "blob": b"b"}])
    unknown = uuid.uuid1().hex
    refused = api(ragflow, "DELETE", f"/datasets/{ds.id}/documents", json={"ids": [a.id, unknown]}).json()
    assert refused["code"] == 102 and unknown in refused["message"]
    left = {d.id for d in ds.list_documents()}
    assert left == ({b.id} if ragflow.version == OLD else {a.id, b.id})  # 0.22 deleted the known id anyway
    answer = api(ragflow, "DELETE", f"/datasets/{ds.id}/documents", json={"ids": [b.id]}).json()
    assert answer == ({"code": 0} if ragflow.version == OLD else {"code": 0, "data": {"deleted": 1}})
    gone = api(ragflow, "DELETE", "/datasets", json={"ids": [unknown]}).json()
    assert gone["code"] == (108 if ragflow.version == OLD else 102) and "lacks permission" in gone["message"]


def test_reparsing_a_running_document_is_refused(ragflow) -> None:  # type: ignore[no-untyped-def]
    ds = sdk(ragflow).create_dataset("reparse")
    (doc,) = ds.upload_documents([{"display_name": "slow.md", "blob": b"never ends"}])
    ds.async_parse_documents([doc.id])
    ds.list_documents()  # the executor starts it
    with pytest.raises(Exception, match="currently being processed"):
        ds.async_parse_documents([doc.id])


def test_schedule_is_a_run_state(ragflow) -> None:  # type: ignore[no-untyped-def]
    ds = sdk(ragflow).create_dataset("schedule")
    (doc,) = ds.upload_documents([{"display_name": "a.md", "blob": b"a"}])
    ragflow.state.documents[doc.id]["run"] = "5"  # TaskStatus.SCHEDULE
    shown = ds.list_documents(id=doc.id)[0].run
    assert shown == ("5" if ragflow.version == OLD else "UNSTART") and run_state(shown) in ("SCHEDULE", "UNSTART")


def test_parsing_is_asynchronous_and_dataset_counts_follow_it(ragflow) -> None:  # type: ignore[no-untyped-def]
    rag = sdk(ragflow)
    ds = rag.create_dataset("async")
    (doc,) = ds.upload_documents([{"display_name": "a.md", "blob": "one\n\ntwo\n\n三".encode()}])
    ds.async_parse_documents([doc.id])
    first = ds.list_documents(id=doc.id)[0]
    assert run_state(first.run) == "RUNNING" and first.progress < 1  # the call returned before any parsing
    listed = rag.list_datasets(name="async")[0]
    assert listed.document_count == 1 and listed.chunk_count == 0
    parse_all(ragflow, ds, [doc.id], start=False)
    assert rag.list_datasets(name="async")[0].chunk_count == 3


def test_highlight_carries_em_markup_and_positions_are_page_boxes(ragflow) -> None:  # type: ignore[no-untyped-def]
    ds = sdk(ragflow).create_dataset("marks")
    docs = ds.upload_documents([{"display_name": "p.pdf", "blob": b"Intro page.\f Jupiter has moons."}])
    parse_all(ragflow, ds, [d.id for d in docs])
    data = api(ragflow, "POST", "/retrieval", json={"question": "Jupiter moons", "dataset_ids": [ds.id], "highlight": True}).json()["data"]
    (chunk,) = data["chunks"]
    assert chunk["highlight"] == "<em>Jupiter</em> has <em>moons</em>."
    assert len(chunk["positions"]) == 1 and len(chunk["positions"][0]) == 5 and chunk["positions"][0][0] == 2  # [page, x0, x1, top, bottom]


def test_auth_failure_is_http_200_code_109_on_old_servers_and_http_401_on_new(ragflow) -> None:  # type: ignore[no-untyped-def]
    answer = api(ragflow, "GET", "/datasets", key="wrong")
    if ragflow.version == OLD:
        assert answer.status_code == 200 and answer.json()["code"] == 109
    else:
        assert answer.status_code == 401 and answer.json()["code"] == 401


# ---- agentkit's client, held to those rules -----------------------------------------------------------------------


def test_spec_parsing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kb = RagflowKnowledgeBase.from_spec("ragflows://rag.example:9380/my-docs?api_key=k&top_k=64&keyword=1&chunk_token_num=256&delimiter=%0A"
                                        "&cross_languages=en,zh&use_kg=true&rerank_id=bge@BAAI&meta.author=Ann&chunk_method=book")
    assert kb.base_url == "https://rag.example:9380" and kb.datasets == ("my-docs",) and kb.top_k == 64 and kb.keyword and kb.use_kg
    assert kb.parser_config == {"chunk_token_num": 256, "delimiter": "\n"} and kb.cross_languages == ("en", "zh") and kb.chunk_method == "book"
    assert kb.metadata_condition == {"conditions": [{"name": "author", "comparison_operator": "is", "value": "Ann"}]}
    assert parse_spec("ragflow://h:1/a,b%2Cc?api_key=k")[1] == ("a", "b,c")
    for bad, match in (("colour=red", "unknown option.*colour.*RAGFlow"), ("top_k=0", "top_k=0"), ("chunk_token_num=4096", "outside"),
                       ("chunk_method=fancy", "chunk_method"), ("keyword=maybe", "keyword.*yes/no"), ("similarity_threshold=2", "outside 0..1"),
                       ('metadata_condition={"conditions":[{"name":"a","comparison_operator":"like","value":1}]}', "bad metadata condition"),
                       ('parser_config={"colour":1}', "parser_config key")):
        with pytest.raises(ConfigError, match=match):
            RagflowKnowledgeBase.from_spec(f"ragflow://h:1/d?api_key=k&{bad}")
    monkeypatch.delenv("RAGFLOW_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="API key"):
        RagflowKnowledgeBase.from_spec("ragflow://h:1/d")
    assert [run_state(x) for x in ("3", "DONE", "fail", 1, "5")] == ["DONE", "DONE", "FAIL", "RUNNING", "SCHEDULE"]


def test_schedule_and_queued_states_are_pending_and_only_running_parses_are_stopped() -> None:
    def state(run: str, progress: float) -> RemoteDocument:
        return RemoteDocument.from_json({"id": "d", "dataset_id": "s", "name": "a.md", "run": run, "progress": progress})

    assert [state(r, 0.0).finished for r in ("5", "SCHEDULE", "UNSTART", "1")] == [False] * 4
    assert [state(r, p).finished for r, p in (("3", 1.0), ("FAIL", -1.0), ("CANCEL", 0.0), ("RUNNING", 1.0))] == [True] * 4
    assert state("RUNNING", 1.0).state == "DONE"  # progress 1 is done before run says so (ragflow-sdk's rule too)
    assert [state(r, p).cancellable for r, p in (("RUNNING", 0.5), ("RUNNING", 0.0), ("RUNNING", 1.0), ("UNSTART", 0.5), ("FAIL", -1.0))] == [True, False, False, False, False]


def test_plan_tracks_by_source_and_hash_never_by_name() -> None:
    from agentkit.retrievers.ragflow import LocalFile

    def doc(i: str, name: str, source: str | None, sha: str, run: str = "DONE") -> RemoteDocument:
        return RemoteDocument(i, "ds", name, run=run, meta={"agentkit_source": source, "agentkit_sha256": sha} if source else {})

    a, b = LocalFile(None, "/x/a/README.md", "h1", 1), LocalFile(None, "/x/b/README.md", "h2", 1)  # type: ignore[arg-type]
    remote = [doc("1", "README.md", "/x/a/README.md", "h1"), doc("2", "README(1).md", "/x/b/README.md", "old"),
              doc("3", "gone.md", "/x/gone.md", "h3"), doc("4", "README.md", None, "h1"), doc("5", "README(2).md", "/x/a/README.md", "h1", "FAIL")]
    plan = plan_ingest([a, b], remote, prune=True)
    assert plan.unchanged == (a,) and plan.upload == (b,)
    assert [d.id for d in plan.replaced] == ["5", "2"] and [d.id for d in plan.stale] == ["3"] and [d.id for d in plan.foreign] == ["4"]
    assert plan_ingest([a, b], remote, prune=False).stale == ()


def test_ingest_parse_and_retrieve(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    seen = []
    report = kb.ingest([docs], progress=lambda done, total: seen.append((done, total)), poll=0.001)
    assert report.documents == 2 and report.chunks_added == 4 and report.chunks_total == 4 and seen[-1] == (2, 2)
    again = kb_for(ragflow).ingest([docs], poll=0.001)
    assert again.unchanged_documents == 2 and again.chunks_added == 0 and not ragflow.state.calls("POST", "/chunks")[1:]
    hits = kb.retrieve("how many moons does Jupiter have", 2)
    assert hits[0].text == "Jupiter has 95 known moons." and hits[0].source == str((docs / "jupiter.md").resolve())
    assert set(hits[0].scores) == {"similarity", "vector_similarity", "term_similarity"}
    assert hits[0].metadata["highlight"] == "<em>Jupiter</em> has 95 known <em>moons</em>." and hits[0].metadata["document_name"] == "jupiter.md"
    assert kb.retrieve("玉山", 1)[0].text == "玉山是臺灣最高的山。"
    raw = kb.search("Jupiter", 1)
    assert len(raw["chunks"]) == 1 and raw["doc_aggs"][0]["doc_name"] == "jupiter.md"  # what ragflow-sdk drops
    assert kb.retrieve("   ", 3) == []
    assert [c.text for c in kb.chunks()][:2] == ["Jupiter is the largest planet.", "Jupiter has 95 known moons."]


def test_same_named_files_from_different_folders_both_survive(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for folder, text in (("a", "Alpha notes.\n\nAlpha facts."), ("b", "Beta notes.")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text(text, encoding="utf-8")
    kb = kb_for(ragflow)
    for _ in range(2):
        report = kb.ingest([tmp_path / "a", tmp_path / "b"], prune=True, poll=0.001)
        assert report.chunks_total == 3
    assert sorted(d["name"] for d in ragflow.documents()) == ["README(1).md", "README.md"]
    assert kb.sources() == [str((tmp_path / "a" / "README.md").resolve()), str((tmp_path / "b" / "README.md").resolve())]
    assert report.unchanged_documents == 2 and len(ragflow.state.calls("POST", "/documents")) == 1  # the second ingest uploaded nothing
    assert {h.source for h in kb.retrieve("notes", 5)} == set(kb.sources())


def test_an_edit_that_keeps_the_size_is_detected(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.001)
    page = docs / "jupiter.md"
    before = page.stat().st_size
    page.write_text("Jupiter is the largest planet.\n\nJupiter has 97 known moons.", encoding="utf-8")
    assert page.stat().st_size == before
    report = kb.ingest([docs], poll=0.001)
    assert report.unchanged_documents == 1 and report.chunks_added == 2 and report.chunks_removed == 2 and report.chunks_total == 4
    assert [c.text for c in kb.chunks() if c.source == str(page.resolve())] == ["Jupiter is the largest planet.", "Jupiter has 97 known moons."]


def test_prune_removes_only_what_agentkit_uploaded(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.001)
    ds_id = ragflow.dataset("planets")["id"]
    api(ragflow, "POST", f"/datasets/{ds_id}/documents", files=[("file", ("by-hand.md", b"Uploaded in the web UI."))])
    report = kb.ingest([docs / "jupiter.md"], prune=True, poll=0.001)
    assert report.chunks_removed == 2 and report.skipped == [("by-hand.md", "not uploaded by agentkit: --prune leaves it")]
    assert sorted(d["name"] for d in ragflow.documents()) == ["by-hand.md", "jupiter.md"]


def test_unsupported_file_types_are_refused_before_uploading(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    for name in ("guide.rst", "notes.markdown", "plain.text", "page.xhtml"):
        (docs / name).write_text("text", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"does not accept \.markdown, \.rst, \.text, \.xhtml files") as info:
        kb_for(ragflow).ingest([docs], poll=0.001)
    assert ".md" in info.value.hint and "--exclude" in info.value.hint
    assert ragflow.state.requests == []  # refused before any call
    assert kb_for(ragflow).ingest([docs], exclude=["*.rst", "*.markdown", "*.text", "*.xhtml"], poll=0.001).documents == 2


def test_uploads_go_in_bounded_batches(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(7):
        (folder / f"doc{i}.md").write_text(f"Fact {i}. " + "x" * 3000, encoding="utf-8")
    ragflow.state.max_content_length = 12_000  # one request with all seven files would be refused
    report = kb_for(ragflow, "batches", upload_batch_files=3, upload_batch_bytes=10_000).ingest([folder], poll=0.001)
    assert report.documents == 7 and report.chunks_total == 7
    uploads = ragflow.state.calls("POST", "/documents")
    assert [len(u["files"]) for u in uploads] == [3, 3, 1] and all(u["bytes"] <= 12_000 for u in uploads)


def test_parse_failure_leaves_nothing_behind(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "will-fail.md"
    bad.write_text("content", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="could not parse 1 of 1.*will-fail.md.*can't parse"):
        kb_for(ragflow, "fresh").ingest([bad], poll=0.001)
    assert ragflow.state.documents == {} and ragflow.state.datasets == {}  # the dataset it created is gone too
    with pytest.raises(KnowledgeBaseError):
        kb_for(ragflow, "keep").ingest([bad], poll=0.001, keep_failed=True)
    assert len(ragflow.documents("keep")) == 1


def test_parse_timeout_cleans_up_within_the_servers_cancel_rules(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ragflow.state.workers = 1  # one document parses at a time: "slow" runs forever, the one after it stays queued
    for name in ("a.md", "slow.md", "z.md"):
        (tmp_path / name).write_text(f"{name} text", encoding="utf-8")
    files = [tmp_path / n for n in ("a.md", "slow.md", "z.md")]
    with pytest.raises(KnowledgeBaseError, match="did not finish parsing") as info:
        kb_for(ragflow, "timeout").ingest(files, poll=0.005, parse_timeout=0.3)
    assert "parse_timeout" in info.value.hint and "incomplete" not in info.value.hint
    assert ragflow.state.documents == {} and ragflow.state.datasets == {}
    stops = ragflow.state.calls("DELETE", "/chunks")
    assert all(len(s["json"]["document_ids"]) == 1 for s in stops)  # one at a time, only documents the server will stop
    with pytest.raises(KnowledgeBaseError, match="did not finish parsing") as info:
        kb_for(ragflow, "kept").ingest(files, poll=0.005, parse_timeout=0.3, keep_failed=True)
    assert "still queued" in info.value.hint
    states = {d["name"]: (d["run"], d["progress"]) for d in ragflow.documents("kept")}
    assert states["z.md"] == ("1", 0.0)  # queued: no release lets it be stopped, so it was left to the server


def test_a_stop_refused_because_parsing_just_finished_is_harmless(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slow = tmp_path / "slow.md"
    slow.write_text("slow text", encoding="utf-8")

    def finish(state, doc) -> None:  # type: ignore[no-untyped-def]  # the parse ends while the stop request is in flight
        doc.update(run="3", progress=1.0)
        if doc["id"] in state.queue:
            state.queue.remove(doc["id"])

    ragflow.state.before_stop = finish
    with pytest.raises(KnowledgeBaseError, match="did not finish parsing") as info:
        kb_for(ragflow, "race").ingest([slow], poll=0.005, parse_timeout=0.5)
    assert "incomplete" not in info.value.hint and ragflow.state.datasets == {}
    assert ragflow.state.calls("DELETE", "/chunks")  # it did ask, and was refused


def test_a_partly_failed_upload_leaves_nothing_behind(ragflow, docs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests import ragflow_double

    real = ragflow_double.Rules.file_type
    monkeypatch.setattr(ragflow_double.Rules, "file_type", lambda self, name: "other" if name.startswith("taiwan") else real(self, name))
    with pytest.raises(KnowledgeBaseError, match="taiwan.md: This type of file has not been supported yet"):
        kb_for(ragflow, "partial").ingest([docs], poll=0.001)
    assert ragflow.state.documents == {} and ragflow.state.datasets == {}  # jupiter.md was stored, then removed


def test_retrieve_pages_beyond_100(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.md"
    big.write_text("\n\n".join(f"Jupiter fact number {i}." for i in range(150)), encoding="utf-8")
    kb = kb_for(ragflow, "big")
    kb.ingest([big], poll=0.001)
    hits = kb.retrieve("Jupiter fact", 130)
    assert len(hits) == 130 and len({h.chunk_id for h in hits}) == 130
    assert all(r["json"]["page_size"] <= 100 for r in ragflow.state.calls("POST", "/retrieval"))


def test_count_reads_the_server(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.001)
    assert kb.count() == 4
    kb.ingest([docs / "jupiter.md"], prune=True, poll=0.001)
    assert kb.count() == 2 == ragflow.dataset("planets")["chunk_num"]


def test_several_datasets_per_query(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb_for(ragflow, "space").ingest([docs / "jupiter.md"], poll=0.001)
    kb_for(ragflow, "island").ingest([docs / "taiwan.md"], poll=0.001)
    both = kb_for(ragflow, "space,island")
    assert {h.metadata["document_name"] for h in both.retrieve("Jupiter 玉山", 4)} == {"jupiter.md", "taiwan.md"}
    assert both.count() == 4 and len(both.sources()) == 2
    with pytest.raises(ConfigError, match="cannot ingest into 2 datasets"):
        both.ingest([docs])


def test_retrieval_options_reach_the_server(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb_for(ragflow).ingest([docs], poll=0.001)
    jupiter = str((docs / "jupiter.md").resolve())
    kb = kb_for(ragflow, query=f"&meta.agentkit_source={jupiter}&keyword=1&rerank_id=bge-reranker@BAAI&cross_languages=en,zh&use_kg=1&top_k=64")
    assert {h.source for h in kb.retrieve("Jupiter 玉山", 4)} == {jupiter}
    body = ragflow.state.calls("POST", "/retrieval")[-1]["json"]
    assert body["keyword"] is True and body["rerank_id"] == "bge-reranker@BAAI" and body["cross_languages"] == ["en", "zh"] and body["use_kg"] is True
    assert body["top_k"] == 64 and body["metadata_condition"]["conditions"][0]["value"] == jupiter
    only = kb_for(ragflow).retrieve("Jupiter 玉山", 4, where={"source": [str((docs / "taiwan.md").resolve())]})
    assert {h.metadata["document_name"] for h in only} == {"taiwan.md"}


def test_chunk_method_and_parser_config_at_creation(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb_for(ragflow, "books", "&chunk_method=book&chunk_token_num=256&auto_keywords=3").ingest([docs], poll=0.001)
    made = ragflow.dataset("books")
    assert made["parser_id"] == "book" and made["parser_config"]["chunk_token_num"] == 256 and made["parser_config"]["auto_keywords"] == 3


def test_a_dataset_created_meanwhile_is_used_not_duplicated(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    from tests.ragflow_double import Rules

    def someone_else_creates_it(state, name) -> None:  # type: ignore[no-untyped-def]
        state.before_create = None
        Rules(state).create_dataset({"name": name})

    ragflow.state.before_create = someone_else_creates_it
    kb_for(ragflow, "shared").ingest([docs], poll=0.001)
    assert [d["name"] for d in ragflow.state.datasets.values()] == ["shared"] and len(ragflow.documents("shared")) == 2


def test_options_ragflow_cannot_honour_are_errors(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    for kwargs, match in (({"mmr": True}, "--mmr"), ({"min_score": 0.5}, "--min-score"), ({"where": {"tags": ["x"]}}, "by tags")):
        with pytest.raises(ConfigError, match=match):
            kb.retrieve("Jupiter", 3, **kwargs)
    with pytest.raises(ConfigError, match="--tag"):
        kb.ingest([docs], tags=["x"])
    spec = f"ragflow://{ragflow.address}/planets?api_key={API_KEY}"
    with pytest.raises(ConfigError, match="--mode does not apply"):
        open_knowledge_base(spec, mode="bm25")
    assert isinstance(open_knowledge_base(spec, mode="hybrid", embedder=None), RagflowKnowledgeBase)
    assert ragflow.state.requests == []


def test_errors_are_one_line(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    wrong = RagflowKnowledgeBase(ragflow.base_url, "planets", api_key="wrong")
    with pytest.raises(KnowledgeBaseError, match="refused the API key") as info:
        wrong.ingest([docs])
    assert "RAGFLOW_API_KEY" in info.value.hint
    with pytest.raises(KnowledgeBaseError, match="no dataset 'missing'"):
        kb_for(ragflow, "missing").retrieve("x", 3)
    with pytest.raises(BackendUnavailableError, match="unreachable"):
        RagflowKnowledgeBase(f"http://127.0.0.1:{free_port()}", "d", api_key="k").retrieve("x", 1)
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.001)
    api(ragflow, "DELETE", "/datasets", json={"ids": [ragflow.dataset("planets")["id"]]})  # deleted behind our back
    with pytest.raises(KnowledgeBaseError, match="RAGFlow refused to retrieve: You don't own the dataset"):
        kb.retrieve("Jupiter", 2)


def test_every_call_has_a_timeout() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    accepted = []
    stop = threading.Event()

    def hold() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        kb = RagflowKnowledgeBase(f"http://127.0.0.1:{silent.getsockname()[1]}", "d", api_key="k", timeout=0.5)
        for call in (lambda: kb.retrieve("x", 1), kb.count, kb.sources):
            with pytest.raises(BackendUnavailableError, match="did not answer within 0.5s"):
                call()
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        silent.close()


def test_pagination_of_documents(ragflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(105):
        (folder / f"doc{i:03d}.md").write_text(f"Fact number {i}.", encoding="utf-8")
    ragflow.state.workers = 64
    kb = kb_for(ragflow, "many")
    assert kb.ingest([folder], poll=0.001).chunks_total == 105
    assert len(kb.sources()) == 105 and kb.ingest([folder], poll=0.001).unchanged_documents == 105


def test_rag_agent_over_ragflow(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    kb = kb_for(ragflow)
    kb.ingest([docs], poll=0.001)
    llm = ScriptedLLM(["How many moons does Jupiter have?", "Jupiter, moons", "95 moons."])
    result = pipeline.create("rag-agent", llm, retriever=kb, k=2).run("Tell me: how many moons does Jupiter have?")
    assert result.answer == "95 moons." and result.sources[0].source.endswith("jupiter.md")
    assert "Jupiter has 95 known moons." in llm.calls[-1][-1].content


def test_cli_ingest_and_query(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    spec = f"ragflow://{ragflow.address}/cli?api_key={API_KEY}&similarity_threshold=0.1"
    proc = run_cli("ingest", str(docs), "--kb", spec, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["chunks_total"] == 4
    found = run_cli("query", "玉山", "--kb", spec, "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["text"] == "玉山是臺灣最高的山。"
    bad = run_cli("query", "x", "--kb", spec.replace(API_KEY, "nope"))
    assert bad.returncode == 2 and "refused the API key" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_refuses_options_ragflow_cannot_honour(ragflow, docs) -> None:  # type: ignore[no-untyped-def]
    spec = f"ragflow://{ragflow.address}/cli?api_key={API_KEY}"
    for args, flag in ((["ingest", str(docs), "--chunk-size", "100"], "--chunk-size"), (["ingest", str(docs), "--tag", "x"], "--tag"),
                       (["query", "x", "--mode", "dense"], "--mode"), (["query", "x", "--mmr"], "--mmr"), (["query", "x", "--min-score", "0.3"], "--min-score"),
                       (["query", "x", "--tag", "t"], "by tags"), (["ask", "x", "--mode", "bm25"], "--mode")):
        proc = run_cli(*args, "--kb", spec)
        assert proc.returncode == 2 and flag in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert ragflow.state.calls("POST", "/documents") == []


def test_cli_distill_opens_a_ragflow_kb(ragflow, docs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = f"ragflow://{ragflow.address}/distill?api_key={API_KEY}&similarity_threshold=0.1"
    missing = run_cli("distill", "--kb", spec.replace("/distill", "/missing"), "--out", str(tmp_path / "o1"))
    assert missing.returncode == 2 and "RAGFlow has no dataset 'missing'" in missing.stderr
    with OllamaDouble("How many moons does Jupiter have?") as ollama:
        proc = run_cli("distill", str(docs), "--kb", spec, "--out", str(tmp_path / "o2"), "--llm", f"ollama://tiny?host={ollama.url}",
                       "--min-grounded", "0", "--split", "1,0,0", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["seed_chunks"] == 4 and len(ragflow.documents("distill")) == 2


def test_cli_demo_builds_into_a_ragflow_kb(ragflow, docs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    questions = tmp_path / "questions.txt"
    questions.write_text("How many moons does Jupiter have?\n", encoding="utf-8")
    spec = f"ragflow://{ragflow.address}/demo?api_key={API_KEY}&similarity_threshold=0.1"
    with OllamaDouble("95 moons.") as ollama:
        proc = run_cli("demo", "--kb", spec, "--docs", str(docs), "--questions", str(questions), "--llm", f"ollama://tiny?host={ollama.url}")
    assert proc.returncode == 0, proc.stderr
    assert "95 moons." in proc.stdout and "jupiter.md" in proc.stdout and len(ragflow.documents("demo")) == 2
