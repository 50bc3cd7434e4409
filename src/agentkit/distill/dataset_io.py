"""Reading QA JSONL in any export format back into records, for ``agentkit dataset dedup|split|convert|stats`` and
for fine-tuning.

Formats are detected per line from the keys: alpaca (instruction/output, optional system and history), sharegpt
(conversations), messages (messages), prompt/completion (strings or message lists). A conversation of several
turns becomes one record whose ``question``/``answer`` are its last turn and whose ``history`` holds the earlier
ones, so nothing is lost. Malformed lines are reported with their line numbers; the rest is read.

Each record keeps its source row (``ReadResult.rows``): dedup and split write rows back verbatim, and ``convert``
carries every key it does not translate (``meta``, ``id``, ``tools`` ...) over to the new row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.distill.records import QARecord
from agentkit.errors import InputError

#: the keys each format translates; every other key of a row is carried over by ``convert_rows``
FORMAT_KEYS: dict[str, frozenset[str]] = {
    "alpaca": frozenset({"instruction", "input", "output", "system", "history"}),
    "sharegpt": frozenset({"conversations", "system"}),
    "messages": frozenset({"messages"}),
    "completion": frozenset({"prompt", "completion"}),
}
_USER, _ASSISTANT, _SYSTEM = ("human", "user"), ("gpt", "assistant"), ("system",)


@dataclass
class ReadResult:
    records: list[QARecord]
    format: str
    #: (line number, reason) for every line that could not be read
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: the source row of each record (same order as ``records``)
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: the format of each row (a file may mix formats)
    formats: list[str] = field(default_factory=list)


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


def _pairs(turns: Sequence[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """(system, [(user, assistant), ...]) from role-tagged turns: an optional leading system turn, then strictly
    alternating user/assistant turns ending with the assistant. Anything else (tool calls, observations, two user
    turns in a row) is refused with the reason, rather than silently dropped."""
    system = ""
    if turns and turns[0][0] in _SYSTEM:
        system, turns = turns[0][1], turns[1:]
    pairs = []
    for i in range(0, len(turns), 2):
        user, bot = turns[i], turns[i + 1] if i + 1 < len(turns) else None
        if user[0] not in _USER or bot is None or bot[0] not in _ASSISTANT:
            roles = ", ".join(role for role, _ in turns)
            raise ValueError(f"turns must alternate user/assistant and end with the assistant (roles: {roles})")
        pairs.append((user[1], bot[1]))
    if not pairs:
        raise ValueError("no user/assistant turn pair")
    return system, pairs


def _as_turns(items: Any, role_key: str, text_key: str) -> list[tuple[str, str]]:
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise ValueError(f"expected a list of {{{role_key}, {text_key}}} turns")
    return [(str(t.get(role_key, "")), str(t.get(text_key, ""))) for t in items]


def to_record(row: dict[str, Any], line: int, path: str) -> QARecord:
    fmt = detect(row)
    system = str(row.get("system", "") or "")
    if fmt == "alpaca":
        question = f"{row['instruction']}\n{row['input']}".strip() if row.get("input") else str(row["instruction"])
        earlier = [(str(q), str(a)) for q, a in (row.get("history") or [])]
        pairs = [*earlier, (question, str(row["output"]))]
    elif fmt == "completion" and isinstance(row["prompt"], str):
        pairs = [(str(row["prompt"]), str(row["completion"]))]
    else:
        if fmt == "completion":  # conversational prompt–completion: the prompt's turns, then the completion's
            turns = _as_turns(row["prompt"], "role", "content") + _as_turns(row["completion"], "role", "content")
        else:
            turns = _as_turns(row["conversations"], "from", "value") if fmt == "sharegpt" else _as_turns(row["messages"], "role", "content")
        own_system, pairs = _pairs(turns)
        system = system or own_system
    meta = row.get("meta") or {}
    (question, answer), history = pairs[-1], tuple(pairs[:-1])
    return QARecord(question, answer, source=str(meta.get("source", row.get("source", f"{path}:{line}"))), chunk_id=str(meta.get("chunk_id", "")),
                    system=system, history=history)


def read_jsonl(path: str | Path) -> ReadResult:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset file not found: {path}", "pass a .jsonl file")
    result = ReadResult([], "unknown")
    counts: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                record, fmt = to_record(row, number, str(path)), detect(row)
            except (ValueError, KeyError, TypeError) as exc:
                result.errors.append((number, str(exc)[:160]))
                continue
            result.records.append(record)
            result.rows.append(row)
            result.formats.append(fmt)
            counts[fmt] = counts.get(fmt, 0) + 1
    if not result.records:
        first = f": line {result.errors[0][0]}: {result.errors[0][1]}" if result.errors else " (the file is empty)"
        raise InputError(f"no readable records in {path}{first}", "each line must be one JSON record in alpaca, sharegpt, messages or prompt/completion shape")
    result.format = max(counts, key=counts.__getitem__)
    return result


def convert_rows(data: ReadResult, to: str) -> list[dict[str, Any]]:
    """Every record of ``data`` in format ``to``; keys the source format does not translate are carried over, and
    a carried key that would collide with one the target format writes is kept under ``source_<key>``."""
    from agentkit.distill.export import ROW_BUILDERS, uniform_rows

    out = []
    for record, row, fmt in zip(data.records, data.rows, data.formats):
        new = ROW_BUILDERS[to](record)
        for key, value in row.items():
            if key not in FORMAT_KEYS[fmt]:
                new[f"source_{key}" if key in new else key] = value
        out.append(new)
    return uniform_rows(out)


def dedup_view(record: QARecord) -> QARecord:
    """The record as de-duplication should see it: every turn counts, so two conversations that share only their
    last turn are not duplicates."""
    if not record.history:
        return record
    return record.replace(question="\n".join([*(q for q, _ in record.history), record.question]),
                          answer="\n".join([*(a for _, a in record.history), record.answer]))
