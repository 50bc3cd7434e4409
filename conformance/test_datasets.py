"""Hugging Face ``datasets`` reads every file and directory agentkit writes (run in agentkit's own virtualenv)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import read_jsonl

datasets = pytest.importorskip("datasets")


def test_every_jsonl_file_loads_with_load_dataset_json(manifest: dict[str, Any]) -> None:
    files = [Path(p) for p in manifest["files"] if p.endswith(".jsonl")]
    assert {p.parent.name for p in files} >= {"alpaca", "sharegpt", "messages", "mlx", "completion"}
    for path in files:
        loaded = datasets.load_dataset("json", data_files=str(path), split="train")
        assert loaded.num_rows == len(read_jsonl(path)) > 0, path


def test_each_format_directory_loads_as_one_datasetdict(manifest: dict[str, Any]) -> None:
    for fmt in ("alpaca", "sharegpt", "messages", "mlx", "completion"):
        folder = Path(manifest["data"]) / fmt
        files = {p.stem: str(p) for p in sorted(folder.glob("*.jsonl"))}
        loaded = datasets.load_dataset("json", data_files=files)
        assert set(loaded) == {"train", "valid"} and loaded["train"].num_rows == manifest["splits"]["train"], fmt


def test_hf_directory_loads_with_load_from_disk(manifest: dict[str, Any]) -> None:
    loaded = datasets.load_from_disk(str(Path(manifest["data"]) / "hf"))
    assert {k: v.num_rows for k, v in loaded.items()} == {k: v for k, v in manifest["splits"].items() if v}
    assert loaded["train"][0]["messages"][-1]["role"] == "assistant"


def test_raft_rows_carry_their_documents_in_every_format(manifest: dict[str, Any]) -> None:
    data = Path(manifest["data"])
    prompts = {
        "alpaca": lambda r: r["instruction"], "sharegpt": lambda r: r["conversations"][-2]["value"], "messages": lambda r: r["messages"][-2]["content"],
        "mlx": lambda r: r["messages"][-2]["content"], "completion": lambda r: r["prompt"][-1]["content"],
    }
    for fmt, prompt in prompts.items():
        raft = [prompt(r) for r in read_jsonl(data / fmt / "train.jsonl") if prompt(r).startswith("<DOCUMENT>")]
        assert len(raft) == 2 and raft[0].count("</DOCUMENT>\n") in (2, 3), fmt
    hf = datasets.load_from_disk(str(data / "hf"))["train"]
    assert sorted(len(d) for d in hf["documents"] if d) == [2, 3]
