"""The distill checkpoint survives a torn last line: the next record lands on its own line."""

from __future__ import annotations

import json

from agentkit.distill import DistillConfig, DistillJob
from agentkit.distill.job import Checkpoint
from agentkit.llm import ScriptedLLM
from agentkit.retrievers import KnowledgeBase


def test_torn_last_line_does_not_swallow_the_next_record(tmp_path):
    path = tmp_path / "checkpoint.jsonl"
    whole = json.dumps({"key": "a", "value": ["問題一？"]}, ensure_ascii=False)
    torn = json.dumps({"key": "b", "value": "an answer that was being written"})[:25]
    path.write_text(whole + "\n" + torn, encoding="utf-8")
    Checkpoint(path).put("c", "答案")
    reread = Checkpoint(path)
    assert reread.get("a") == ["問題一？"] and reread.get("c") == "答案" and reread.get("b") is None
    assert path.read_text(encoding="utf-8").endswith("\n") and len(path.read_text(encoding="utf-8").splitlines()) == 2


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "checkpoint.jsonl"
    path.write_text(json.dumps({"key": "a", "value": 1}), encoding="utf-8")
    Checkpoint(path).put("b", 2)
    reread = Checkpoint(path)
    assert (reread.get("a"), reread.get("b")) == (1, 2)


def _teacher(messages):  # type: ignore[no-untyped-def]
    if "exam questions" in messages[0].content:
        topic = "Jupiter" if "Jupiter" in messages[-1].content else "Mars"
        return json.dumps({"questions": [f"What is said about {topic} first?", f"What is said about {topic} second?"]})
    return "It is a planet."


def test_resume_after_a_torn_line_repeats_no_teacher_call(tmp_path, hash_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "jupiter.md").write_text("Jupiter is the largest planet. Jupiter has 95 moons.", encoding="utf-8")
    (docs / "mars.md").write_text("Mars is red because of iron oxide.", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    kb.ingest([docs])
    out = tmp_path / "out"
    config = DistillConfig(formats=("alpaca",), questions_per_chunk=2)
    full = DistillJob(kb, out, ScriptedLLM([_teacher]), config).run()
    lines = (out / "checkpoint.jsonl").read_text(encoding="utf-8").splitlines()
    assert full.llm_calls == len(lines) >= 4
    # Killed while writing the second-to-last record: the last two are lost, half of one is on disk.
    (out / "checkpoint.jsonl").write_text("\n".join(lines[:-2]) + "\n" + lines[-2][: len(lines[-2]) // 2], encoding="utf-8")
    resumed = DistillJob(kb, out, ScriptedLLM([_teacher]), config).run()
    assert resumed.llm_calls == 2
    again = DistillJob(kb, out, ScriptedLLM(["must not be called"]), config).run()
    assert again.llm_calls == 0 and again.stats == full.stats
