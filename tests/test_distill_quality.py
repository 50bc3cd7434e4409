"""Distillation data that teaches (issue 18): refusals only for answers the knowledge base lacks, CJK-aware lengths,
numbers dedup that keeps distinct facts, standalone questions, the system prompt reaching the teacher, multi-hop
partners from elsewhere, retried failures, novelty, and RAFT rows with verified quotes and the configured oracle rate.

Knowledge bases are crafted with known answers and a scripted teacher, so every expectation is exact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentkit.distill import DistillConfig, DistillJob, QARecord
from agentkit.distill.filters import EmbeddingDedup, LengthFilter, NoveltyFilter, NumbersDedup, StandaloneFilter, default_filters, run_filters
from agentkit.distill.raft import parse, unverified
from agentkit.distill.text import content_terms, rouge_l, rouge_tokens, units
from agentkit.errors import ConfigError, LLMTimeoutError
from agentkit.llm.scripted import ScriptedLLM
from agentkit.retrievers import KnowledgeBase
from tests.conftest import HashEmbedder, run_cli


class WordEmbedder(HashEmbedder):
    """Bag of words only (HashEmbedder also hashes single characters, which blurs topics together)."""

    def _embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                out[i, int(hashlib.md5(w.rstrip("s").encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i, 0] += 1e-3
        return out


def rec(q: str, a: str = "An answer.", **kw) -> QARecord:  # type: ignore[no-untyped-def]
    return QARecord(q, a, source=kw.pop("source", "a.md"), chunk_id=kw.pop("chunk", "c1"), **kw)


def _kb(tmp_path: Path, docs: dict[str, str], embedder=None, **kw) -> KnowledgeBase:  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb", embedder=embedder or HashEmbedder(), **kw)
    kb.ingest([folder])
    return kb


def _role(messages) -> str:  # type: ignore[no-untyped-def]
    system = messages[0].content
    if "exam questions" in system:
        return "questions"
    if "showing the evidence" in system:
        return "raft"
    if "whether reference texts answer" in system:
        return "answerability"
    if "supported by their context" in system:
        return "groundedness"
    return "answer"


def _input(messages) -> str:  # type: ignore[no-untyped-def]
    """The fenced input (question or text) of an agent's user message."""
    return messages[-1].content.rsplit('"""', 2)[-2].strip()


# ---- filters with known answers ---------------------------------------------------------------------------------


def test_length_counts_a_cjk_character_as_a_word() -> None:
    records = [rec("玉山有多高？", "3952公尺。"), rec("Why?"), rec("What?"), rec("How tall is Yushan?", "3952 m."), rec("玉山？", "山。")]
    kept, dropped = LengthFilter()(records)
    assert [r.question for r in kept] == ["玉山有多高？", "How tall is Yushan?"]
    assert units("玉山有多高？") == 5 and units("How tall is Yushan?") == 4 and "units" in dropped[0][1]
    from agentkit.distill import parse_questions

    assert parse_questions('{"questions": ["玉山多高？", "Why?", "What is X?"]}', 5) == ["玉山多高？", "What is X?"]  # 4 characters, a whole question


def test_numbers_dedup_compares_question_and_answer() -> None:
    germany = rec("Who won the 2014 World Cup?", "Germany.")
    france = rec("Who won the 2018 World Cup?", "France.")
    price_2024 = rec("How much does the ticket cost in 2024?", "It costs 30 dollars.")
    price_2025 = rec("How much does the ticket cost in 2025?", "It costs 45 dollars.")
    kept, dropped = NumbersDedup()([germany, france, price_2024, price_2025])
    assert kept == [germany, france, price_2024] and dropped[0][0] == price_2025  # a template; distinct facts stay
    # The default de-duplication keeps both World Cup winners (near-duplicate and novelty filters too: the answers
    # state different facts) ...
    dedup = [f for f in default_filters() if f.name.startswith("dedup") or f.name == "novelty"]
    assert run_filters([germany, france], dedup)[0] == [germany, france]
    # ... and the numbers filter is a switch
    assert "dedup-numbers" in [f.name for f in default_filters()] and "dedup-numbers" not in [f.name for f in default_filters(dedup_numbers=False)]


@pytest.mark.parametrize("question", [
    "How does it work?", "What did he invent in 1879?", "Why is this important?", "When was it built?", "How many moons does it have?",
    "What is its capital?", "What does the passage say about Mars?", "According to the document, who rules Zorg?",
    "What is mentioned above about tea?", "They were founded when?", "Did she win the prize?",
    "文中提到的山有多高？", "本文的主旨是什麼？", "上述方法有什麼缺點？", "該文章討論了哪些國家？", "这段文字说明了什么？", "它有幾顆衛星？",
    "作者認為火星適合居住嗎？", "為什麼它是紅色的？",
])
def test_standalone_drops_questions_that_need_their_passage(question: str) -> None:
    kept, dropped = StandaloneFilter()([rec(question)])
    assert not kept and "cannot see" in dropped[0][1]


@pytest.mark.parametrize("question", [
    "How does photosynthesis work?", "Who is the author of Hamlet?", "What is the capital of Zorg?", "Who won the 2014 World Cup?",
    "Which document did Lincoln sign in 1863?", "中文中「的」字怎麼用？", "日本文化有哪些特色？", "三千公尺以上的山有幾座？", "玉山有多高？",
    "How many moons does Jupiter have?", "資料中心耗電多少？",
])
def test_standalone_keeps_self_contained_questions(question: str) -> None:
    kept, _ = StandaloneFilter()([rec(question, "Answer.")])
    assert kept


def test_novelty_is_rouge_l_and_fact_aware() -> None:
    assert rouge_tokens("臺灣最高的山？") == rouge_tokens("台湾最高的山？")  # the scripts fold together
    records = [
        rec("What colour is the planet Mars?", "Mars is red."),
        rec("What colour is planet Mars?", "It is red."),  # ROUGE-L 0.91, same fact: a repeat
        rec("臺灣最高的山是哪一座？", "玉山。"),
        rec("台湾最高的山是哪座？", "玉山。"),  # the same in Simplified
        rec("Who won the 2014 World Cup?", "Germany."),
        rec("Who won the 2018 World Cup?", "France."),  # as similar, but another fact
        rec("What colour is the sky of Mars?", "Butterscotch."),  # no word in common with "red": another fact
    ]
    kept, dropped = NoveltyFilter(0.7)(records)
    assert [r.question for r in kept] == [records[i].question for i in (0, 2, 4, 5, 6)]
    assert len(dropped) == 2 and "ROUGE-L" in dropped[0][1]
    assert rouge_l(rouge_tokens(records[0].question), rouge_tokens(records[1].question)) >= 0.7


def test_embedding_dedup_drops_near_identical_questions(hash_embedder) -> None:  # type: ignore[no-untyped-def]
    records = [rec("What colour is Mars?", "Red."), rec("what colour is mars", "Red, mostly."), rec("Who rules Planet Zorg?", "Queen Blorpa.")]
    kept, dropped = EmbeddingDedup(hash_embedder, 0.95)(records)
    assert [r.question for r in kept] == ["What colour is Mars?", "Who rules Planet Zorg?"] and "cosine" in dropped[0][1]


def test_content_terms_are_stemmed_and_cjk_aware() -> None:
    assert content_terms("How many moons does Mars have?") == {"moon", "mar"}  # function words out, plural folded
    assert content_terms("玉山有多高？") == {"玉山", "高"}
    assert content_terms("玉山有多高？") == content_terms("玉山有多高?")


# ---- refusals: only where the knowledge base lacks the answer ----------------------------------------------------

PLANETS = {
    "mars.md": "Mars is the fourth planet from the Sun. Mars is red because iron oxide covers its surface.",
    "jupiter.md": "Jupiter is the largest planet in the Solar System. Jupiter has 95 known moons.",
}


def _refusal_teacher(messages):  # type: ignore[no-untyped-def]
    role = _role(messages)
    if role == "questions":
        if "NOT answer" in messages[-1].content:
            return json.dumps({"questions": ["Is Mars a planet?", "Who was the first emperor of Rome?"]})
        return json.dumps({"questions": ["Why is Mars red?"]}) if "Mars" in _input(messages) else json.dumps({"questions": ["How many moons does Jupiter have?"]})
    return "Mars is red because iron oxide covers its surface." if "Mars" in _input(messages) else "Jupiter has 95 known moons."


def test_refusal_rows_only_for_answers_the_knowledge_base_lacks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kb = _kb(tmp_path, PLANETS)
    config = DistillConfig(formats=("alpaca",), questions_per_chunk=2, refusal_ratio=0.99, split=(1, 0, 0))
    report = DistillJob(kb, tmp_path / "out", ScriptedLLM([_refusal_teacher]), config).run()
    rows = [json.loads(line) for line in (tmp_path / "out" / "alpaca" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    refusals = {r["instruction"] for r in rows if r["output"].startswith("The documents do not contain")}
    assert refusals == {"Who was the first emperor of Rome?"}  # "Is Mars a planet?" is answered by mars.md
    quality = report.stats["quality"]["refusals"]
    assert quality["proposed"] == 4 and quality["rejected"] == 2 and quality["kept"] == 1 and quality["precision"] == 1.0
    assert "mars.md" in report.stats["dropped"]["refusal-check"]["examples"][0]["reason"]


def test_the_judge_can_veto_a_refusal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kb = _kb(tmp_path, PLANETS)

    def judge(messages):  # type: ignore[no-untyped-def]
        if _role(messages) == "groundedness":
            return '{"supported": true}'
        return '{"answerable": true, "reason": "Rome is mentioned"}' if "Rome" in messages[-1].content else '{"answerable": false}'

    config = DistillConfig(formats=("alpaca",), questions_per_chunk=2, refusal_ratio=0.99, split=(1, 0, 0))
    report = DistillJob(kb, tmp_path / "out", ScriptedLLM([_refusal_teacher]), config, judge=ScriptedLLM([judge])).run()
    assert report.stats["kinds"].get("refusal", 0) == 0 and report.stats["quality"]["refusals"]["rejected"] == 4
    assert any("judge" in row["reason"] for row in report.stats["dropped"]["refusal-check"]["examples"])


# ---- the teacher sees the system prompt; multi-hop partners; failures -------------------------------------------


def test_system_prompt_reaches_the_teacher(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kb = _kb(tmp_path, PLANETS)
    teacher = ScriptedLLM([_refusal_teacher])
    config = DistillConfig(formats=("alpaca",), questions_per_chunk=1, system="You are Captain Nemo. Answer like a sailor.", split=(1, 0, 0))
    job = DistillJob(kb, tmp_path / "out", teacher, config)
    job.run()
    answers = [m for m in teacher.calls if _role(m) == "answer"]
    assert answers and all(m[0].content.startswith("You are Captain Nemo. Answer like a sailor.") for m in answers)
    run = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    answer_step = run["pipeline"]["steps"][-1]
    assert answer_step["system"] == config.system and run["config"]["system"] == config.system and run["pipeline"]["steps"][0]["type"] == "retrieve"


def test_multi_hop_pairs_a_related_chunk_from_elsewhere(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agentkit.chunking import make_splitter

    docs = {
        "a.md": "Jupiter has 95 known moons orbiting it.\n\nBread dough rises because yeast makes gas.\n\nGreen tea is brewed with hot water.",
        "b.md": "Ganymede is the largest of the moons of Jupiter.",
    }
    kb = _kb(tmp_path, docs, WordEmbedder(dim=512), splitter=make_splitter("recursive", chunk_size=50, chunk_overlap=0))
    assert kb.count() == 4
    teacher = ScriptedLLM([lambda m: json.dumps({"questions": ["Which moon of the planet with 95 moons is the largest?"]}) if _role(m) == "questions" else "Ganymede."])
    DistillJob(kb, tmp_path / "out", teacher, DistillConfig(formats=("alpaca",), questions_per_chunk=1, styles=("multi-hop",))).run()
    pairs = [re.findall(r"Text \d:\n(.*?)(?:\n\n|\n\"\"\"|$)", _input(m), re.DOTALL) for m in teacher.calls if _role(m) == "questions"]
    partner_of = {first.strip(): second.strip() for first, second in pairs}
    assert partner_of["Jupiter has 95 known moons orbiting it."] == "Ganymede is the largest of the moons of Jupiter."  # not the bread
    assert partner_of["Bread dough rises because yeast makes gas."] == "Ganymede is the largest of the moons of Jupiter."  # never a neighbour in its file
    assert partner_of["Ganymede is the largest of the moons of Jupiter."] == "Jupiter has 95 known moons orbiting it."


def test_a_timeout_is_retried_and_retry_failed_retries_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kb = _kb(tmp_path, {"mars.md": PLANETS["mars.md"]})
    out = tmp_path / "out"
    config = DistillConfig(formats=("alpaca",), questions_per_chunk=1, split=(1, 0, 0))

    def slow(messages):  # type: ignore[no-untyped-def]
        raise LLMTimeoutError("scripted:// did not finish within 1 s", "raise the timeout")

    first = DistillJob(kb, out, ScriptedLLM([slow]), config).run()
    assert first.stats["generated"] == 0 and "did not finish" in first.stats["failures"][0]
    second = DistillJob(kb, out, ScriptedLLM([_refusal_teacher]), config).run()  # a timeout is not the teacher's last word
    assert second.stats["kept"] == 1 and second.llm_calls == 2

    garbage = tmp_path / "garbage"
    DistillJob(kb, garbage, ScriptedLLM(["I cannot help with that."]), config).run()
    cached = DistillJob(kb, garbage, ScriptedLLM([_refusal_teacher]), config).run()
    assert cached.llm_calls == 0 and cached.stats["kept"] == 0  # a permanent failure stays cached ...
    retried = DistillJob(kb, garbage, ScriptedLLM([_refusal_teacher]), DistillConfig(**{**config.__dict__, "retry_failed": True})).run()
    assert retried.llm_calls == 2 and retried.stats["kept"] == 1  # ... until --retry-failed


# ---- RAFT ---------------------------------------------------------------------------------------------------------

FACTS = {
    "zorg.md": ("The capital of Zorg is Glimmerton, a city of glass towers.", "What is the capital of Zorg?", "Glimmerton"),
    "blorp.md": ("Blorp is a moon covered by purple moss forests.", "What covers the moon Blorp?", "Purple moss"),
    "quux.md": ("Quux has rings made of frozen ammonia crystals.", "What are the rings of Quux made of?", "Frozen ammonia"),
    "vesta.md": ("Vesta Prime orbits a red dwarf every forty days.", "How long is a year on Vesta Prime?", "Forty days"),
    "nim.md": ("The oceans of Nim are coloured orange by copper algae.", "What colours the oceans of Nim?", "Copper algae"),
    "tor.md": ("Tor was first mapped by the explorer Halvard Ostrem.", "Who first mapped Tor?", "Halvard Ostrem"),
    "kel.md": ("Kel is famous for singing crystal caves.", "What is Kel famous for?", "Singing crystal caves"),
}


def _raft_teacher(messages):  # type: ignore[no-untyped-def]
    role = _role(messages)
    text = messages[-1].content
    for sentence, question, answer in FACTS.values():
        if role == "questions" and _input(messages) == sentence:
            return json.dumps({"questions": [question]})
        if role == "raft" and _input(messages) == question:
            assert sentence in text and len(re.findall(r"\[\d+ \| [0-9a-f]{8}\] source:", text)) == 1  # the oracle chunk alone
            quote = sentence if "Tor" not in question else "Tor was mapped by Captain Nemo."  # a made-up quote
            return f"The context says ##begin_quote##{quote}##end_quote##, which answers it.\n<ANSWER>: {answer}\nQuestion: echo"
    raise AssertionError(f"unexpected call: {text[:200]}")


def _raft_run(tmp_path, name: str, **changes):  # type: ignore[no-untyped-def]
    kb = _kb(tmp_path, {file: sentence for file, (sentence, _, _) in FACTS.items()})
    config = DistillConfig(**{"formats": ("alpaca", "sharegpt", "messages", "mlx", "completion", "hf"), "questions_per_chunk": 1, "split": (1, 0, 0),
                              "recipe": "raft", "distractors": 2, "oracle_rate": 0.5, **changes})
    return DistillJob(kb, tmp_path / name, ScriptedLLM([_raft_teacher]), config).run(), tmp_path / name


def test_raft_rows_have_verified_quotes_and_the_configured_oracle_rate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datasets

    report, out = _raft_run(tmp_path, "raft")
    stats = report.stats
    assert stats["dropped"]["quotes"]["count"] == 1 and "quote not in its chunk" in stats["dropped"]["quotes"]["examples"][0]["reason"]
    raft = stats["quality"]["raft"]
    assert raft["rows"] == 6 and raft["with_oracle"] == 3 and raft["oracle_rate"] == raft["configured_oracle_rate"] == 0.5  # round(0.5 × 6), exactly
    rows = [json.loads(line) for line in (out / "alpaca" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    by_question = {r["instruction"].rsplit("\n", 1)[-1]: r for r in rows}
    assert len(rows) == 6 and set(by_question) == {q for _, q, _ in FACTS.values()} - {"Who first mapped Tor?"}
    oracle_rows = 0
    for sentence, question, answer in (v for v in FACTS.values() if v[1] in by_question):
        row = by_question[question]
        documents = re.findall(r"<DOCUMENT>(.*?)</DOCUMENT>", row["instruction"], re.DOTALL)
        assert len(documents) == 3 and row["instruction"].endswith(question)  # oracle + 2 distractors, or 3 distractors
        if sentence in documents:
            oracle_rows += 1
            cot = parse(row["output"])
            assert cot.answer == answer and cot.quotes and not unverified(cot.quotes, documents)
            assert "Question: echo" not in row["output"]  # cut after the <ANSWER> line
        else:  # the answer is truly absent from what the row shows: the row teaches abstention
            assert row["output"].endswith("<ANSWER>: The documents do not contain the answer to this question.")
            assert not any(answer.lower() in d.lower() for d in documents)
    assert oracle_rows == 3
    # every format carries the documents in the prompt
    first = json.loads((out / "messages" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["messages"][0]["content"].startswith("<DOCUMENT>")
    for fmt, prompt in (("sharegpt", lambda r: r["conversations"][0]["value"]), ("completion", lambda r: r["prompt"][-1]["content"]),
                        ("mlx", lambda r: r["messages"][0]["content"])):
        assert all(prompt(json.loads(line)).startswith("<DOCUMENT>") for line in (out / fmt / "train.jsonl").read_text(encoding="utf-8").splitlines()), fmt
    hf = datasets.load_from_disk(str(out / "hf"))["train"]
    assert all(len(d) == 3 for d in hf["documents"]) and hf["messages"][0][0]["content"].startswith("<DOCUMENT>")
    assert stats["quality"]["groundedness"]["kept"] == 1.0 and stats["quality"]["groundedness"]["generated"] == pytest.approx(6 / 7, abs=1e-3)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["raft"] == {"oracle_rate": 0.5, "distractors": 2, "answer_format": "cot"} and run["answerer"]["name"] == "raft-answerer"
    assert (out / "report.png").stat().st_size > 0


def test_raft_answer_format_and_a_no_oracle_row_whose_evidence_is_in_a_distractor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    FACTS_COPY = dict(FACTS)
    FACTS_COPY["guide.md"] = ("Travel guide: The capital of Zorg is Glimmerton, a city of glass towers. Visit in spring.", "When should one visit Zorg?", "In spring")
    original = dict(FACTS)
    FACTS.clear()
    FACTS.update(FACTS_COPY)
    try:
        report, out = _raft_run(tmp_path, "none", oracle_rate=0.0, answer_format="answer", formats=("alpaca",))
    finally:
        FACTS.clear()
        FACTS.update(original)
    dropped = report.stats["dropped"]["raft-no-oracle"]
    # without its oracle, the Zorg row would still show the guide, which quotes the evidence: it is dropped, not mislabelled
    assert [e["question"] for e in dropped["examples"]] == ["What is the capital of Zorg?"] and "distractor holds the evidence" in dropped["examples"][0]["reason"]
    rows = [json.loads(line) for line in (out / "alpaca" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and all(r["output"] == "The documents do not contain the answer to this question." for r in rows)  # answer format: no reasoning
    assert report.stats["quality"]["raft"]["oracle_rate"] == 0.0


def test_raft_resume_is_byte_identical_and_free(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, out = _raft_run(tmp_path, "raft", formats=("alpaca", "messages"), refusal_ratio=0.0)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json") and p.name != "checkpoint.jsonl"}
    kb = KnowledgeBase(tmp_path / "kb", embedder=HashEmbedder())
    again = ScriptedLLM(["must not be called"])
    config = DistillConfig(formats=("alpaca", "messages"), questions_per_chunk=1, split=(1, 0, 0), recipe="raft", distractors=2, oracle_rate=0.5)
    second = DistillJob(kb, out, again, config).run()
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json") and p.name != "checkpoint.jsonl"}
    assert second.llm_calls == 0 and again.calls == [] and after == before


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.8, 1.0])
def test_the_oracle_goes_to_exactly_the_configured_share_of_rows(rate: float) -> None:
    from agentkit.distill.raft import gets_oracle

    records = [rec(f"Question number {i}?", f"Answer {i}.", chunk=f"c{i}") for i in range(10)]
    chosen = gets_oracle(records, rate, seed=3)
    assert len(chosen) == round(rate * 10) and chosen == gets_oracle(records[::-1], rate, seed=3)  # the same rows whatever the order
    assert (0 < rate < 1 and chosen != gets_oracle(records, rate, seed=4)) or rate in (0.0, 1.0)  # the seed picks which


def test_raft_options_are_checked() -> None:
    for bad in ({"recipe": "rafts"}, {"oracle_rate": 1.5}, {"distractors": -1}, {"answer_format": "essay"}, {"novelty": 2.0}):
        with pytest.raises(ConfigError):
            DistillConfig(**bad)


def test_cli_distill_raft_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("distill", str(tmp_path), "--out", str(tmp_path / "o"), "--recipe", "raft", "--answer-format", "essay")
    assert proc.returncode == 2 and "answer format" in proc.stderr
    help_text = run_cli("distill", "--help").stdout
    for option in ("--recipe", "--oracle-rate", "--distractors", "--answer-format", "--no-dedup-numbers", "--novelty", "--dedup-embedding", "--retry-failed"):
        assert option in help_text


@pytest.mark.slow
def test_cli_distill_raft_with_the_embedded_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "planets.md").write_text("# Planets\n\nJupiter is the largest planet in the Solar System. It has 95 known moons.\n\n"
                                     "Mars is called the red planet because iron oxide covers its surface.\n", encoding="utf-8")
    (docs / "tea.md").write_text("Green tea is brewed with water at about 80 degrees Celsius for two minutes.\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["distill", str(docs), "--out", str(out), "--recipe", "raft", "--distractors", "1", "--oracle-rate", "0.5", "--questions-per-chunk", "2",
            "--min-grounded", "0", "--split", "1,0,0", "--formats", "alpaca,messages", "--refusal-ratio", "0.5", "--json"]
    proc = run_cli(*args, timeout=1200)
    stats = json.loads(proc.stdout)  # stats.json is printed either way
    # a 135M teacher may keep nothing: then the job fails (exit 2) with the reasons on stderr, never a silent success
    assert proc.returncode == (0 if stats["kept"] else 2), proc.stderr
    assert stats["kept"] or "kept no record" in proc.stderr
    assert stats["recipe"] == "raft" and stats["generated"] >= 1
    assert sum(v["count"] for name, v in stats["dropped"].items() if name != "refusal-check") + stats["kept"] >= stats["generated"]
    if stats["kept"]:  # whatever a 135M teacher managed: every oracle row's quotes are in its documents
        for line in (out / "alpaca" / "train.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            documents = re.findall(r"<DOCUMENT>(.*?)</DOCUMENT>", row["instruction"], re.DOTALL)
            assert documents and "<ANSWER>:" in row["output"]
            assert not unverified(parse(row["output"]).quotes, documents)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.json*") if p.name != "checkpoint.jsonl"}
    rerun = run_cli(*args, timeout=1200)
    assert rerun.returncode == proc.returncode and json.loads(rerun.stdout) == stats
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*.json*") if p.name != "checkpoint.jsonl"} == before
