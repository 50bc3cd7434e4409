import asyncio
import threading
import time

import pytest

from agentkit import pipeline
from agentkit.errors import ConfigError, InputError
from agentkit.llm import ScriptedLLM
from agentkit.pipeline import Pipeline, QAState, Retrieve
from agentkit.retrievers import RetrievedChunk


class ListRetriever:
    def __init__(self, chunks):
        self.chunks = chunks
        self.queries = []

    def retrieve(self, query, k=5):
        self.queries.append(query)
        return self.chunks[:k]


CHUNKS = [RetrievedChunk("Mars has two moons.", "/d/mars.md", 0, 19, 0.9, "c1"), RetrievedChunk("Jupiter is big.", "/d/j.md", 5, 20, 0.5, "c2")]


def test_naive_runs_one_step_and_traces_it():
    r = pipeline.create("naive", ScriptedLLM(["50"])).run("What is 20+30?")
    assert r.answer == "50" and r.sources == () and [t.name for t in r.trace] == ["answer"]
    assert r.trace[0].input == {"question": "What is 20+30?"} and r.trace[0].output["answer"] == "50"
    assert r.trace[0].usage.completion_tokens == 1 and set(r.timings) == {"answer", "total"}


def test_rag_cites_sources_that_reached_the_prompt():
    llm = ScriptedLLM(["Two."])
    r = pipeline.create("rag", llm, retriever=ListRetriever(CHUNKS), k=2).run("How many moons has Mars?")
    assert r.answer == "Two." and [s.chunk_id for s in r.sources] == ["c1", "c2"]
    assert "mars.md:0-19" in llm.calls[0][1].content
    assert r.to_dict()["sources"][0]["source"] == "/d/mars.md"


def test_rag_agent_chains_question_keywords_retrieval():
    llm = ScriptedLLM(["How many moons does Mars have?", "Mars, moons, 火星", "Two moons."])
    retriever = ListRetriever(CHUNKS)
    r = pipeline.create("rag-agent", llm, retriever=retriever, k=1).run("Long preamble about space. Anyway: Mars moons, how many?")
    assert [t.name for t in r.trace] == ["extract_question", "extract_keywords", "retrieve", "answer"]
    # 火星 shares no word with the English question: grounded keyword extraction drops it
    assert retriever.queries == ["How many moons does Mars have? Mars moons"]
    assert r.answer == "Two moons." and len(r.sources) == 1
    assert r.usage.completion_tokens == sum(t.usage.completion_tokens for t in r.trace) > 0


def test_weak_model_rewrites_fall_back_to_the_question():
    from agentkit.pipeline import ExtractKeywords, ExtractQuestion

    question = "臺大的校長是誰？"
    junk = ScriptedLLM(["The user wants to know who the subject is.", "The, user, wants, 校長"])
    state = ExtractKeywords(junk)(ExtractQuestion(junk)(QAState(question)))
    assert state.query == question and state.keywords == ("校長",)
    loose = ExtractKeywords(ScriptedLLM(["Mars, 火星"]), grounded=False)(QAState("How many moons does Mars have?"))
    assert loose.keywords == ("Mars", "火星")


def test_steps_can_be_added_swapped_dropped():
    def shout(state: QAState) -> QAState:
        return state.replace(answer=state.answer.upper())

    base = pipeline.create("rag", ScriptedLLM(["two"]), retriever=ListRetriever(CHUNKS))
    assert base.with_step(shout).run("q").answer == "TWO"
    assert base.without("retrieve").step_names == ["answer"]
    swapped = base.replace_step("retrieve", Retrieve(ListRetriever(CHUNKS[1:]), k=1))
    assert [s.chunk_id for s in swapped.run("q").sources] == ["c2"]
    with pytest.raises(ConfigError):
        base.without("nope")
    with pytest.raises(ConfigError):
        Pipeline([shout, shout])


def test_errors():
    with pytest.raises(ConfigError) as e:
        pipeline.create("rag", ScriptedLLM())
    assert "retriever" in str(e.value)
    with pytest.raises(ConfigError) as e:
        pipeline.create("magic", ScriptedLLM())
    assert "rag-agent" in str(e.value)
    with pytest.raises(InputError):
        pipeline.create("naive", ScriptedLLM()).run("  ")


class CountingLLM(ScriptedLLM):
    def __init__(self):
        super().__init__([lambda m: m[-1].content.split('"""\n')[-1].split("\n")[0]], delay=0.02)
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def _stream(self, messages, params, info):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            yield from super()._stream(messages, params, info)
            time.sleep(0.05)
        finally:
            with self.lock:
                self.active -= 1


def test_run_many_bounded_and_ordered():
    llm = CountingLLM()
    questions = [f"q{i}" for i in range(8)]
    results = pipeline.create("naive", llm).run_many(questions, concurrency=3)
    assert [r.answer for r in results] == questions
    assert 1 < llm.peak <= 3


def test_arun_many_bounded_and_ordered():
    llm = CountingLLM()
    questions = [f"q{i}" for i in range(6)]
    results = asyncio.run(pipeline.create("naive", llm).arun_many(questions, concurrency=2))
    assert [r.answer for r in results] == questions and 1 < llm.peak <= 2


def test_steps_are_sync_and_arun_derives_async_once():
    # One concurrency model (agentkit.concurrency): steps are plain functions; an async step is refused at build time.
    async def add_note(state: QAState) -> QAState:
        return state.replace(answer=state.answer + "!")

    with pytest.raises(ConfigError, match="is async"):
        pipeline.create("naive", ScriptedLLM(["hi"])).with_step(add_note)

    def shout(state: QAState) -> QAState:
        return state.replace(answer=state.answer + "!")

    p = pipeline.create("naive", ScriptedLLM(["hi"])).with_step(shout)
    assert asyncio.run(p.arun("q")).answer == "hi!"
