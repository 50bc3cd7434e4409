"""Pipelines declare what each step reads and writes, and round-trip through to_dict/from_dict, so a run's
run.json can rebuild the pipeline that produced it."""

from __future__ import annotations

import json

import pytest

from agentkit import pipeline
from agentkit.errors import ConfigError, InputError
from agentkit.hw01 import load_items, run_questions
from agentkit.llm import ScriptedLLM
from agentkit.pipeline import Answer, Pipeline, QAState, Retrieve
from agentkit.retrievers import KnowledgeBase
from tests.conftest import ROOT, run_cli


class ListRetriever:
    def retrieve(self, query: str, k: int = 5) -> list:
        return []


def test_declared_reads_are_checked_when_built():
    def needs_contexts(state: QAState) -> QAState:
        return state

    needs_contexts.reads = ("contexts",)  # type: ignore[attr-defined]
    needs_contexts.writes = ("answer",)  # type: ignore[attr-defined]
    llm = ScriptedLLM(["x"])
    with pytest.raises(ConfigError, match="reads contexts, which no earlier step writes"):
        Pipeline([needs_contexts, Answer(llm)])
    assert Pipeline([Retrieve(ListRetriever()), needs_contexts, Answer(llm)]).step_names == ["retrieve", "needs_contexts", "answer"]

    def typo(state: QAState) -> QAState:
        return state

    typo.writes = ("anwser",)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unknown state field 'anwser'"):
        Pipeline([typo])


def test_round_trip_of_the_built_in_pipelines(tmp_path, hash_embedder):
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder, mode="bm25")
    for name in ("naive", "rag", "rag-agent"):
        extra = {} if name == "naive" else {"retriever": kb, "k": 3}
        original = pipeline.create(name, "llama-cpp://default?n_ctx=2048", language="zh-TW", **extra)
        data = original.to_dict()
        json.dumps(data)  # plain JSON
        rebuilt = Pipeline.from_dict(data)
        assert rebuilt.step_names == original.step_names and rebuilt.to_dict() == data
    rag = pipeline.create("rag", "llama-cpp://default", retriever=kb, k=3).to_dict()
    assert rag["steps"][0] == {"type": "retrieve", "k": 3, "retriever": {"type": "knowledge_base", "spec": f"chroma://{tmp_path / 'kb'}", "mode": "bm25"}}


def test_unsaveable_steps_say_so():
    with pytest.raises(ConfigError, match="cannot be saved"):
        pipeline.create("naive", "llama-cpp://default").with_step(lambda s: s).to_dict()
    with pytest.raises(ConfigError, match="no 'steps' list"):
        Pipeline.from_dict({"name": "x"})
    with pytest.raises(ConfigError, match="unknown pipeline step 'shout'"):
        Pipeline.from_dict({"steps": [{"type": "shout"}]})
    with pytest.raises(InputError):
        pipeline.load(ROOT / "no-such-file.json")


def test_hw01_run_json_replays(tmp_path):
    items = load_items(ROOT.parent / "shared" / "hw01" / "public.txt")[:1]
    original = pipeline.create("naive", "llama-cpp://default?n_ctx=2048", language="zh-TW")
    run_questions(items, original.replace_step("answer", Answer(ScriptedLLM(["光華國小"]), "zh-TW")), tmp_path / "scripted")
    # a step whose model cannot be rebuilt is still recorded, marked as such
    saved = json.loads((tmp_path / "scripted" / "run.json").read_text(encoding="utf-8"))["pipeline"]
    assert saved["steps"][0]["llm"] == "scripted://"
    original.save(tmp_path / "pipe.json")
    assert pipeline.load(tmp_path / "pipe.json").to_dict() == original.to_dict()


@pytest.mark.slow
def test_cli_ask_with_a_saved_pipeline(tmp_path):
    pipe = pipeline.create("naive", "llama-cpp://default?n_ctx=2048")
    pipe = pipe.replace_step("answer", Answer("llama-cpp://default?n_ctx=2048", params=pipe.steps[0].agent.params.replace(max_tokens=8)))
    path = pipe.save(tmp_path / "pipe.json")
    run = run_cli("ask", "What is 2+2?", "--pipeline-file", str(path), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["pipeline"] == "naive" and result["trace"][0]["completion_tokens"] <= 8
    clash = run_cli("ask", "q", "--pipeline-file", str(path), "--llm", "llama-cpp://default")
    assert clash.returncode == 2 and "--pipeline-file already fixes the pipeline; --llm" in clash.stderr


def test_answer_step_keeps_its_system_prompt_through_to_dict():
    llm = ScriptedLLM(["Arr, it be red."])
    step = Answer(llm, system="You are a pirate.")
    data = step.to_dict()
    assert data["system"] == "You are a pirate." and "system" not in Answer(llm).to_dict()  # old run.json files stay as they were
    rebuilt = Answer.from_dict(json.loads(json.dumps(data)), llm=llm)
    rebuilt(QAState(question="What colour is Mars?"))
    assert llm.calls[0][0].role == "system" and llm.calls[0][0].content.startswith("You are a pirate.\n\n")
