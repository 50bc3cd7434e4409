"""Distillation: question parsing, filters on crafted duplicates, grouped splits, exports that real loaders read,
and a job that resumes without a single new teacher call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit.distill import DistillConfig, DistillJob, QARecord, export, parse_questions, parse_split, split_records
from agentkit.distill.dataset_io import read_jsonl
from agentkit.distill.filters import ExactDedup, LanguageFilter, LexicalGroundedness, MinHashDedup, NumbersDedup, StandaloneFilter, run_filters
from agentkit.errors import ConfigError, InputError, KnowledgeBaseError
from agentkit.llm.scripted import ScriptedLLM
from agentkit.retrievers import KnowledgeBase
from tests.conftest import run_cli


def rec(q: str, a: str = "An answer.", source: str = "a.md", chunk: str = "c1", **kw) -> QARecord:  # type: ignore[no-untyped-def]
    return QARecord(q, a, source=source, chunk_id=chunk, **kw)


# ---- parsing the teacher ---------------------------------------------------------------------------


def test_parse_questions_json_and_preambles() -> None:
    assert parse_questions('{"questions": ["What is X?", "1. Who made Y?", "Jupiter", "{{json_data}}"]}', 5) == ["What is X?", "Who made Y?"]
    text = "Sure, here are 3 questions:\n1. What is the capital of France?\n2) 臺灣最高的山是哪一座？\nQuestions:\n- How does it work?"
    assert parse_questions(text, 5) == ["What is the capital of France?", "臺灣最高的山是哪一座？", "How does it work?"]
    assert parse_questions("Here is a question about the text:", 3) == []
    assert parse_questions('{"questions": ["Who is he?", "who is he?"]}', 3) == ["Who is he?"]


# ---- filters ---------------------------------------------------------------------------------------


def test_dedup_exact_numbers_and_near() -> None:
    records = [
        rec("How much does the ticket cost in 2024?", "It costs 30 dollars."),
        rec("How much does the ticket cost in 2024 ?", "It costs 30 dollars!"),  # exact after normalization
        rec("How much does the ticket cost in 2025?", "It costs 45 dollars."),  # numbers-only variant
        rec("Which river flows through the capital city of Egypt?", "The Nile."),
        rec("Which river flows through the capital city of Egypt today?", "The Nile river."),  # near duplicate
        rec("Who discovered electromagnetic induction?", "Faraday."),
    ]
    kept, report = run_filters(records, [ExactDedup(), NumbersDedup(), MinHashDedup(0.8)])
    assert [r.question for r in kept] == [records[0].question, records[3].question, records[5].question]
    assert [len(report[k]) for k in ("dedup-exact", "dedup-numbers", "dedup-near")] == [1, 1, 1]
    assert "differs only in numbers" in report["dedup-numbers"][0]["reason"]


def test_standalone_language_and_grounding() -> None:
    kept, dropped = StandaloneFilter()([rec("What does this article say about Mars?"), rec("根據文章，火星是什麼顏色？"), rec("What colour is Mars?", "The image shows a red planet."), rec("What colour is Mars?")])
    assert len(kept) == 1 and len(dropped) == 3
    zh = LanguageFilter("zh-TW")
    kept, dropped = zh([rec("火星是什麼顏色？", "紅色。"), rec("火星是什么颜色？", "红色。"), rec("What colour is Mars?", "Red.")])
    assert [r.question for r in kept] == ["火星是什麼顏色？"] and "other Chinese script" in dropped[0][1]
    grounded = LexicalGroundedness(0.5)
    good = rec("What colour is Mars?", "Mars is red.", context_texts=("Mars is the red planet.",))
    bad = rec("What colour is Mars?", "Mars is covered in blue oceans and forests.", context_texts=("Mars is the red planet.",))
    refusal = rec("Who owns Mars?", "The documents do not say.", kind="refusal")
    kept, dropped = grounded([good, bad, refusal])
    assert [r.answer for r in kept] == ["Mars is red.", "The documents do not say."] and kept[0].scores["grounded_lexical"] == 1.0


# ---- splits ----------------------------------------------------------------------------------------


def test_splits_are_disjoint_by_source_and_seeded() -> None:
    records = [rec(f"Question {i} about doc {i % 10}?", source=f"doc{i % 10}.md", chunk=f"c{i}") for i in range(100)]
    result = split_records(records, parse_split("0.8,0.1,0.1"), seed=3)
    assert result.grouped_by == "source"
    sources = {name: {r.source for r in rs} for name, rs in result.splits.items()}
    assert not (sources["train"] & sources["valid"] or sources["train"] & sources["test"] or sources["valid"] & sources["test"])
    assert sum(len(v) for v in result.splits.values()) == 100 and all(result.splits.values())
    assert split_records(records, parse_split("0.8,0.1,0.1"), seed=3) == result
    few = split_records([rec(f"Q{i}?", source="one.md", chunk=f"c{i}") for i in range(10)], parse_split("0.8,0.1,0.1"))
    assert few.grouped_by == "chunk" and all(few.splits.values())
    with pytest.raises(ConfigError):
        parse_split("0.8,x")


# ---- exports ---------------------------------------------------------------------------------------


def test_exports_load_with_real_readers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datasets

    records = [rec(f"Question number {i}?", f"Answer {i}.", source=f"d{i % 3}.md", system="You are helpful." if i % 2 else "") for i in range(12)]
    splits = split_records(records, (0.6, 0.2, 0.2)).splits
    export(splits, tmp_path, ["alpaca", "sharegpt", "messages", "mlx", "hf", "completion"])
    for fmt in ("alpaca", "sharegpt", "messages", "completion"):
        for name in ("train", "valid", "test"):
            assert (tmp_path / fmt / f"{name}.jsonl").exists()
    loaded = datasets.load_dataset("json", data_files=str(tmp_path / "alpaca" / "train.jsonl"), split="train")
    assert set(loaded.column_names) >= {"instruction", "input", "output"}
    share = [json.loads(line) for line in (tmp_path / "sharegpt" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in share:
        assert [t["from"] for t in row["conversations"]] == ["human", "gpt"]
    msgs = datasets.load_dataset("json", data_files=str(tmp_path / "mlx" / "valid.jsonl"), split="train")
    assert all(m[-1]["role"] == "assistant" for m in msgs["messages"])
    hf = datasets.load_from_disk(str(tmp_path / "hf"))
    assert set(hf) == {"train", "valid", "test"} and hf["train"].num_rows == len(splits["train"])
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["agentkit_sharegpt_train"]["formatting"] == "sharegpt" and info["agentkit_messages_train"]["tags"]["role_tag"] == "role"
    prov = [json.loads(line) for line in (tmp_path / "provenance.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(prov) == 12 and {"source", "chunk_id", "teacher", "prompt_version", "split"} <= set(prov[0])
    with pytest.raises(ConfigError, match="unknown format"):
        export(splits, tmp_path, ["parquet"])


def test_read_jsonl_reports_bad_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "Q1?", "input": "", "output": "A1"}\n{broken\n[1, 2]\n{"conversations": [{"from": "human", "value": "Q2?"}, {"from": "gpt", "value": "A2"}]}\n{"foo": 1}\n', encoding="utf-8")
    result = read_jsonl(path)
    assert [r.question for r in result.records] == ["Q1?", "Q2?"]
    assert [n for n, _ in result.errors] == [2, 3, 5]
    with pytest.raises(InputError):
        read_jsonl(tmp_path / "missing.jsonl")


# ---- the job ---------------------------------------------------------------------------------------


def _teacher(messages):  # type: ignore[no-untyped-def]
    prompt = messages[-1].content
    if "exam questions" in messages[0].content:  # question writer
        if "Jupiter" in prompt:
            return 'Sure! {"questions": ["How many moons does Jupiter have?", "What is the largest planet?"]}'
        return '{"questions": ["What colour is Mars?", "What does this article say about Mars?"]}'
    if "moons" in prompt.split("Question:")[-1]:
        return "Jupiter has 95 moons.\nQuestion:\n\"\"\"echo"
    if "largest" in prompt.split("Question:")[-1]:
        return "Jupiter is the largest planet."
    return "Mars is red."


@pytest.fixture
def small_kb(tmp_path, hash_embedder):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "jupiter.md").write_text("Jupiter is the largest planet. Jupiter has 95 moons.", encoding="utf-8")
    (docs / "mars.md").write_text("Mars is red because of iron oxide.", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    kb.ingest([docs])
    return kb


def test_job_end_to_end_and_resume_is_free(tmp_path, small_kb) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    config = DistillConfig(formats=("alpaca", "sharegpt", "messages", "mlx"), questions_per_chunk=2, split=(0.5, 0.5, 0.0))
    teacher = ScriptedLLM([_teacher])
    report = DistillJob(small_kb, out, teacher, config).run()
    stats = report.stats
    assert stats["generated"] == 4 and stats["kept"] == 3 and stats["dropped"]["standalone"]["count"] == 1
    assert report.llm_calls == 2 + 4  # two question calls, four answers (filters run after generation)
    answers = {json.loads(l)["instruction"]: json.loads(l)["output"] for f in ("train", "valid") for l in (out / "alpaca" / f"{f}.jsonl").read_text(encoding="utf-8").splitlines()}
    assert answers["How many moons does Jupiter have?"] == "Jupiter has 95 moons."  # echoed scaffolding cut
    # An empty split gets no file (consumers cannot read one), and the stats say so.
    assert stats["splits"]["test"] == 0 and not (out / "alpaca" / "test.jsonl").exists()
    assert any("'test' is empty" in note for note in stats["export_notes"])
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json")}

    again = ScriptedLLM(["must not be called"])
    second = DistillJob(small_kb, out, again, config.__class__(**{**config.__dict__})).run()
    assert second.llm_calls == 0 and again.calls == []
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json")}
    after.pop(Path("checkpoint.jsonl")), before.pop(Path("checkpoint.jsonl"))
    assert after == before


def test_garbage_teacher_is_a_recorded_failure(tmp_path, small_kb) -> None:  # type: ignore[no-untyped-def]
    report = DistillJob(small_kb, tmp_path / "out", ScriptedLLM(["I cannot help with that."]), DistillConfig(formats=("alpaca",))).run()
    assert report.stats["generated"] == 0 and len(report.stats["failures"]) == 2
    assert "no usable question" in report.stats["failures"][0]
    assert not (tmp_path / "out" / "alpaca").exists() and len(report.stats["export_notes"]) == 3


def test_empty_knowledge_base(tmp_path, hash_embedder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KnowledgeBaseError, match="empty"):
        DistillJob(KnowledgeBase(tmp_path / "kb", embedder=hash_embedder), tmp_path / "o", ScriptedLLM(["x"])).run()


@pytest.mark.slow
def test_cli_distill_with_embedded_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datasets

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "planets.md").write_text("# Planets\n\nJupiter is the largest planet in the Solar System. It has 95 known moons.\n\n"
                                     "Mars is called the red planet because iron oxide covers its surface.\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["distill", str(docs), "--out", str(out), "--max-chunks", "2", "--questions-per-chunk", "2", "--min-grounded", "0", "--split", "1,0,0", "--json"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["generated"] >= 1 and stats["kept"] >= 1
    loaded = datasets.load_dataset("json", data_files=str(out / "messages" / "train.jsonl"), split="train")
    assert loaded.num_rows == stats["splits"]["train"]
    assert datasets.load_from_disk(str(out / "hf"))["train"].num_rows == stats["splits"]["train"]
    before = (out / "sharegpt" / "train.jsonl").read_bytes()
    rerun = run_cli(*args)
    assert rerun.returncode == 0 and json.loads(rerun.stdout) == stats and (out / "sharegpt" / "train.jsonl").read_bytes() == before


def test_cli_dataset_tools(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "old.jsonl"
    rows = [{"instruction": f"What is the price in {2000 + i}?", "input": "", "output": f"{i} dollars", "meta": {"source": f"s{i % 4}"}} for i in range(8)]
    rows += [{"instruction": "Who wrote Hamlet?", "input": "", "output": "Shakespeare", "meta": {"source": "s9"}}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n{bad json\n", encoding="utf-8")
    strict = run_cli("dataset", "dedup", str(src), "--out", str(tmp_path / "dedup.jsonl"))  # a bad line stops it, naming the line
    assert strict.returncode == 2 and "old.jsonl:10" in strict.stderr and "--skip-bad-lines" in strict.stderr and not (tmp_path / "dedup.jsonl").exists()
    proc = run_cli("dataset", "dedup", str(src), "--out", str(tmp_path / "dedup.jsonl"), "--skip-bad-lines")
    assert proc.returncode == 0, proc.stderr
    assert "old.jsonl:10: skipped" in proc.stderr
    assert len((tmp_path / "dedup.jsonl").read_text(encoding="utf-8").splitlines()) == 2  # numbers-only variants collapse
    conv = run_cli("dataset", "convert", str(src), "--to", "sharegpt", "--out", str(tmp_path / "share.jsonl"), "--skip-bad-lines")
    assert conv.returncode == 0 and json.loads((tmp_path / "share.jsonl").read_text(encoding="utf-8").splitlines()[0])["conversations"][0]["from"] == "human"
    split = run_cli("dataset", "split", str(src), "--out", str(tmp_path / "split"), "--split", "0.5,0.25,0.25", "--skip-bad-lines")
    assert split.returncode == 0 and {p.name for p in (tmp_path / "split").iterdir()} == {"train.jsonl", "valid.jsonl", "test.jsonl"}
    stats = run_cli("dataset", "stats", str(src), "--json", "--skip-bad-lines")
    assert stats.returncode == 0 and json.loads(stats.stdout)["duplicates"]["dedup-numbers"] == 7
    bad = run_cli("dataset", "convert", str(src), "--to", "parquet", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown format" in bad.stderr


# ---- what consumers need of an export (issue 17) ---------------------------------------------------


def test_empty_split_gets_no_file_and_a_stale_one_is_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datasets

    full = {"train": [rec("Q1 long enough?", source="a"), rec("Q2 long enough?", source="b")], "valid": [rec("Q3 long enough?", source="c")], "test": [rec("Q4 long enough?", source="d")]}
    export(full, tmp_path, ["alpaca", "sharegpt", "messages", "mlx", "hf", "completion"])
    result = export({**full, "test": []}, tmp_path, ["alpaca", "sharegpt", "messages", "mlx", "hf", "completion"])
    assert result.notes == ("split 'test' is empty: no test.jsonl written (mlx-lm, LLaMA-Factory and datasets cannot read an empty file)",)
    assert not list(tmp_path.rglob("test.jsonl"))
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    assert sorted(info) == sorted(f"agentkit_{f}_{s}" for f in ("alpaca", "sharegpt", "messages") for s in ("train", "valid"))
    for path in result.files:  # every file written reads with the real loader
        if path.suffix == ".jsonl":
            assert datasets.load_dataset("json", data_files=str(path), split="train").num_rows >= 1
    assert set(datasets.load_from_disk(str(tmp_path / "hf"))) == {"train", "valid"}


def test_dataset_info_declares_exactly_the_columns_rows_have(tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain = {"train": [rec("What is one?"), rec("What is two?")], "valid": [], "test": []}
    export(plain, tmp_path / "a", ["alpaca", "sharegpt"])
    info = json.loads((tmp_path / "a" / "dataset_info.json").read_text(encoding="utf-8"))
    assert "system" not in info["agentkit_alpaca_train"]["columns"] and "system" not in info["agentkit_sharegpt_train"]["columns"]
    rows = [json.loads(l) for l in (tmp_path / "a" / "alpaca" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(set(r) == {"instruction", "input", "output"} for r in rows)

    mixed = {"train": [rec("What is one?", system="Be brief."), rec("What is two?"), rec("And three?", history=(("What is two?", "Two."),))], "valid": [], "test": []}
    export(mixed, tmp_path / "b", ["alpaca", "sharegpt"])
    info = json.loads((tmp_path / "b" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["agentkit_alpaca_train"]["columns"] == {"prompt": "instruction", "query": "input", "response": "output", "system": "system", "history": "history"}
    for fmt in ("alpaca", "sharegpt"):  # one schema per file: every row carries every declared column
        rows = [json.loads(l) for l in (tmp_path / "b" / fmt / "train.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len({frozenset(r) for r in rows}) == 1 and rows[1]["system"] == ""
    share = [json.loads(l) for l in (tmp_path / "b" / "sharegpt" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["from"] for t in share[2]["conversations"]] == ["human", "gpt", "human", "gpt"]


def test_completion_export_is_conversational_for_trl(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from trl.data_utils import is_conversational

    export({"train": [rec("What is one?", "One.", system="Be brief.")], "valid": [], "test": []}, tmp_path, ["completion"])
    row = json.loads((tmp_path / "completion" / "train.jsonl").read_text(encoding="utf-8"))
    assert row == {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is one?"}], "completion": [{"role": "assistant", "content": "One."}]}
    assert is_conversational(row)  # TRL applies the model's chat template, not "What is one?One."
    back = read_jsonl(tmp_path / "completion" / "train.jsonl").records[0]
    assert (back.question, back.answer, back.system) == ("What is one?", "One.", "Be brief.")


def test_dedup_folds_traditional_and_simplified_chinese() -> None:
    records = [rec("臺灣最高的山是哪一座？", "玉山。"), rec("台湾最高的山是哪一座？", "玉山。"), rec("台湾最长的河是哪一条？", "浊水溪。")]
    kept, report = run_filters(records, [ExactDedup(), NumbersDedup(), MinHashDedup(0.8)])
    assert [r.question for r in kept] == ["臺灣最高的山是哪一座？", "台湾最长的河是哪一条？"] and len(report["dedup-exact"]) == 1


def test_cli_dataset_tools_keep_turns_history_and_unknown_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "chat.jsonl"
    rows = [
        {"conversations": [{"from": "human", "value": "What is Zorg?"}, {"from": "gpt", "value": "A planet."}, {"from": "human", "value": "How many moons?"},
                           {"from": "gpt", "value": "Seven."}], "system": "Be brief.", "id": "c1", "meta": {"source": "zorg.md"}},
        # the same last turn after a different first turn: not a duplicate
        {"conversations": [{"from": "human", "value": "What is Blorp?"}, {"from": "gpt", "value": "A moon."}, {"from": "human", "value": "How many moons?"},
                           {"from": "gpt", "value": "Seven."}], "id": "c2", "meta": {"source": "blorp.md"}},
        {"instruction": "And its capital?", "input": "", "output": "Glimmerton.", "history": [["What is Zorg?", "A planet."]], "tags": ["geo"]},
        {"conversations": [{"from": "human", "value": "Weather?"}, {"from": "function_call", "value": "{}"}, {"from": "observation", "value": "sun"}, {"from": "gpt", "value": "Sunny."}]},
    ]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    dedup = run_cli("dataset", "dedup", str(src), "--out", str(tmp_path / "dedup.jsonl"), "--skip-bad-lines")
    assert dedup.returncode == 0, dedup.stderr
    assert [json.loads(l) for l in (tmp_path / "dedup.jsonl").read_text(encoding="utf-8").splitlines()] == rows[:3]  # verbatim
    assert "chat.jsonl:4: skipped (turns must alternate user/assistant" in " ".join(dedup.stderr.split())  # the tool turn is reported

    to_alpaca = run_cli("dataset", "convert", str(src), "--to", "alpaca", "--out", str(tmp_path / "a.jsonl"), "--skip-bad-lines")
    assert to_alpaca.returncode == 0, to_alpaca.stderr
    alpaca = [json.loads(l) for l in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert alpaca[0] == {"instruction": "How many moons?", "input": "", "output": "Seven.", "system": "Be brief.", "history": [["What is Zorg?", "A planet."]],
                         "id": "c1", "meta": {"source": "zorg.md"}}
    assert alpaca[2]["tags"] == ["geo"] and alpaca[1]["system"] == ""
    back = run_cli("dataset", "convert", str(tmp_path / "a.jsonl"), "--to", "sharegpt", "--out", str(tmp_path / "s.jsonl"))
    assert back.returncode == 0, back.stderr
    share = [json.loads(l) for l in (tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()]
    assert share[0]["conversations"] == rows[0]["conversations"] and share[0]["system"] == "Be brief." and share[0]["id"] == "c1"

    split = run_cli("dataset", "split", str(src), "--out", str(tmp_path / "split"), "--split", "1,0,0", "--skip-bad-lines")
    assert split.returncode == 0, split.stderr
    assert [p.name for p in (tmp_path / "split").iterdir()] == ["train.jsonl"] and "split 'valid' is empty" in split.stderr
    written = [json.loads(l) for l in (tmp_path / "split" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(written, key=json.dumps) == sorted(rows[:3], key=json.dumps)  # every readable row, verbatim
