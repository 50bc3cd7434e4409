"""`agentkit demo` (what `make run` shows): progress on stderr, an honest table — each model answer beside the
evidence span retrieval found, with its exact file[start:end] — and the answer language of each question enforced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit.chunking import make_splitter
from agentkit.cli.qa import _demo_questions
from agentkit.errors import InputError
from agentkit.language import enforce
from agentkit.retrievers.base import RetrievedChunk
from agentkit.retrievers.evidence import evidence_span
from tests.conftest import ROOT, run_cli
from tests.openai_double import OpenAIDouble

DOCS = ROOT / "examples" / "docs"
QUESTIONS = ROOT / "examples" / "demo_questions.txt"


def chunks_of(*names: str, size: int = 400) -> list[RetrievedChunk]:
    """The demo's own chunks (markdown splitter, 400 characters) of ``names`` in examples/docs, as retrieval returns them."""
    splitter = make_splitter("markdown", chunk_size=size, chunk_overlap=0)
    out = []
    for name in names:
        path = DOCS / name
        text = path.read_text(encoding="utf-8")
        out += [RetrievedChunk(text[a:b], str(path), a, b, 1.0) for a, b in splitter.spans(text)]
    return out


@pytest.mark.parametrize(("question", "expected"), [
    ("Who discovered the moons of Mars?", "Asaph Hall"),
    ("How long is a day on Mars?", "24 hours and 39 minutes"),
    ("臺灣高速鐵路是哪一年通車的？", "2007"),
    ("台湾高速铁路是哪一年通车的？", "2007"),  # a Simplified question finds the Traditional sentence
    ("臺灣最高的山是哪一座？", "玉山"),
])
def test_evidence_is_the_answering_sentence_with_its_exact_span(question: str, expected: str) -> None:
    evidence = evidence_span(question, chunks_of("solar_system.md", "taiwan.md", "agentkit_overview.md"))
    assert evidence is not None and expected in evidence.text
    assert Path(evidence.source).read_text(encoding="utf-8")[evidence.start:evidence.end] == evidence.text
    assert not evidence.text.startswith("#")  # a heading is never the evidence


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["solar_system.md", "taiwan.md", "agentkit_overview.md"]), st.integers(60, 500), st.text(min_size=1, max_size=30))
def test_evidence_span_invariant(name: str, size: int, question: str) -> None:
    evidence = evidence_span(question, chunks_of(name, size=size))
    assert evidence is not None
    assert (DOCS / name).read_text(encoding="utf-8")[evidence.start:evidence.end] == evidence.text


def test_evidence_none_without_sentences() -> None:
    assert evidence_span("anything?", []) is None
    assert evidence_span("anything?", [RetrievedChunk("## Mars", "a.md", 0, 7, 1.0)]) is None


def test_prompt_scaffolding_never_reaches_an_answer() -> None:
    """SmolLM2 copies the fenced prompt into its answers ('[1 | 82ec67da] source: taiwan.md:0-168', quote fences)."""
    from agentkit.agents import QA, ContextBlock, LLMAgent
    from agentkit.llm import ScriptedLLM

    def echo(messages: list[Any]) -> str:
        header = next(line for line in messages[-1].content.splitlines() if line.startswith("[1 | "))
        return f'The answer is:\n"""\n{header}\nPhobos and Deimos.\n"""'

    out = LLMAgent.from_role(QA, ScriptedLLM([echo])).run("Moons of Mars?", [ContextBlock("Mars has Phobos and Deimos.", "solar_system.md:0-20")])
    assert out.text == "The answer is:\nPhobos and Deimos."
    # a header whose mark the model mis-copied (seen in a zh-TW run: '[5 | 24a3087] source: taiwan.md:1-69') goes too
    garbled = LLMAgent.from_role(QA, ScriptedLLM(["[5 | 24a3087] source: taiwan.md:1-69\n玉山。"])).run("最高的山？", [ContextBlock("玉山。", "taiwan.md:1-69")])
    assert garbled.text == "玉山。"
    code = 'Use:\n```python\ndef f():\n    """Doc."""\n    """\n```'
    assert LLMAgent.from_role(QA, ScriptedLLM([code])).run("How?").text == code  # quotes inside a code block are code


def test_demo_questions_file(tmp_path: Path) -> None:
    asked = _demo_questions(QUESTIONS)
    assert asked and all(q for _, q in asked) and any(lang == "zh-TW" for lang, _ in asked)
    path = tmp_path / "q.txt"
    path.write_text("# a comment\n\n[zh_TW] 臺灣最高的山？\nWho discovered the moons of Mars?\n", encoding="utf-8")
    assert _demo_questions(path) == [("zh-TW", "臺灣最高的山？"), (None, "Who discovered the moons of Mars?")]
    path.write_text("ok?\n[Klingon] nuqneH?\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"q\.txt:2"):
        _demo_questions(path)


def simplified_when_asked_for_traditional(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """A model that ignores the script rule: Simplified Chinese under the Traditional rule, else a short English answer."""
    if "Traditional Chinese" in body["messages"][0]["content"]:
        return [{"content": "台湾高铁"}, {"content": "于2007年通车。"}], "stop"
    return [{"content": "Asaph Hall discovered them [in 1877]."}], "stop"


@pytest.fixture()
def demo_copy(tmp_path: Path) -> Path:
    shutil.copytree(DOCS, tmp_path / "docs")
    (tmp_path / "q.txt").write_text("Who discovered the moons of Mars?\n[zh-TW] 臺灣高速鐵路是哪一年通車的？\n", encoding="utf-8")
    return tmp_path


def test_demo_shows_progress_answers_and_evidence(demo_copy: Path) -> None:
    with OpenAIDouble(simplified_when_asked_for_traditional) as server:
        spec = f"openai://{server.url.removeprefix('http://')}#m"
        args = ("demo", "--llm", spec, "--docs", str(demo_copy / "docs"), "--questions", str(demo_copy / "q.txt"), "--kb", str(demo_copy / "kb"))
        data = run_cli(*args, "--json", timeout=600)
        table = run_cli(*args, timeout=600)
    assert data.returncode == 0, data.stderr
    result = json.loads(data.stdout)
    mars, rail = result["answers"]
    assert "Asaph Hall" in mars["evidence"]["text"] and "2007" in rail["evidence"]["text"]
    for answer in (mars, rail):
        ev = answer["evidence"]
        assert Path(ev["source"]).read_text(encoding="utf-8")[ev["start"]:ev["end"]] == ev["text"]
    assert rail["language"] == "zh-TW" and rail["answer"] == "臺灣高鐵於2007年通車。"  # converted to Traditional
    assert enforce(rail["answer"], "zh-TW").action == "pass"
    # progress on stderr, in order, before the results
    steps = [line for line in data.stderr.splitlines() if "agentkit demo" in line]
    assert [s.split("agentkit demo", 1)[1].split()[0] for s in steps] == ["1/3", "2/3", "3/3"]
    assert "[1/2]" in data.stderr and "[2/2]" in data.stderr
    # the table: its header keeps [start:end], cells keep model text that looks like markup
    assert table.returncode == 0, table.stderr
    assert "file [start:end]" in table.stdout and "[in 1877]" in table.stdout
    assert "solar_system.md [" in table.stdout and "taiwan.md [" in table.stdout
    assert "臺灣高鐵於2007年通車。" in table.stdout


@pytest.mark.slow
def test_make_run_demo_on_the_embedded_model(tmp_path: Path) -> None:
    """What `make run` runs, as shipped: every question answered, its evidence holding the fact asked for, zh-TW
    answers in Traditional script."""
    done = run_cli("demo", "--kb", str(tmp_path / "kb"), "--json", timeout=900)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)["answers"]
    assert len(answers) == len(_demo_questions(QUESTIONS))
    for answer in answers:
        ev = answer["evidence"]
        assert ev and (ROOT / ev["source"]).read_text(encoding="utf-8")[ev["start"]:ev["end"]] == ev["text"]
        assert answer["answer"].strip()
        if answer["language"] == "zh-TW":
            assert enforce(answer["answer"], "zh-TW").action != "converted"
