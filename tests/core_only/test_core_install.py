"""Run by ``make test-core`` in a virtualenv with the core install only (``pip install .``, no extras).

The core answers questions over a knowledge base with the embedded model; each feature that needs an extra
says which one, in one line, with a non-zero exit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "agentkit.cli", *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def test_this_is_a_core_only_environment():
    for module in ("matplotlib", "datasketch", "peft", "trl", "ragflow_sdk", "googlesearch", "langchain_core"):
        assert importlib.util.find_spec(module) is None, f"{module} is installed: this is not a core-only environment"


def test_ingest_query_ask(tmp_path: Path):
    kb = tmp_path / "kb"
    ingested = cli("ingest", str(ROOT / "examples" / "docs"), "--kb", str(kb), "--json")
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["chunks_total"] > 0
    found = cli("query", "moons of Mars", "--kb", str(kb), "--json")
    assert found.returncode == 0, found.stderr
    assert any("Phobos" in r["text"] for r in json.loads(found.stdout)["results"])
    asked = cli("ask", "How many moons does Mars have?", "--kb", str(kb), "--max-tokens", "32", "--json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["sources"]


@pytest.mark.parametrize("args, extra", [
    (["search", "taipei", "--backend", "google", "--no-cache"], "web"),
    (["distill", str(ROOT / "examples" / "docs"), "--out", "OUT", "--max-chunks", "1"], "distill"),
    (["finetune", "data.jsonl", "--out", "OUT"], "finetune"),
    (["fetch", "http://127.0.0.1:9/", "--render", "--allow-private", "--no-cache"], "render"),
])
def test_missing_extras_are_one_line(tmp_path: Path, args: list[str], extra: str):
    (tmp_path / "data.jsonl").write_text(json.dumps({"prompt": "q?", "completion": "a."}) + "\n", encoding="utf-8")
    run = cli(*[str(tmp_path / a) if a in ("OUT", "data.jsonl") else a for a in args], cwd=tmp_path)
    assert run.returncode != 0
    assert f"agentkit-rag[{extra}]" in run.stderr and "Traceback" not in run.stderr
    assert len([line for line in run.stderr.splitlines() if line.strip()]) == 1, run.stderr
