"""The bad-input corpus (tests/fixtures/cli_bad_inputs.toml): every case, in every command, is refused with exactly
one line on stderr naming the cause and the fix, exit code 2, no traceback, and nothing written.

Most cases run in-process through Typer's CliRunner (stdout and stderr captured apart; a cold `python -m
agentkit.cli` costs a second or two each); those marked ``subprocess`` run as a real child process, for what only a
real process shows: bytes that are not UTF-8 in argv and on stdin, and tracebacks as the entry point prints them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agentkit.cli import app

from .conftest import ROOT, HashEmbedder

CORPUS = Path(__file__).parent / "fixtures" / "cli_bad_inputs.toml"
CASES: list[dict[str, Any]] = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]
FF = os.fsdecode(b"\xff")  # the byte 0xff as Python hands it over from argv (a lone surrogate)
ERROR_LINE = re.compile(r"^error: .+ \(.+\)$")  # error: CAUSE (FIX)


def _id(case: dict[str, Any]) -> str:
    return re.sub(r"[^\w.=:+-]+", "_", " ".join(case["args"]).replace("{d}/", "").replace("{ff}", "0xff"))[:70]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inputs the corpus refers to as {d}/NAME."""
    d = tmp_path_factory.mktemp("bad-inputs")
    (d / "notgguf.txt").write_text("plain text, not a model\n", encoding="utf-8")
    (d / "fake.gguf").write_bytes(b"NOPE" + b"\0" * 60)
    (d / "existing.txt").write_text("an existing file\n", encoding="utf-8")
    (d / "empty.txt").write_bytes(b"")
    (d / "latin1.txt").write_bytes("café ?\n".encode("latin-1"))
    (d / "questions.txt").write_text("How many moons does Mars have?\n火星有幾顆衛星？\n", encoding="utf-8")
    (d / "gold.txt").write_text("How many moons does Mars have?,2\n火星有幾顆衛星？,兩顆、2\n", encoding="utf-8")
    (d / "gold-blank-line.txt").write_text("Q1?,A1\n\nQ2?,A2\n", encoding="utf-8")
    (d / "run").mkdir()
    (d / "run" / "answers.txt").write_text("2\n兩顆\n", encoding="utf-8")
    rows = ['{"instruction": "How many moons does Mars have?", "output": "Two."}', '{"instruction": "火星有幾顆衛星？", "output": "兩顆。"}']
    (d / "good.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (d / "bad.jsonl").write_text(rows[0] + "\n{bad json\n" + rows[1] + "\n", encoding="utf-8")
    (d / "shape.jsonl").write_text(rows[0] + '\n{"question": "no known shape"}\n', encoding="utf-8")
    (d / "two-bad.jsonl").write_text("[1]\n{bad\n" + rows[0] + "\n", encoding="utf-8")
    (d / "docs.jsonl").write_text('{"text": "Mars has two moons, Phobos and Deimos."}\n', encoding="utf-8")
    (d / "bad-docs.jsonl").write_text('{"text": "Mars has two moons."}\n{"text": \n', encoding="utf-8")
    docs = d / "docs"
    docs.mkdir()
    (docs / "mars.md").write_text("# Mars\n\nMars has two moons, Phobos and Deimos.\n\n火星有兩顆衛星。\n", encoding="utf-8")
    (d / "unsupported").mkdir()
    (d / "unsupported" / "a.xyz").write_text("x", encoding="utf-8")
    (d / "unsupported" / "b.bin").write_bytes(b"\x00\x01")
    (d / "non-utf8-name").mkdir()
    (d / "non-utf8-name" / os.fsdecode(b"caf\xe9.txt")).write_text("Saturn has rings.", encoding="utf-8")
    (d / "hf-no-tokenizer").mkdir()
    (d / "hf-no-tokenizer" / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}', encoding="utf-8")
    (d / "hf-empty").mkdir()
    (d / "eval").mkdir()
    (d / "eval" / "mars.md").write_text("Mars has two moons, Phobos and Deimos.", encoding="utf-8")
    (d / "eval" / "questions_df.csv").write_text(
        'question,references,corpus_id\n"How many moons?","[{""content"": ""two moons"", ""start_index"": 9, ""end_index"": 18}]",mars\n', encoding="utf-8")
    from agentkit.retrievers import KnowledgeBase  # a real knowledge base, built without loading any model

    KnowledgeBase(d / "kb", embedder=HashEmbedder()).ingest([docs])
    return d


@pytest.fixture
def fixture_dir(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the inputs for each case, so what one case might leave behind cannot hide another's."""
    return Path(shutil.copytree(pristine, tmp_path / "d", symlinks=True))


def _snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root`` with (size, mtime) for files: any write, creation or removal changes it."""
    found: dict[str, tuple[int, int] | None] = {}
    for path in root.rglob("*"):
        stat = path.lstat()
        found[os.fsencode(path.relative_to(root)).decode("utf-8", "backslashreplace")] = None if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return found


def _fill(text: str, d: Path) -> str:
    return text.replace("{d}", str(d)).replace("{ff}", FF)


def _run(case: dict[str, Any], d: Path) -> tuple[int, str, str]:
    args = [_fill(a, d) for a in case["args"]]
    stdin = _fill(case["stdin"], d).encode("utf-8", "surrogateescape") if "stdin" in case else b""
    if case.get("subprocess"):
        proc = subprocess.run([sys.executable, "-m", "agentkit.cli", *map(os.fsencode, args)], input=stdin, capture_output=True, timeout=120, cwd=ROOT,
                              env={**os.environ, "COLUMNS": "200"})
        return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    result = CliRunner().invoke(app, args, input=stdin, env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):  # what a process would print as a traceback
        raise AssertionError(f"{' '.join(args)} raised {type(result.exception).__name__}: {result.exception}\nstderr: {result.stderr}") from result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_corpus_covers_every_command() -> None:
    from .test_cli_conventions import leaf_commands

    missing = [name for name in leaf_commands() if not any(case["args"][: len(name.split())] == name.split() for case in CASES)]
    assert len(CASES) >= 150 and not missing, missing


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(case: dict[str, Any], fixture_dir: Path) -> None:
    before = _snapshot(fixture_dir)
    code, stdout, stderr = _run(case, fixture_dir)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr + stdout, stderr
    assert code == 2, f"exit {code}; stderr: {stderr}; stdout: {stdout[:300]}"
    assert len(lines) == 1, stderr
    line, needle = lines[0], _fill(case["needle"], fixture_dir)
    assert ERROR_LINE.match(line), f"not 'error: CAUSE (FIX)': {line}"
    assert needle in line, line
    if "hint" in case:  # the fix comes after the cause
        assert case["hint"] in line[line.index(needle) + len(needle):], line
    assert _snapshot(fixture_dir) == before, "a failing command changed the fixture folder"
