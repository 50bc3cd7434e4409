"""HW01 question files: ``question,answer`` gold lines and questions-only lines.

The rule for gold lines is explicit: the answer follows the **last** ASCII comma. The official notebook
splits at the first comma (``l.strip().split(',')[0]``), which is the same on every official line (each has
exactly one ASCII comma); splitting at the last one also keeps a question that contains an ASCII comma whole.
Full-width commas (，) never split. Aliases are separated by 、. Numbering follows the notebook: public
1–30, private 31–90 (``start_id``; a file whose name starts with "private" starts at 31 by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from agentkit.errors import InputError

PRIVATE_START = 31


@dataclass(frozen=True)
class HW01Item:
    id: int
    question: str
    #: accepted answers (aliases); empty for a questions-only file
    answers: tuple[str, ...] = ()


def read_lines(path: str | Path, what: str = "file") -> list[str]:
    """Lines of a UTF-8 file with BOM and CRLF handled; trailing blank lines dropped, inner ones refused."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}", "check the path")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text", "save it as UTF-8") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError(f"{path} is empty", f"the {what} needs one line per question")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise InputError(f"{path} line {number} is empty", "remove blank lines: line numbers are question ids")
    return lines


def _looks_like_gold(lines: list[str]) -> bool:
    # Every line ends in ",<short answer>" with no sentence punctuation after the comma.
    for line in lines:
        if "," not in line:
            return False
        tail = line.rsplit(",", 1)[1].strip()
        if not tail or len(tail) > 80 or re.search(r"[？?。！!]$", tail):
            return False
    return True


def load_items(path: str | Path, fmt: str = "auto", start_id: int | None = None) -> list[HW01Item]:
    """``fmt``: ``gold`` (question,answer), ``questions`` (one question per line) or ``auto`` (guess from the lines)."""
    path = Path(path)
    lines = read_lines(path, "question file")
    if fmt not in ("auto", "gold", "questions"):
        raise InputError(f"unknown format '{fmt}'", "use auto, gold or questions")
    if fmt == "auto":
        fmt = "gold" if _looks_like_gold(lines) else "questions"
    first = start_id if start_id is not None else (PRIVATE_START if path.name.lower().startswith("private") else 1)
    items = []
    for number, line in enumerate(lines, 1):
        if fmt == "questions":
            items.append(HW01Item(first + number - 1, line.strip()))
            continue
        if "," not in line:
            raise InputError(f"{path} line {number} has no ASCII comma", "gold lines are question,answer (aliases split by 、)")
        question, answer = line.rsplit(",", 1)
        aliases = tuple(a.strip() for a in answer.split("、") if a.strip())
        if not question.strip() or not aliases:
            raise InputError(f"{path} line {number} has an empty question or answer", "gold lines are question,answer")
        items.append(HW01Item(first + number - 1, question.strip(), aliases))
    return items


def load_answers(path: str | Path) -> list[str]:
    """A submission: one answer per line, in question order (a run directory means its ``answers.txt``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "answers.txt"
    if not path.is_file():
        raise InputError(f"answers file not found: {path}", "pass answers.txt or the run directory")
    # Every line counts, blank ones included (an unanswered question); only the final newline ends the file.
    return path.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
