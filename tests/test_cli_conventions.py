"""Conventions every command keeps (issue #20): -h, --version, shell completion, help on every option, flags shown
bare, short forms with one meaning, one meaning and one default per option name, --json on every command that
reports (and nothing but JSON on stdout then), renamed options that still work for a release with a note, answers
streamed to a terminal, and other libraries' progress bars kept off piped output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.cli._common import DEFAULT_K, DEFAULT_MAX_TOKENS, printable, write_atomically

from .conftest import ROOT, HashEmbedder, run_cli

#: commands that only serve (nothing to report): no --json
NO_JSON = {"mcp serve"}
#: short options and the one meaning each has (several long names only where they name the same thing)
SHORT = {"-h": {"--help"}, "-V": {"--version"}, "-k": {"--k"}, "-m": {"--llm", "--model"}, "-o": {"--out"}, "-p": {"--pipeline"},
         "-j": {"--json"}, "-n": {"--n", "--limit"}}


def _commands(command: Any = None, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    command = command or typer.main.get_command(app)
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _commands(sub, (*path, name))
    return found


def leaf_commands() -> list[str]:
    """Every command that does something (``ask``, ``dataset dedup``, ``mcp serve`` ...), as typed."""
    return [" ".join(path) for path, cmd in _commands() if path and not getattr(cmd, "commands", None)]


def _options(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if getattr(p, "param_type_name", "") == "option" and not p.hidden]


def _invoke(*args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"}, **kwargs)


ALL = _commands()


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=[" ".join(p) or "agentkit" for p, _ in ALL])
def test_help_of_every_command(path: tuple[str, ...]) -> None:
    """`--help` and `-h` print the same help; every argument and visible option has help text; flags show bare."""
    cmd = dict(ALL)[path]
    long, short = _invoke(*path, "--help"), _invoke(*path, "-h")
    assert long.exit_code == 0 and short.exit_code == 0, long.stderr
    assert long.stdout == short.stdout and "Usage:" in long.stdout
    assert "<bool>" not in long.stdout  # a flag reads --json, not --json <bool>
    undocumented = [p.name for p in cmd.params if not getattr(p, "hidden", False) and not (getattr(p, "help", None) or "").strip()]
    assert not undocumented, f"{' '.join(path)}: no help for {undocumented}"


def test_version() -> None:
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        result = _invoke(flag)
        assert result.exit_code == 0 and result.stdout == f"agentkit {version('agentkit-rag')}\n"


def test_shell_completion() -> None:
    script = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="agentkit")
    assert script.exit_code == 0 and "_AGENTKIT_COMPLETE=complete_bash" in script.stdout
    done = CliRunner().invoke(app, [], prog_name="agentkit", env={"_AGENTKIT_COMPLETE": "complete_bash", "COMP_WORDS": "agentkit data", "COMP_CWORD": "1"})
    assert done.stdout.split() == ["dataset"]
    options = CliRunner().invoke(app, [], prog_name="agentkit", env={"_AGENTKIT_COMPLETE": "complete_bash", "COMP_WORDS": "agentkit query x --mi", "COMP_CWORD": "3"})
    assert options.stdout.split() == ["--min-score"]


def test_every_reporting_command_takes_json() -> None:
    missing = [name for name in leaf_commands() if name not in NO_JSON and "--json" not in _flags(name)]
    assert not missing and set(leaf_commands()) > NO_JSON


def _flags(name: str) -> set[str]:
    cmd = dict(ALL)[tuple(name.split())]
    return {opt for p in _options(cmd) for opt in p.opts}


def test_short_options_have_one_meaning() -> None:
    seen: dict[str, set[str]] = {}
    for _, cmd in ALL:
        for p in cmd.params:
            for short in (o for o in p.opts if re.fullmatch(r"-\w", o)):
                seen.setdefault(short, set()).update(o for o in p.opts if o.startswith("--"))
    seen.setdefault("-h", set()).add("--help")
    assert seen == {k: v for k, v in SHORT.items() if k in seen} and {"-k", "-m", "-o", "-j", "-n", "-p", "-h", "-V"} <= set(seen)


def test_one_meaning_and_one_default_per_option_name() -> None:
    from agentkit.llm import GenerationParams

    assert GenerationParams().max_tokens == DEFAULT_MAX_TOKENS
    by_name: dict[str, list[tuple[str, Any]]] = {}
    for path, cmd in ALL:
        for p in _options(cmd):
            for opt in p.opts:
                by_name.setdefault(opt, []).append((" ".join(path), p))
    assert {str(p.default) for _, p in by_name["--k"]} == {str(DEFAULT_K)}
    assert {p.default for _, p in by_name["--max-tokens"]} == {DEFAULT_MAX_TOKENS}
    assert all("bm25" in p.help for _, p in by_name["--mode"]), "--mode is the retrieval mode wherever it appears"
    assert all("web" in p.help for _, p in by_name["--source"]), "--source is where context comes from wherever it appears"
    assert all("strict" in p.help for _, p in by_name["--scoring"])
    assert all(p.is_flag for _, p in by_name["--json"])
    assert {where for where, _ in by_name["--search-backend"]} == {"ask", "hw01 run", "mcp serve"}


# ---- renamed options -----------------------------------------------------------------------------------------


@pytest.fixture
def scored_run(tmp_path: Path) -> tuple[Path, Path]:
    gold = tmp_path / "gold.txt"
    gold.write_text("How many moons does Mars have?,2\n火星有幾顆衛星？,兩顆、2\n", encoding="utf-8")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "answers.txt").write_text("2\n兩顆\n", encoding="utf-8")
    return gold, tmp_path / "run"


def test_renamed_option_works_for_a_release_with_a_note(scored_run: tuple[Path, Path]) -> None:
    gold, run = scored_run
    new = _invoke("hw01", "score", "--answers", str(run), "--gold", str(gold), "--scoring", "lenient", "--json")
    old = _invoke("hw01", "score", "--answers", str(run), "--gold", str(gold), "--mode", "lenient", "--json")
    assert new.exit_code == old.exit_code == 0 and json.loads(old.stdout) == json.loads(new.stdout) and new.stderr == ""
    assert [line for line in old.stderr.splitlines() if line.strip()] == ["note: hw01 score --mode is renamed --scoring; the old spelling stops working in the next release"]
    both = _invoke("hw01", "score", "--answers", str(run), "--gold", str(gold), "--scoring", "strict", "--mode", "lenient")
    assert both.exit_code == 2 and "error: --mode and its new name --scoring were both given" in both.stderr


def test_query_from_and_its_old_spelling(tmp_path: Path) -> None:
    from agentkit.retrievers import KnowledgeBase

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "mars.md").write_text("Mars has two moons, Phobos and Deimos.", encoding="utf-8")
    (docs / "venus.md").write_text("Venus has no moons at all.", encoding="utf-8")
    KnowledgeBase(tmp_path / "kb", embedder=HashEmbedder()).ingest([docs])
    found = {}
    for flag in ("--from", "--source"):
        result = _invoke("query", "moons", "--kb", str(tmp_path / "kb"), "--mode", "bm25", flag, str(docs / "venus.md"), "--json")
        assert result.exit_code == 0, result.stderr
        found[flag] = [Path(r["source"]).name for r in json.loads(result.stdout)["results"]]
        assert ("renamed --from" in result.stderr) == (flag == "--source")
    assert found["--from"] == found["--source"] == ["venus.md"]


def test_mcp_serve_search_backend_old_spelling_notes_and_still_validates() -> None:
    result = _invoke("mcp", "serve", "--search", "local://.", "--transport", "carrier-pigeon")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and lines[0].startswith("note: mcp serve --search is renamed --search-backend") and lines[1].startswith("error: unknown transport")


# ---- messages and --json output ------------------------------------------------------------------------------


def _dataset(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    rows = [{"instruction": "How many moons does Mars have?", "output": "Two.", "meta": {"source": "a"}},
            {"instruction": "How many moons does Mars have?", "output": "Two.", "meta": {"source": "b"}},
            {"instruction": "火星有幾顆衛星？", "output": "兩顆。", "meta": {"source": "c"}}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_dataset_stats_prints_no_python_reprs(tmp_path: Path) -> None:
    result = _invoke("dataset", "stats", str(_dataset(tmp_path)))
    assert result.exit_code == 0, result.stderr
    assert not re.search(r"[{}\[\]']", result.stdout), result.stdout
    assert "question chars: median 30, max 30" in result.stdout and "duplicates: dedup-exact 1, dedup-numbers 0, dedup-near 0" in result.stdout


def test_dataset_tools_report_json_and_write_atomically(tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    dedup = _invoke("dataset", "dedup", str(data), "-o", str(tmp_path / "d.jsonl"), "--json")
    assert json.loads(dedup.stdout) == {"records": 3, "kept": 2, "dropped": {"dedup-exact": 1, "dedup-numbers": 0, "dedup-near": 0}, "bad_lines": 0,
                                        "out": str(tmp_path / "d.jsonl")}
    split = _invoke("dataset", "split", str(data), "-o", str(tmp_path / "s"), "--split", "1,0,0", "--json")
    assert json.loads(split.stdout)["splits"] == {"train": 3, "valid": 0, "test": 0} and "split 'valid' is empty" in split.stderr
    convert = _invoke("dataset", "convert", str(data), "--to", "sharegpt", "-o", str(tmp_path / "c.jsonl"), "-j")
    assert json.loads(convert.stdout) == {"records": 3, "from": "alpaca", "to": "sharegpt", "bad_lines": 0, "out": str(tmp_path / "c.jsonl")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "d.jsonl", "data.jsonl", "s"]  # no .partial left behind


def test_write_atomically_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")

    def half(tmp: Path) -> None:
        tmp.write_text("new, half wri", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(target, half)
    assert target.read_text(encoding="utf-8") == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_chat_list_and_cache_clear_take_json(tmp_path: Path) -> None:
    listed = _invoke("chat", "--list", "--json", "--store", str(tmp_path / "chat.sqlite"))
    assert listed.exit_code == 0 and json.loads(listed.stdout) == {"sessions": []}
    cleared = _invoke("cache", "clear", "--web", "--json")
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["cleared"] == ["web"]


def test_hw01_run_takes_json(tmp_path: Path, scored_run: tuple[Path, Path]) -> None:
    gold, run = scored_run
    for item in (1, 2):  # answered already: the run resumes with nothing left to ask
        (run / f"{item}.txt").write_text("2\n", encoding="utf-8")
    result = _invoke("hw01", "run", "--questions", str(gold), "-o", str(run), "-p", "naive", "--json")
    assert result.exit_code == 0, result.stderr
    assert {k: v for k, v in json.loads(result.stdout).items() if k != "seconds"} == {"answered": 0, "skipped": 2, "failed": 0, "out": str(run),
                                                                                       "answers": str(run / "answers.txt")}


def test_printable_escapes_bytes_that_are_not_utf8() -> None:
    assert printable("臺灣 ok") == "臺灣 ok"
    assert printable(os.fsdecode(b"caf\xe9.txt")) == "caf\\xe9.txt"
    assert printable("\ud800x") == "\\ud800x"


# ---- ask: streamed to a terminal, progress elsewhere -----------------------------------------------------------


def test_streaming_answer_reports_the_answer_steps_tokens_only() -> None:
    from agentkit import pipeline
    from agentkit.cli.qa import _streaming_answer
    from agentkit.llm.scripted import ScriptedLLM
    from agentkit.retrievers.base import RetrievedChunk

    class OneChunk:
        def retrieve(self, query: str, k: int = 4) -> list[RetrievedChunk]:
            return [RetrievedChunk("Mars has two moons.", "mars.md", 0, 19, 1.0)]

        def to_dict(self) -> dict[str, Any]:
            return {"type": "one-chunk"}

    model = ScriptedLLM(["How many moons has Mars?", "Mars moons", "Mars has two moons, Phobos and Deimos."])
    pieces: list[str] = []
    result = _streaming_answer(pipeline.create("rag-agent", model, retriever=OneChunk(), k=1), pieces.append).run("火星 moons?")
    assert "".join(pieces) == result.answer == "Mars has two moons, Phobos and Deimos." and len(pieces) > 1
    assert len(model.calls) == 3  # the question and keyword steps ran, silently


@pytest.mark.slow
def test_ask_streams_to_a_terminal_once(tmp_path: Path) -> None:
    import pty

    args = ["ask", "What is the capital of France?", "--max-tokens", "24"]
    expected = json.loads(run_cli(*args, "--json").stdout)["answer"]
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "agentkit.cli", *args], stdout=follower, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "200", "TERM": "dumb"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode("utf-8", "replace")).replace("\r\n", "\n")
    assert text.count(expected.strip()) == 1 and "answer=" in text, text


@pytest.mark.slow
def test_piped_ingest_has_no_library_progress_bars_and_the_default_overlap_fits_small_chunks(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "mars.md").write_text("Mars has two moons, Phobos and Deimos. " * 4 + "\n\n火星有兩顆衛星。", encoding="utf-8")
    (docs / "notes.xyz").write_text("not a document type agentkit reads", encoding="utf-8")
    result = run_cli("ingest", str(docs), "--kb", str(tmp_path / "kb"), "--chunk-size", "60", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chunks_total"] >= 3  # stdout is the JSON alone
    assert "Loading weights" not in result.stderr and "it/s" not in result.stderr, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == ["note: skipped 1 file of unsupported types (.xyz: notes.xyz) (--include GLOB reads them as text)"]
