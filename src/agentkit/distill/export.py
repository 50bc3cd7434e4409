"""Writing records in the formats fine-tuning tools read (see ../shared/reference/finetune-formats.md).

``alpaca`` (instruction/input/output[/system]), ``sharegpt`` (conversations from/value, human then gpt),
``messages`` (OpenAI/TRL role/content), ``mlx`` (a directory of train/valid/test.jsonl that ``mlx_lm.lora
--data`` reads), ``hf`` (a ``datasets`` DatasetDict saved to disk). ``dataset_info.json`` declares the
alpaca/sharegpt/messages files for LLaMA-Factory; ``provenance.jsonl`` keeps where every record came from.
Files are written deterministically (sorted keys order, no timestamps) so an identical run gives identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentkit.distill.records import QARecord
from agentkit.distill.splits import SPLIT_NAMES
from agentkit.errors import ConfigError

FORMATS = ("alpaca", "sharegpt", "messages", "mlx", "hf", "completion")


def alpaca(r: QARecord) -> dict[str, Any]:
    row = {"instruction": r.question, "input": "", "output": r.answer}
    if r.system:
        row["system"] = r.system
    return row


def sharegpt(r: QARecord) -> dict[str, Any]:
    row: dict[str, Any] = {"conversations": [{"from": "human", "value": r.question}, {"from": "gpt", "value": r.answer}]}
    if r.system:
        row["system"] = r.system
    return row


def messages(r: QARecord) -> dict[str, Any]:
    turns = [{"role": "system", "content": r.system}] if r.system else []
    turns += [{"role": "user", "content": r.question}, {"role": "assistant", "content": r.answer}]
    return {"messages": turns}


def completion(r: QARecord) -> dict[str, Any]:
    """TRL / MLX-LM prompt–completion (trains on the completion only)."""
    return {"prompt": r.question, "completion": r.answer}


ROW_BUILDERS: dict[str, Callable[[QARecord], dict[str, Any]]] = {"alpaca": alpaca, "sharegpt": sharegpt, "messages": messages, "mlx": messages, "completion": completion}


def check_formats(formats: Sequence[str]) -> list[str]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown format(s): {', '.join(unknown)}", f"use any of: {', '.join(FORMATS)}")
    return list(dict.fromkeys(formats))


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def export(splits: dict[str, list[QARecord]], out: str | Path, formats: Sequence[str]) -> list[Path]:
    """Every split file exists for every format, even when empty."""
    out = Path(out)
    written: list[Path] = []
    info: dict[str, Any] = {}
    for fmt in check_formats(formats):
        if fmt == "hf":
            written.append(_export_hf(splits, out / "hf"))
            continue
        for name in SPLIT_NAMES:
            rows = [ROW_BUILDERS[fmt](r) for r in splits.get(name, [])]
            path = out / "mlx" / f"{name}.jsonl" if fmt == "mlx" else out / fmt / f"{name}.jsonl"
            written.append(write_jsonl(path, rows))
            if fmt in ("alpaca", "sharegpt", "messages"):
                info[f"agentkit_{fmt}_{name}"] = _dataset_info(fmt, f"{fmt}/{name}.jsonl")
    if info:
        path = out / "dataset_info.json"
        path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    provenance = [dict(r.provenance(), split=name) for name in SPLIT_NAMES for r in splits.get(name, [])]
    written.append(write_jsonl(out / "provenance.jsonl", provenance))
    return written


def _dataset_info(fmt: str, file_name: str) -> dict[str, Any]:
    if fmt == "alpaca":
        return {"file_name": file_name, "formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}}
    if fmt == "sharegpt":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"}}
    # OpenAI-style messages are declared as sharegpt with role/content tags.
    return {
        "file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"},
    }


def _export_hf(splits: dict[str, list[QARecord]], target: Path) -> Path:
    import datasets
    from datasets import Dataset, DatasetDict, Features, List, Value

    datasets.disable_progress_bars()
    text_columns = ["id", "question", "answer", "system", "source", "style", "kind", "teacher", "prompt_version"]
    features = Features({
        **{c: Value("string") for c in text_columns}, "start": Value("int64"), "end": Value("int64"),
        "messages": List({"role": Value("string"), "content": Value("string")}),
    })
    data = {}
    for name in SPLIT_NAMES:
        rows = [{c: r.to_dict()[c] for c in [*text_columns, "start", "end"]} | {"messages": messages(r)["messages"]} for r in splits.get(name, [])]
        # An empty split needs explicit columns and one shard, or load_from_disk cannot read it back.
        data[name] = Dataset.from_list(rows, features=features) if rows else Dataset.from_dict({c: [] for c in features}, features=features)
    DatasetDict(data).save_to_disk(str(target), num_shards={name: 1 for name in SPLIT_NAMES})
    return target
