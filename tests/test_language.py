"""One language rule everywhere: tags in their usual spellings or refused, Chinese in the wrong script converted,
another language retried and then explained — in agents/pipelines (ask), chat guardrails, distillation and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit.agents import QA, LLMAgent
from agentkit.chat import ChatEngine, GuardedChat, LanguageRule, Turn
from agentkit.distill import DistillConfig
from agentkit.distill.filters import LanguageFilter
from agentkit.distill.records import QARecord
from agentkit.errors import ConfigError
from agentkit.language import cjk_share, enforce, localized, normalize_language, parse_language
from agentkit.llm import ScriptedLLM
from agentkit.llm.base import Message
from agentkit.pipeline import Answer, Pipeline
from tests.conftest import run_cli
from tests.openai_double import OpenAIDouble, text

TRADITIONAL = ["zh-TW", "zh_TW", "zh-tw", "ZH_tw", "zh-Hant", "zh_Hant_TW", "zh-HK", " zh-TW "]
SIMPLIFIED = ["zh-CN", "zh_CN", "zh-cn", "zh-Hans", "zh-SG"]


@pytest.mark.parametrize("tag", TRADITIONAL)
def test_traditional_chinese_in_every_usual_spelling(tag: str) -> None:
    language = parse_language(tag)
    assert language is not None and language.chinese and language.script == "Hant" and language.key == "zh-TW"
    assert "Traditional Chinese" in language.rule and language.opencc in ("s2tw", "s2t", "s2hk")


@pytest.mark.parametrize("tag", SIMPLIFIED)
def test_simplified_chinese_in_every_usual_spelling(tag: str) -> None:
    language = parse_language(tag)
    assert language is not None and language.script == "Hans" and language.opencc == "t2s" and language.key == "zh-CN"


def test_canonical_tags() -> None:
    assert [normalize_language(t) for t in ("zh_TW", "zh-tw", "en_US", "EN", "ja", "pt_br", None, "", "  ")] == \
        ["zh-TW", "zh-TW", "en-US", "en", "ja", "pt-BR", None, None, None]
    bare = parse_language("zh")
    assert bare is not None and bare.script is None and bare.opencc is None  # bare zh: either script is fine


@pytest.mark.parametrize("bad", ["Klingon", "english", "xx", "und", "x-private", "qaa", "zh TW", "zh-TW;rm -rf", "zh--TW", "繁體中文"])
def test_unknown_tags_are_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_language(bad)
    assert "zh-TW" in caught.value.hint


def test_script_rule() -> None:
    assert enforce("台湾最高的山是玉山。", "zh-TW").text == "臺灣最高的山是玉山。"
    assert enforce("臺灣最高的山是玉山。", "zh-CN").text == "台湾最高的山是玉山。"
    assert enforce("臺灣最高的山是玉山。", "zh-TW").action == "pass"
    assert enforce("高鐵連接臺北與高雄。", "zh-TW").action == "pass"  # characters only: correct Traditional words are never rewritten
    assert enforce("預設模型是 SmolLM2-135M-Instruct。", "zh-TW").action == "pass"  # a product name keeps Chinese Chinese
    assert enforce("The highest mountain is Yushan.", "zh-TW").action == "wrong-language"
    assert enforce("The highest mountain is 玉山 (Yushan).", "en").action == "pass"  # a quoted name keeps English English
    assert enforce("玉山是臺灣最高的山。", "en").action == "wrong-language"
    assert enforce("3,952", "zh-TW").action == "pass"  # nothing to judge
    assert enforce("anything", None).action == "pass"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("台湾臺灣软件軟體最高的山是玉山 abcXYZ，。.123")), max_size=40), st.sampled_from(["zh-TW", "zh-CN", "en", "ja"]))
def test_script_rule_properties(sample: str, tag: str) -> None:
    check = enforce(sample, tag)
    if check.action != "converted":  # only a conversion ever changes the text
        assert check.text == sample
    else:  # a conversion changes the script, never the language: the result is judged as the input was
        assert cjk_share(check.text) == cjk_share(sample) and enforce(check.text, tag).action != "wrong-language"


def test_localized_text_by_tag_family() -> None:
    table = {"en": "E", "zh-TW": "T", "zh-CN": "S"}
    assert [localized(table, t) for t in ("zh_Hant", "zh-HK", "zh-SG", "en-GB", "fr", None)] == ["T", "T", "S", "E", "E", "E"]


# ---- the agent (every pipeline's answer, distillation's teacher) ------------------------------------------


def test_agent_reads_zh_underscore_tw_and_converts_simplified_output() -> None:
    llm = ScriptedLLM(["台湾最高的山是玉山，海拔3952米。"])
    out = LLMAgent.from_role(QA, llm, language="zh_TW").run("臺灣最高的山？")
    assert out.text == "臺灣最高的山是玉山，海拔3952米。" and out.language_check.startswith("converted")
    assert "Traditional Chinese" in llm.calls[0][0].content  # the rule reached the prompt: zh_TW was not ignored


def test_agent_retries_another_language_once_then_marks_it() -> None:
    llm = ScriptedLLM(["Yushan is the highest.", "玉山最高。"])
    out = LLMAgent.from_role(QA, llm, language="zh-TW").run("臺灣最高的山？")
    assert out.text == "玉山最高。" and not out.language_missed and len(llm.calls) == 2
    stubborn = ScriptedLLM(["Yushan is the highest.", "Yushan, 3952 m."])
    out = LLMAgent.from_role(QA, stubborn, language="zh-TW").run("臺灣最高的山？")
    assert out.text == "Yushan, 3952 m." and out.language_missed and len(stubborn.calls) == 2


def test_pipeline_answer_keeps_the_note_out_of_the_answer() -> None:
    result = Pipeline([Answer(ScriptedLLM(["Yushan.", "Still Yushan."]), "zh-TW")]).run("臺灣最高的山？")
    assert result.answer == "Still Yushan." and len(result.notes) == 1 and "zh-TW" in result.notes[0]
    assert result.to_dict()["notes"] == list(result.notes)


# ---- chat ------------------------------------------------------------------------------------------------


def test_chat_keeps_an_answer_in_another_language_with_a_note_instead_of_blaming_the_request() -> None:
    english = ScriptedLLM(["The sky is blue because of Rayleigh scattering."])
    reply = GuardedChat([english], [LanguageRule("zh_TW")]).reply([Message("user", "why is the sky blue?")], Turn("why is the sky blue?"))
    assert reply.text.startswith("The sky is blue because of Rayleigh scattering.")
    assert "Traditional Chinese (zh-TW)" in reply.text and "could not analyze" not in reply.text and not reply.fallback
    assert reply.decisions[-1].action == "keep" and reply.decisions[-1].guard == "language"


def test_chat_engine_reads_every_spelling_and_refuses_unknown_tags() -> None:
    engine = ChatEngine(ScriptedLLM(["这是简体中文。"]), language="zh_TW")
    assert any(isinstance(g, LanguageRule) and g.language == "zh-TW" for g in engine.guards)
    with pytest.raises(ConfigError):
        ChatEngine(ScriptedLLM(), language="Klingon")


# ---- distillation ------------------------------------------------------------------------------------------


def test_distill_config_normalises_and_refuses_the_language() -> None:
    assert DistillConfig(language="zh_TW").language == "zh-TW"
    with pytest.raises(ConfigError):
        DistillConfig(language="xx")


def test_distill_language_filter_follows_the_same_rule() -> None:
    def rec(q: str, a: str) -> QARecord:
        return QARecord(q, a, "doc.md", 0, 10, "c1", "factual")

    kept, dropped = LanguageFilter("zh_TW")([rec("預設模型是哪一個？", "預設模型是 SmolLM2-135M-Instruct。"), rec("What is it?", "SmolLM2.")])
    assert [r.question for r in kept] == ["預設模型是哪一個？"] and "Traditional Chinese (zh-TW)" in dropped[0][1]


def english_teacher(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """A teacher that writes English whatever it is asked: JSON questions when a schema is asked for, else an answer."""
    if body.get("response_format"):
        return [{"content": '{"questions": ["Which planet has the moons Phobos and Deimos?"]}'}], "stop"
    return [{"content": "Mars has the moons Phobos and Deimos."}], "stop"


def test_cli_distill_that_keeps_nothing_fails_with_the_reason(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "mars.md").write_text("# Mars\n\nMars has two small moons, Phobos and Deimos.\n", encoding="utf-8")
    with OpenAIDouble(english_teacher) as server:
        done = run_cli("distill", str(docs), "--out", str(tmp_path / "out"), "--language", "zh_TW", "--questions-per-chunk", "1",
                       "--llm", f"openai://{server.url.removeprefix('http://')}#m", timeout=600)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "0 records kept" in done.stdout  # the summary still shows what happened
    error = done.stderr.strip().splitlines()[-1]
    assert "kept no record" in error and "language filter" in error and "Traditional Chinese (zh-TW)" in error
    assert (tmp_path / "out" / "stats.json").is_file()


# ---- the CLI -----------------------------------------------------------------------------------------------


def test_cli_refuses_an_unknown_language_before_loading_anything() -> None:
    for command, shown in ((["ask", "hello", "--language", "Klingon"], "'Klingon'"), (["chat", "--language", "zh_XYZ"], "'zh_XYZ'")):
        done = run_cli(*command, timeout=120)
        assert done.returncode == 2 and shown in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cli_ask_zh_underscore_tw_answers_in_traditional_chinese() -> None:
    with OpenAIDouble(text("台湾最高的山是玉山。")) as server:
        done = run_cli("ask", "臺灣最高的山是哪一座？", "--language", "zh_TW", "--llm", f"openai://{server.url.removeprefix('http://')}#m", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "臺灣最高的山是玉山。" in done.stdout and "台湾" not in done.stdout
    assert "Traditional Chinese" in server.bodies[0]["messages"][0]["content"]


# ---- llama.cpp threads ------------------------------------------------------------------------------------


def test_llama_cpp_thread_default_is_half_the_usable_cpus() -> None:
    from agentkit.llm.llama_cpp import default_threads

    assert [default_threads(n) for n in (1, 2, 3, 4, 8, 16)] == [1, 1, 1, 2, 4, 8]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_llama_cpp_threads_follow_the_cpus_this_process_may_use() -> None:
    # os.cpu_count() counts the machine; a process pinned to one CPU must not start more threads than it can run
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from agentkit.llm.llama_cpp import LlamaCppLLM, embedded_model_path, usable_cpus; "
            "print(usable_cpus(), LlamaCppLLM(embedded_model_path()).n_threads)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]
    from agentkit.llm.llama_cpp import LlamaCppLLM, embedded_model_path, usable_cpus

    assert LlamaCppLLM(embedded_model_path()).n_threads == max(1, usable_cpus() // 2)
