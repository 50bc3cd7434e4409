"""The record a distillation job produces: one question–answer pair with its provenance."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

#: bump when a generation prompt changes: cached generations of another version are not reused
PROMPT_VERSION = "distill-v1"


@dataclass(frozen=True)
class QARecord:
    question: str
    answer: str
    #: the seed chunk the question came from
    source: str = ""
    start: int = 0
    end: int = 0
    chunk_id: str = ""
    style: str = "factual"
    #: "qa", or "refusal" for a question the documents do not answer
    kind: str = "qa"
    system: str = ""
    #: earlier (user, assistant) turns of a multi-turn conversation; ``question``/``answer`` are its last turn
    history: tuple[tuple[str, str], ...] = ()
    language: str = ""
    teacher: str = ""
    prompt_version: str = PROMPT_VERSION
    #: labels and texts of the retrieved chunks the answer was written from
    context_labels: tuple[str, ...] = ()
    context_texts: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    #: RAFT rows: the documents shown with the question (oracle and distractors, shuffled); exports put them in
    #: the prompt (``prompt``), so every format trains on documents + question
    documents: tuple[str, ...] = ()
    #: RAFT rows: whether the oracle chunk is among ``documents`` (None for plain rows)
    oracle: bool | None = None

    @property
    def prompt(self) -> str:
        """What the student is asked: the question, after the documents when the row has them (RAFT's layout)."""
        return render_prompt(self.documents, self.question)

    @property
    def id(self) -> str:
        # History joins the key only when present, so single-turn ids (and cached checkpoints) stay stable.
        turns = "".join(f"\0{q}\0{a}" for q, a in self.history)
        return hashlib.sha256(f"{self.question}\0{self.answer}\0{self.chunk_id}{turns}".encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> QARecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["context_labels"] = list(self.context_labels)
        data["context_texts"] = list(self.context_texts)
        data["history"] = [list(turn) for turn in self.history]
        data["documents"] = list(self.documents)
        return {"id": self.id, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QARecord:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("context_labels", "context_texts", "documents"):
            values[key] = tuple(values.get(key, ()))
        values["history"] = tuple((str(q), str(a)) for q, a in values.get("history", ()))
        return cls(**values)

    def provenance(self) -> dict[str, Any]:
        """What the side file keeps for each exported record."""
        return {
            "id": self.id, "source": self.source, "start": self.start, "end": self.end, "chunk_id": self.chunk_id,
            "style": self.style, "kind": self.kind, "teacher": self.teacher, "prompt_version": self.prompt_version,
            "contexts": list(self.context_labels), "scores": self.scores,
            **({"documents": len(self.documents), "oracle": self.oracle} if self.documents else {}),
        }


def render_prompt(documents: tuple[str, ...] | list[str], question: str) -> str:
    """``<DOCUMENT>text</DOCUMENT>`` per document, one a line, then the question (RAFT's instruction layout);
    the bare question when there are no documents."""
    return "".join(f"<DOCUMENT>{d}</DOCUMENT>\n" for d in documents) + question
