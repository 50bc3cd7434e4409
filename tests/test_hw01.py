"""HW01: question files, the scorer's rules (each with its negative twin), the runner, and the CLI round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit import pipeline
from agentkit.errors import ConfigError, InputError
from agentkit.hw01 import load_answers, load_items, match, run_questions, score
from agentkit.hw01.scoring import chinese_numerals_to_digits
from agentkit.llm.scripted import ScriptedLLM
from agentkit.tools import WebCache
from tests.conftest import ROOT, SHARED, run_cli

PUBLIC = SHARED / "hw01" / "public.txt"
PAGES = ROOT / "benchmarks" / "hw01" / "pages"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# ---- loading -----------------------------------------------------------------------------------


def test_public_set_loads_with_aliases() -> None:
    items = load_items(PUBLIC)
    assert len(items) == 30 and [i.id for i in items] == list(range(1, 31))
    assert items[2].answers == ("Steve Jobs", "史提夫賈伯斯")
    assert items[0].answers == ("光華國小",) and items[0].question.endswith("校歌歌詞？")


def test_full_width_comma_stays_in_the_question(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "g.txt", "2025年初，NCC規定每案加收多少錢？,750元\nA, B or C?,C\n")
    items = load_items(path, "gold")
    assert items[0].question == "2025年初，NCC規定每案加收多少錢？" and items[0].answers == ("750元",)
    assert items[1].question == "A, B or C?" and items[1].answers == ("C",)  # the last ASCII comma splits


def test_bom_crlf_and_trailing_blank_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "g.txt", "\ufeff問題一？,答一\r\n問題二？,答二\r\n\r\n".encode())
    items = load_items(path)
    assert [(i.question, i.answers) for i in items] == [("問題一？", ("答一",)), ("問題二？", ("答二",))]


def test_questions_only_and_private_numbering(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "private.txt", "前言很長，其實想問：台灣最高的山是哪一座？\nWhat is 2+2?\n")
    items = load_items(path)
    assert [i.id for i in items] == [31, 32] and items[0].answers == () and items[1].question == "What is 2+2?"
    assert load_items(path, start_id=1)[0].id == 1


def test_bad_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="not found"):
        load_items(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="empty"):
        load_items(write(tmp_path, "e.txt", "\n\n"))
    with pytest.raises(InputError, match="line 2 has no ASCII comma"):
        load_items(write(tmp_path, "g.txt", "q1?,a\nq2 without answer\n"), "gold")
    with pytest.raises(InputError, match="line 2 is empty"):
        load_items(write(tmp_path, "b.txt", "q1?,a\n\nq3?,c\n"))


# ---- scoring rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, aliases, mode, expected",
    [
        ("答案是 Steve jobs。", ["Steve Jobs"], "strict", "Steve Jobs"),  # case folding
        ("水是Ｈ２Ｏ", ["H2O"], "strict", "H2O"),  # NFKC full-width
        ("ＨＨ２Ｏ", ["H2O"], "strict", None),  # negative twin: a longer token is another formula
        ("G e F o r c e RTX 50 系列", ["GeForce RTX 50 系列"], "strict", "GeForce RTX 50 系列"),  # whitespace
        ("25", ["5"], "strict", None),  # a number is not part of a longer one
        ("5分", ["5"], "strict", "5"),
        ("需要 72 分", ["72分或以上"], "lenient", "72分或以上"),  # unit/qualifier dropped after the number
        ("答案是 92 分以上", ["72分或以上"], "lenient", None),  # negative twin: a wrong number stays wrong
        ("750", ["750元"], "lenient", "750元"),
        ("7500", ["750元"], "lenient", None),
        ("750", ["750元"], "strict", None),
        ("1門", ["一門"], "lenient", "一門"),  # Chinese numerals = digits
        ("11門", ["一門"], "lenient", None),
        ("台東縣太麻里鄉", ["臺東縣太麻里鄉"], "lenient", "臺東縣太麻里鄉"),  # variant characters
        ("台东县太麻里乡", ["臺東縣太麻里鄉"], "lenient", "臺東縣太麻里鄉"),  # Simplified ↔ Traditional
        ("台东县太麻里乡", ["臺東縣太麻里鄉"], "strict", None),
        ("台東縣卑南鄉", ["臺東縣太麻里鄉"], "lenient", None),
        ("法拉第", ["麥可·法拉第", "Michael Faraday"], "lenient", "麥可·法拉第"),  # family name of a transliterated name
        ("麥可", ["麥可·法拉第"], "lenient", None),  # a given name alone is not enough
        ("艾伦图灵", ["艾倫·圖靈"], "lenient", "艾倫·圖靈"),
        ("", ["H2O"], "lenient", None),
    ],
)
def test_match_rules(answer: str, aliases: list[str], mode: str, expected: str | None) -> None:
    assert match(answer, aliases, mode) == expected


# Each wrong answer that must fail sits next to its right twin that must still pass (issue #15, item 12).
@pytest.mark.parametrize("mode", ["strict", "lenient"])
@pytest.mark.parametrize(
    "answer, aliases, expected",
    [
        # negation scoped to the matched alias
        ("不是5分", ["5"], None),
        ("是5分", ["5"], "5"),
        ("答案並非光華國小", ["光華國小"], None),
        ("答案是光華國小", ["光華國小"], "光華國小"),
        ("沒有 5 分", ["5"], None),
        ("不可能是 5 分", ["5"], None),
        ("非常確定是 5 分", ["5"], "5"),  # 非常 does not negate
        ("It was not Steve Jobs.", ["Steve Jobs"], None),
        ("It was Steve Jobs.", ["Steve Jobs"], "Steve Jobs"),
        ("Definitely isn't Steve Jobs", ["Steve Jobs"], None),
        ("Never Steve Jobs, it was Tim Cook", ["Steve Jobs"], None),
        ("Tim Cook, not Steve Jobs", ["Steve Jobs"], None),
        ("Steve Jobs, not Tim Cook", ["Steve Jobs"], "Steve Jobs"),  # the negation belongs to the other name
        ("是 Steve Jobs，不是 Tim Cook", ["Steve Jobs"], "Steve Jobs"),
        ("not Tim Cook but Steve Jobs", ["Steve Jobs"], "Steve Jobs"),
        ("不是 3 分，是 5 分", ["5"], "5"),
        ("是 3 分，不是 5 分", ["5"], None),
        ("Steve Jobs is wrong", ["Steve Jobs"], None),
        ("5分不對", ["5"], None),
        ("5分沒錯", ["5"], "5"),
        # an alias inside a longer token
        ("H2O2", ["H2O"], None),
        ("H2O", ["H2O"], "H2O"),
        ("H₂O 是水", ["H2O"], "H2O"),  # NFKC subscript digits
        ("Steve Jobsson", ["Steve Jobs"], None),
        ("Steve Jobs's keynote", ["Steve Jobs"], "Steve Jobs"),
        ("H2O", ["2"], None),
        ("1B", ["1B"], "1B"),
        ("11B", ["1B"], None),
        ("Llama-3.2-1B", ["1B"], "1B"),
        ("十一門", ["一門"], None),
        # digit grouping
        ("1,000人", ["1"], None),
        ("1 000 人", ["1"], None),
        ("1人", ["1"], "1"),
        ("1,000", ["1000"], "1000"),
        ("1，000 元", ["1000元"], "1000元"),
        ("1,000", ["1,000"], "1,000"),
        ("10,000", ["1000"], None),
        ("1, 2, 3", ["1"], "1"),  # a list is not digit grouping
        # an alias with a parenthesised gloss
        ("幻方量化", ["幻方量化（High-Flyer）"], "幻方量化（High-Flyer）"),
        ("幻方量化", ["幻方量化 (High-Flyer)"], "幻方量化 (High-Flyer)"),
        ("幻方量化(High-Flyer)", ["幻方量化（High-Flyer）"], "幻方量化（High-Flyer）"),
        ("幻方", ["幻方量化（High-Flyer）"], None),
        ("High-Flyer", ["幻方量化（High-Flyer）"], None),  # the gloss alone is not the answer
    ],
)
def test_match_vetoes_and_twins(answer: str, aliases: list[str], expected: str | None, mode: str) -> None:
    assert match(answer, aliases, mode) == expected


@pytest.mark.parametrize(
    "answer, aliases, expected",
    [
        ("統一發票", ["1"], None),  # a numeral inside a word is no number
        ("一張", ["1"], "1"),
        ("一定是五分", ["5"], "5"),  # 一定 keeps its 一, 是五 is a number
        ("一定是八分", ["1"], None),
        ("兩岸", ["2"], None),
        ("兩個", ["2"], "2"),
        ("停修一门", ["一門"], "一門"),  # Simplified, the numeral left as it is
        ("答案是五", ["5"], "5"),
        ("不是五分", ["5"], None),
    ],
)
def test_lenient_numerals_only_where_they_are_numbers(answer: str, aliases: list[str], expected: str | None) -> None:
    assert match(answer, aliases, "lenient") == expected


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_every_public_gold_answer_passes_itself(mode: str) -> None:
    for item in load_items(PUBLIC):
        for answer in [*item.answers, "、".join(item.answers), f"答案是{item.answers[0]}。", f"The answer is {item.answers[-1]}."]:
            assert match(answer, item.answers, mode) is not None, (item.id, answer)
        report = score([item], [item.answers[0]], mode)
        assert report.correct == 1


def test_llm_mode_requires_a_judge() -> None:
    from agentkit.hw01.compare import compare

    items = load_items(PUBLIC)[:2]
    for judge_llm in (None, "", "  "):
        with pytest.raises(ConfigError) as e:
            score(items, ["光華國小", "150"], "llm", judge_llm)
        assert "--judge-llm" in e.value.hint
    with pytest.raises(ConfigError, match="judge"):
        compare(["/nonexistent-run"], items, ["strict", "llm"])  # refused before any run is read


def test_cli_llm_mode_without_judge_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    answers = write(tmp_path, "answers.txt", "\n".join(["光華國小"] * 30) + "\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "answers.txt").write_bytes(answers.read_bytes())
    for args in (["score", "--answers", str(answers)], ["compare", str(run), "--chart", str(tmp_path / "c.png")]):
        proc = run_cli("hw01", *args, "--gold", str(PUBLIC), "--scoring", "llm")
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--judge-llm" in lines[0] and "Traceback" not in proc.stderr
        assert not (tmp_path / "c.png").exists()


def test_chinese_numerals() -> None:
    assert chinese_numerals_to_digits("一門 二十一 三百五十 十 一萬兩千 二〇二五") == "1門 21 350 10 12000 2025"


def test_score_report_and_length_mismatch() -> None:
    items = load_items(PUBLIC)
    answers = ["光華國小"] + ["不知道"] * 28 + ["水是 H2O"]
    report = score(items, answers, "strict")
    assert (report.correct, report.total) == (2, 30) and report.accuracy == pytest.approx(2 / 30)
    data = report.to_dict()
    assert data["per_question"][0] == {"id": 1, "correct": True, "matched": "光華國小", "reason": "alias found"}
    assert data["per_question"][1]["matched"] is None
    with pytest.raises(InputError, match="29 answers for 30"):
        score(items, answers[:-1])
    with pytest.raises(ConfigError):
        score(items, answers, "fuzzy")


def test_llm_judge_parses_and_caches(tmp_path) -> None:  # type: ignore[no-untyped-def]
    items = load_items(PUBLIC)[:3]
    judge = ScriptedLLM(['{"verdict": "correct", "reason": "same school"}', '```json\n{"verdict": "incorrect", "reason": "wrong amount"}\n```',
                         "no idea", "still no idea"])
    cache = WebCache(tmp_path / "judge.sqlite", ttl=0)
    report = score(items, ["光華國民小學", "1000元", "Jobs"], "llm", judge, cache)
    assert [v.correct for v in report.verdicts] == [True, False, False]
    assert report.verdicts[0].reason == "same school" and report.verdicts[1].reason == "wrong amount"
    assert "no verdict" in report.verdicts[2].reason and len(judge.calls) == 4  # one retry for the reply without JSON
    assert "光華國民小學" in judge.calls[0][-1].content and "光華國小" in judge.calls[0][-1].content
    unused = ScriptedLLM(['{"verdict": "incorrect", "reason": "asked again"}'])
    again = score(items, ["光華國民小學", "1000元", "Jobs"], "llm", unused, cache)
    # Verdicts come from the cache; a judge that gave none is asked again (a failure is never cached as an answer).
    assert [v.correct for v in again.verdicts] == [True, False, False] and len(unused.calls) == 1
    assert again.verdicts[2].reason == "asked again"


# ---- runner --------------------------------------------------------------------------------------


def test_runner_writes_resumes_and_keeps_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    items = load_items(PUBLIC)[:4]
    llm = ScriptedLLM(["光華國小", "750\n元", "Steve Jobs"])
    out = tmp_path / "run"
    first = run_questions(items[:3], pipeline.create("naive", llm), out, {"source": None})
    assert (first.answered, first.skipped) == (3, 0)
    assert (out / "2.txt").read_text(encoding="utf-8") == "750\n元"
    assert load_answers(out) == ["光華國小", "750 元", "Steve Jobs"]
    trace = [json.loads(line) for line in (out / "trace.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["id"] for t in trace] == [1, 2, 3] and trace[0]["trace"][0]["name"] == "answer"
    again = run_questions(items, pipeline.create("naive", ScriptedLLM(["5"])), out)
    assert (again.answered, again.skipped) == (1, 3)
    assert load_answers(out) == ["光華國小", "750 元", "Steve Jobs", "5"]
    assert score(items, load_answers(out), "lenient").correct == 3


def test_runner_records_failures_and_leaves_a_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    items = load_items(PUBLIC)[:2]
    out = tmp_path / "run"
    def broken(messages):  # type: ignore[no-untyped-def]
        raise TimeoutError("model stalled")

    summary = run_questions(items, pipeline.create("naive", ScriptedLLM(["only one reply", broken])), out)
    assert summary.failed == 1 and load_answers(out) == ["only one reply", ""]
    assert "error" in json.loads((out / "trace.jsonl").read_text(encoding="utf-8").splitlines()[-1])


# ---- CLI round trip with the embedded model and the local search backend --------------------------


@pytest.mark.slow
def test_cli_run_score_compare(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gold = write(tmp_path, "public.txt", "".join(PUBLIC.read_text(encoding="utf-8").splitlines(keepends=True)[26:]))  # 4 questions
    runs = []
    for name in ("naive", "rag-agent"):
        out = tmp_path / name
        proc = run_cli("hw01", "run", "--questions", str(gold), "--out", str(out), "--pipeline", name, "--source", "web",
                       "--search-backend", f"local://{PAGES}", "--max-tokens", "24")
        assert proc.returncode == 0, proc.stderr
        assert len(load_answers(out)) == 4 and (out / "trace.jsonl").exists()
        runs.append(str(out))
    trace = json.loads((tmp_path / "rag-agent" / "trace.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert [s["name"] for s in trace["trace"]] == ["extract_question", "extract_keywords", "retrieve", "answer"]
    scored = run_cli("hw01", "score", "--answers", runs[1], "--gold", str(gold), "--scoring", "lenient", "--json")
    assert scored.returncode == 0, scored.stderr
    data = json.loads(scored.stdout)
    assert data["total"] == 4 and 0 <= data["correct"] <= 4 and len(data["per_question"]) == 4
    compared = run_cli("hw01", "compare", *runs, "--gold", str(gold), "--chart", str(tmp_path / "c.png"), "--json")
    assert compared.returncode == 0, compared.stderr
    assert len(json.loads(compared.stdout)["runs"]) == 2 and (tmp_path / "c.png").stat().st_size > 1000
    short = write(tmp_path, "short.txt", "one answer\n")
    bad = run_cli("hw01", "score", "--answers", str(short), "--gold", str(gold))
    assert bad.returncode == 2 and "1 answers for 4" in bad.stderr
