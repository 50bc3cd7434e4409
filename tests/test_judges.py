"""Structured output (agentkit.structured) and the one Judge (agentkit.judges) its three users share."""

from __future__ import annotations

import pytest

from agentkit.judges import JudgeCase, LLMJudge, Verdict
from agentkit.llm import ScriptedLLM
from agentkit.structured import extract_json, generate_json, schema_errors


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def get(self, key: str) -> object | None:
        return self.data.get(key)

    def put(self, key: str, value: object) -> None:
        self.data[key] = value


@pytest.mark.parametrize("text, value", [
    ('{"a": 1}', {"a": 1}),
    ('Sure! Here it is: {"a": "}"} and more {"b": 2}', {"a": "}"}),        # a brace inside a string, two objects
    ('```json\n{"a": [1, 2]}\n```\nHope this helps {"x": 0}', {"a": [1, 2]}),  # the fenced value wins
    ('{"a": 1', None),                                                      # cut off mid-object
    ("no json here", None),
    ('[1, 2] then {"k": "v"}', {"k": "v"}),                                 # asked for an object, skips the list
])
def test_extract_json_is_defensive(text, value):
    assert extract_json(text, dict) == value


def test_schema_errors_say_where():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert schema_errors({"n": 1}, schema) == []
    assert any("n" in e for e in schema_errors({"n": "x"}, schema))
    assert any("required" in e for e in schema_errors({}, schema))


def test_generate_json_retries_until_valid():
    llm = ScriptedLLM(["I think the answer is yes", '{"supported": "maybe"}', '{"supported": true}'])
    schema = {"type": "object", "properties": {"supported": {"type": "boolean"}}, "required": ["supported"]}
    result = generate_json(llm, "q", schema, retries=2)
    assert result.ok and result.value == {"supported": True} and result.attempts == 3
    # each retry asks with a new seed, so a deterministic backend does not repeat itself
    failing = generate_json(ScriptedLLM(["nope"]), "q", schema, retries=1)
    assert not failing.ok and "no JSON" in failing.error and failing.attempts == 2


def test_correctness_rubric_and_cache():
    llm = ScriptedLLM(['{"verdict": "incorrect", "reason": "negates the gold answer"}'])
    cache = DictCache()
    judge = LLMJudge(llm, "correctness", cache)
    case = JudgeCase("誰是蘋果的創辦人？", "not Steve Jobs", references=("Steve Jobs", "賈伯斯"))
    verdict = judge.judge(case)
    assert verdict == Verdict(False, 0.0, "negates the gold answer")
    assert '"gold_answers": ["Steve Jobs", "賈伯斯"]' in llm.calls[0][-1].content  # CJK kept readable in the prompt
    assert judge.judge(case) == verdict and len(llm.calls) == 1  # cached
    # another rubric or another judge model never reuses that verdict
    assert LLMJudge(ScriptedLLM(['{"supported": true}']), "groundedness", cache).key(case) != judge.key(case)


def test_groundedness_and_quality_rubrics():
    grounded = LLMJudge(ScriptedLLM(['{"supported": true, "reason": "stated in the context"}']), "groundedness")
    assert grounded.judge(JudgeCase("q", "a", context=("a is stated here",))).passed is True
    quality = LLMJudge(ScriptedLLM(['{"completeness": 8, "key_fact_accuracy": 9, "consistency": 7, "readability": 8}']), "quality")
    v = quality.judge(JudgeCase("q", "a", references=("ref",)))
    assert v.passed is True and v.aspects["key_fact_accuracy"] == 9.0 and v.score == pytest.approx((8.0 - 1) / 9)
    out_of_range = LLMJudge(ScriptedLLM(['{"completeness": 80, "key_fact_accuracy": 9, "consistency": 7, "readability": 8}']), "quality")
    assert out_of_range.judge(JudgeCase("q", "a")).passed is None  # schema says 1..10: no verdict rather than a wrong one


def test_no_verdict_is_not_cached():
    cache = DictCache()
    judge = LLMJudge(ScriptedLLM(["hmm"]), "groundedness", cache)
    assert judge.judge(JudgeCase("q", "a")).passed is None and cache.data == {}


def test_distill_filter_and_model_eval_use_the_judge():
    from agentkit.distill.filters import JudgeGroundedness
    from agentkit.distill.records import QARecord
    from agentkit.finetune.evaluate import _judge

    records = [QARecord("Q1?", "A1.", context_texts=("A1 is true",)), QARecord("Q2?", "A2.", context_texts=("nothing",))]
    llm = ScriptedLLM(['{"supported": true}', '{"supported": false, "reason": "not in context"}'])
    kept, dropped = JudgeGroundedness(llm)(records)
    assert [r.question for r in kept] == ["Q1?"] and "not in context" in dropped[0][1]
    aspects = _judge(LLMJudge(ScriptedLLM(['{"completeness": 3, "key_fact_accuracy": 4, "consistency": 5, "readability": 6}']), "quality"),
                     records[0], "A1.")
    assert aspects == {"judge_completeness": 3.0, "judge_key_fact_accuracy": 4.0, "judge_consistency": 5.0, "judge_readability": 6.0}


def test_answerability_rubric_reads_question_and_context_only():
    llm = ScriptedLLM(['{"answerable": false, "reason": "Rome is not mentioned"}'])
    judge = LLMJudge(llm, "answerability")
    verdict = judge.judge(JudgeCase("Who was the first emperor of Rome?", "", context=("Mars is the fourth planet.",)))
    assert verdict.passed is False and "Rome" in verdict.reason
    sent = llm.calls[0][-1].content
    assert '"context": ["Mars is the fourth planet."]' in sent and '"answer"' not in sent
