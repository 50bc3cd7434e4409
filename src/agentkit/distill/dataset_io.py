"""Reading QA JSONL in any export format back into records, for ``agentkit dataset dedup|split|convert|stats``.

Formats are detected per line from the keys: alpaca (instruction/output), sharegpt (conversations),
messages (messages), prompt/completion. Malformed lines are reported with their line numbers; the rest is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.distill.records import QARecord
from agentkit.errors import InputError


@dataclass
class ReadResult:
    records: list[QARecord]
    format: str
    #: (line number, reason) for every line that could not be read
    errors: list[tuple[int, str]] = field(default_factory=list)


def detect(row: dict[str, Any]) -> str:
    if "conversations" in row:
        return "sharegpt"
    if "messages" in row:
        return "messages"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "completion"
    raise ValueError(f"unknown record shape (keys: {', '.join(sorted(row)) or 'none'})")


def to_record(row: dict[str, Any], line: int, path: str) -> QARecord:
    fmt = detect(row)
    system = str(row.get("system", "") or "")
    if fmt == "alpaca":
        question = f"{row['instruction']}\n{row['input']}".strip() if row.get("input") else str(row["instruction"])
        answer = str(row["output"])
    elif fmt == "completion":
        question, answer = str(row["prompt"]), str(row["completion"])
    else:
        turns = row["conversations"] if fmt == "sharegpt" else row["messages"]
        role_key, text_key = ("from", "value") if fmt == "sharegpt" else ("role", "content")
        users = [t[text_key] for t in turns if t.get(role_key) in ("human", "user")]
        bots = [t[text_key] for t in turns if t.get(role_key) in ("gpt", "assistant")]
        system = system or next((t[text_key] for t in turns if t.get(role_key) == "system"), "")
        if not users or not bots:
            raise ValueError("no user/assistant turn pair")
        question, answer = str(users[0]), str(bots[0])
    meta = row.get("meta") or {}
    return QARecord(question, answer, source=str(meta.get("source", row.get("source", f"{path}:{line}"))), chunk_id=str(meta.get("chunk_id", "")), system=system)


def read_jsonl(path: str | Path) -> ReadResult:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset file not found: {path}", "pass a .jsonl file")
    records: list[QARecord] = []
    errors: list[tuple[int, str]] = []
    formats: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                records.append(to_record(row, number, str(path)))
                formats[detect(row)] = formats.get(detect(row), 0) + 1
            except (ValueError, KeyError, TypeError) as exc:
                errors.append((number, str(exc)[:160]))
    if not records:
        first = f": line {errors[0][0]}: {errors[0][1]}" if errors else " (the file is empty)"
        raise InputError(f"no readable records in {path}{first}", "each line must be one JSON record in alpaca, sharegpt, messages or prompt/completion shape")
    return ReadResult(records, max(formats, key=lambda name: formats[name]) if formats else "unknown", errors)
