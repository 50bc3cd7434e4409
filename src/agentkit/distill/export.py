"""Writing records in the formats fine-tuning tools read (see ../shared/reference/finetune-formats.md).

``alpaca`` (instruction/input/output[/system][/history]), ``sharegpt`` (conversations from/value, human then gpt),
``messages`` (OpenAI/TRL role/content), ``mlx`` (a directory of train/valid/test.jsonl that ``mlx_lm.lora
--data`` reads), ``completion`` (TRL conversational prompt–completion: message lists, so the trainer applies the
model's own chat template and trains on the completion only), ``hf`` (a ``datasets`` DatasetDict saved to disk).
``dataset_info.json`` declares the alpaca/sharegpt/messages files for LLaMA-Factory; ``provenance.jsonl`` keeps
where every record came from. A RAFT row's documents are in its prompt in every format (``QARecord.prompt``:
``<DOCUMENT>…</DOCUMENT>`` lines, then the question); ``hf`` also keeps them as a ``documents`` column.

Invariants, each checked by the real consumers in ``conformance/``:
- no empty split file is written (``datasets``, mlx-lm and LLaMA-Factory cannot read one): an empty split is
  omitted, a stale file of it removed, and a note says so;
- every row of a file has the same keys, and ``dataset_info.json`` declares exactly the columns the rows have;
- files are written deterministically (no timestamps), so an identical run gives identical bytes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agentkit.distill.records import QARecord
from agentkit.distill.splits import SPLIT_NAMES
from agentkit.errors import ConfigError

FORMATS = ("alpaca", "sharegpt", "messages", "mlx", "hf", "completion")


def _turns(r: QARecord) -> list[tuple[str, str]]:
    # The last turn's prompt carries the row's documents (RAFT), so every format trains on documents + question.
    return [*r.history, (r.prompt, r.answer)]


def alpaca(r: QARecord) -> dict[str, Any]:
    row: dict[str, Any] = {"instruction": r.prompt, "input": "", "output": r.answer}
    if r.system:
        row["system"] = r.system
    if r.history:
        row["history"] = [[q, a] for q, a in r.history]
    return row


def sharegpt(r: QARecord) -> dict[str, Any]:
    turns = [t for q, a in _turns(r) for t in ({"from": "human", "value": q}, {"from": "gpt", "value": a})]
    row: dict[str, Any] = {"conversations": turns}
    if r.system:
        row["system"] = r.system
    return row


def messages(r: QARecord) -> dict[str, Any]:
    turns = [{"role": "system", "content": r.system}] if r.system else []
    turns += [t for q, a in _turns(r) for t in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]
    return {"messages": turns}


def completion(r: QARecord) -> dict[str, Any]:
    """TRL conversational prompt–completion: the trainer renders both with the model's chat template, so the
    model sees its real turn markers, and the loss falls on the completion only (no bare ``"Question?Answer"``)."""
    prompt = messages(r)["messages"][:-1]
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": r.answer}]}


ROW_BUILDERS: dict[str, Callable[[QARecord], dict[str, Any]]] = {"alpaca": alpaca, "sharegpt": sharegpt, "messages": messages, "mlx": messages, "completion": completion}
#: keys a row builder writes only for some records; a file where any row has one gets it on every row
OPTIONAL_KEYS: dict[str, Any] = {"system": "", "history": []}


class ExportFormat(Protocol):
    """An ``export_format`` plugin: ``write`` a job's non-empty splits under ``out`` (distill), and optionally
    ``write_file`` a list of records to one file (``agentkit dataset convert --to NAME``)."""

    name: str

    def write(self, splits: dict[str, list[QARecord]], out: Path) -> list[Path]: ...


@dataclass(frozen=True)
class BuiltinFormat:
    """The JSONL formats and ``hf``: written by ``export`` itself (one folder per format, dataset_info.json)."""

    name: str

    def write(self, splits: dict[str, list[QARecord]], out: Path) -> list[Path]:
        return list(export(splits, out, [self.name]).files)

    def write_file(self, records: Sequence[QARecord], path: Path) -> Path:
        return write_jsonl(path, uniform_rows([ROW_BUILDERS[self.name](r) for r in records]))


def alpaca_format() -> BuiltinFormat:
    return BuiltinFormat("alpaca")


def sharegpt_format() -> BuiltinFormat:
    return BuiltinFormat("sharegpt")


def messages_format() -> BuiltinFormat:
    return BuiltinFormat("messages")


def mlx_format() -> BuiltinFormat:
    return BuiltinFormat("mlx")


def completion_format() -> BuiltinFormat:
    return BuiltinFormat("completion")


def hf_format() -> BuiltinFormat:
    return BuiltinFormat("hf")


def check_formats(formats: Sequence[str]) -> list[str]:
    """The distinct names, each a registered ``export_format`` (the built-ins and any plugin's)."""
    from agentkit.plugins import registry

    known = registry("export_format").names()
    unknown = [f for f in formats if f not in known]
    if unknown:
        raise ConfigError(f"unknown format(s): {', '.join(unknown)}", f"use any of: {', '.join(known)}")
    return list(dict.fromkeys(formats))


def uniform_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill optional keys (``system``, ``history``) on every row once any row has them: a JSON loader infers one
    schema per file, and LLaMA-Factory reads a declared column on every row."""
    present = {k for row in rows for k in row if k in OPTIONAL_KEYS}
    return [{**{k: OPTIONAL_KEYS[k] for k in present if k not in row}, **row} if present - row.keys() else dict(row) for row in rows]


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@dataclass(frozen=True)
class ExportResult:
    files: tuple[Path, ...]
    #: what was left out and why (empty splits), one line each
    notes: tuple[str, ...]


def export(splits: dict[str, list[QARecord]], out: str | Path, formats: Sequence[str]) -> ExportResult:
    """Write every non-empty split in every format; an empty split is omitted (its stale file removed) and noted."""
    out = Path(out)
    formats = check_formats(formats)
    written: list[Path] = []
    info: dict[str, Any] = {}
    empty = [name for name in SPLIT_NAMES if not splits.get(name)]
    notes = [f"split '{name}' is empty: no {name}.jsonl written (mlx-lm, LLaMA-Factory and datasets cannot read an empty file)" for name in empty]
    for fmt in formats:
        if fmt == "hf":
            written += _export_hf(splits, out / "hf")
            continue
        if fmt not in ROW_BUILDERS:  # a plugin's format writes its own files from the non-empty splits
            from agentkit.plugins import registry

            plugin: ExportFormat = registry("export_format").build(fmt)
            written += plugin.write({name: splits[name] for name in SPLIT_NAMES if name not in empty}, out)
            continue
        for name in SPLIT_NAMES:
            path = out / fmt / f"{name}.jsonl"
            if name in empty:
                path.unlink(missing_ok=True)
                continue
            rows = uniform_rows([ROW_BUILDERS[fmt](r) for r in splits[name]])
            written.append(write_jsonl(path, rows))
            if fmt in DATASET_INFO:
                info[f"agentkit_{fmt}_{name}"] = DATASET_INFO[fmt](f"{fmt}/{name}.jsonl", set(rows[0]))
    info_path = out / "dataset_info.json"
    if info:
        info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(info_path)
    else:
        info_path.unlink(missing_ok=True)  # never a declaration of files this run did not write
    provenance = [dict(r.provenance(), split=name) for name in SPLIT_NAMES for r in splits.get(name, [])]
    written.append(write_jsonl(out / "provenance.jsonl", provenance))
    return ExportResult(tuple(written), tuple(notes))


def _alpaca_info(file_name: str, keys: set[str]) -> dict[str, Any]:
    columns = {"prompt": "instruction", "query": "input", "response": "output"}
    columns |= {k: k for k in ("system", "history") if k in keys}
    return {"file_name": file_name, "formatting": "alpaca", "columns": columns}


def _sharegpt_info(file_name: str, keys: set[str]) -> dict[str, Any]:
    columns = {"messages": "conversations"} | ({"system": "system"} if "system" in keys else {})
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns}


def _messages_info(file_name: str, keys: set[str]) -> dict[str, Any]:
    # OpenAI-style messages are declared as sharegpt with role/content tags; the system prompt is the first message.
    return {
        "file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"},
    }


#: LLaMA-Factory ``dataset_info.json`` entry per format, from the file name and the keys its rows have
DATASET_INFO: dict[str, Callable[[str, set[str]], dict[str, Any]]] = {"alpaca": _alpaca_info, "sharegpt": _sharegpt_info, "messages": _messages_info}


def _export_hf(splits: dict[str, list[QARecord]], target: Path) -> list[Path]:
    import datasets
    from datasets import Dataset, DatasetDict, Features, List, Value

    datasets.disable_progress_bars()
    text_columns = ["id", "question", "answer", "system", "source", "style", "kind", "teacher", "prompt_version"]
    features = Features({
        **{c: Value("string") for c in text_columns}, "start": Value("int64"), "end": Value("int64"),
        "documents": List(Value("string")), "messages": List({"role": Value("string"), "content": Value("string")}),
    })
    data = {}
    for name in SPLIT_NAMES:
        if splits.get(name):  # an empty split is left out, as in the JSONL formats
            data[name] = Dataset.from_list([{c: r.to_dict()[c] for c in [*text_columns, "start", "end", "documents"]} | messages(r) for r in splits[name]],
                                           features=features)
    if target.exists():
        shutil.rmtree(target)  # no stale split of an earlier run survives
    if not data:
        return []
    DatasetDict(data).save_to_disk(str(target), num_shards={name: 1 for name in data})
    return [target]
