"""Training data for fine-tuning: any export of the distillation module (alpaca, sharegpt, messages, mlx,
prompt/completion), a directory of split files or a single file, detected from the keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.distill.dataset_io import read_jsonl
from agentkit.distill.records import QARecord
from agentkit.errors import InputError


@dataclass
class SFTData:
    train: list[QARecord]
    valid: list[QARecord]
    test: list[QARecord]
    format: str

    def conversational(self, split: str) -> list[dict[str, Any]]:
        """TRL conversational prompt–completion rows (system, earlier turns and the question as the prompt): the loss
        falls on the last assistant answer only."""
        from agentkit.distill.export import completion

        return [completion(r) for r in getattr(self, split)]


def _split_files(folder: Path) -> dict[str, Path]:
    for candidate in (folder, folder / "messages", folder / "mlx", folder / "sharegpt", folder / "alpaca", folder / "completion"):
        found = {name: candidate / f"{name}.jsonl" for name in ("train", "valid", "test") if (candidate / f"{name}.jsonl").exists()}
        if "train" in found:
            return found
    raise InputError(f"no train.jsonl under {folder}", "pass a distill output folder, a folder with train.jsonl, or a .jsonl file")


def load_sft(path: str | Path) -> SFTData:
    path = Path(path)
    if not path.exists():
        raise InputError(f"training data not found: {path}", "pass a .jsonl file or a folder with train.jsonl")
    files = _split_files(path) if path.is_dir() else {"train": path}
    splits: dict[str, list[QARecord]] = {"train": [], "valid": [], "test": []}
    fmt = "unknown"
    for name, file in files.items():
        if file.stat().st_size == 0:
            continue
        result = read_jsonl(file)
        if result.errors:
            line, reason = result.errors[0]
            raise InputError(f"{file}:{line}: {reason} ({len(result.errors)} bad line(s))", "every line must be one record in alpaca, sharegpt, messages or prompt/completion shape")
        splits[name] = result.records
        fmt = result.format
    if not splits["train"]:
        raise InputError(f"the train split of {path} is empty", "distill more data or lower the filters")
    return SFTData(splits["train"], splits["valid"], splits["test"], fmt)
