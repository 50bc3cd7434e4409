"""Chat sessions: multi-turn history, trimmed to the model's window, persisted in SQLite and resumable by id.

The store's layout is versioned with SQLite's ``user_version``: 0 is the original ``sessions`` table alone;
1 adds ``attachments`` (the images a user turn carried). Opening an older file migrates it in one transaction;
a file written by a newer agentkit is refused rather than damaged."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentkit.cache_dir import default_cache_dir, open_sqlite
from agentkit.errors import ConfigError, InputError
from agentkit.llm.base import Message

Summarize = Callable[[Sequence[Message]], str]

SCHEMA_VERSION = 1
_ATTACHMENTS = """
CREATE TABLE IF NOT EXISTS attachments (
    session_id TEXT NOT NULL,
    message_index INTEGER NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '',
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    described INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, message_index, position)
)"""


@dataclass(frozen=True)
class Attachment:
    """A file a user turn carried, as far as the conversation needs to remember it (the bytes are not kept; the
    description lives in the system message before the turn). ``described``: the vision model saw it."""

    name: str
    mime: str = ""
    sha256: str = ""
    width: int = 0
    height: int = 0
    described: bool = False
    model: str = ""


@dataclass
class ChatSession:
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    system: str = ""
    messages: list[Message] = field(default_factory=list)
    #: index in ``messages`` of a user turn → what it carried
    attachments: dict[int, tuple[Attachment, ...]] = field(default_factory=dict)

    def add(self, role: str, content: str, attachments: Sequence[Attachment] = ()) -> None:
        if attachments:
            self.attachments[len(self.messages)] = tuple(attachments)
        self.messages.append(Message(role, content))  # type: ignore[arg-type]  # roles come from the stored session

    def to_json(self) -> str:
        """The id, system message and messages (``SessionStore`` keeps the attachments in their own table)."""
        return json.dumps({"id": self.id, "system": self.system, "messages": [m.to_dict() for m in self.messages]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ChatSession:
        data = json.loads(text)
        return cls(data["id"], data.get("system", ""), [Message(m["role"], m["content"]) for m in data.get("messages", [])])


def trim(system: str, history: Sequence[Message], budget: int, count_tokens: Callable[[str], int], summarize: Summarize | None = None) -> list[Message]:
    """The messages to send: the system message plus the latest turns that fit ``budget`` tokens.

    Older turns are dropped whole, oldest first (a user turn never loses its answer). With ``summarize``, the
    dropped turns are replaced by a short summary in the system message when it fits. The newest message is
    always kept (cut from its start if it alone is too long). Invariant: total tokens <= budget (+4 per message
    of framing accounted for)."""
    def cost(m: Message) -> int:
        return count_tokens(m.content) + 4

    head = [Message("system", system)] if system else []
    left = budget - sum(cost(m) for m in head)
    if left <= 0:
        raise ConfigError(f"the system message alone needs more than the {budget}-token budget", "shorten the system message or use a larger window")
    kept: list[Message] = []
    for m in reversed(history):
        if cost(m) > left:
            break
        kept.insert(0, m)
        left -= cost(m)
    if not kept and history:  # the newest message alone is too long: keep its end
        newest = history[-1]
        text = newest.content
        while text and count_tokens(text) + 4 > left:
            text = text[max(1, len(text) // 10):]
        kept = [Message(newest.role, text)] if text else []
    # Do not open on an assistant reply whose question was dropped.
    while len(kept) > 1 and kept[0].role == "assistant":
        kept.pop(0)
    if summarize and head and len(kept) < len(history):
        # Make room for the summary by giving up older kept turns (never the newest one).
        while True:
            dropped = list(history[: len(history) - len(kept)])
            note = f"{system}\n\nEarlier in this conversation (summary): {summarize(dropped)}"
            if count_tokens(note) + 4 + sum(cost(m) for m in kept) <= budget:
                return [Message("system", note)] + kept
            if len(kept) <= 1:
                break
            kept.pop(0)
            while len(kept) > 1 and kept[0].role == "assistant":
                kept.pop(0)
    return head + kept


class SessionStore:
    """Sessions in one SQLite file (default ``~/.cache/agentkit/chat.sqlite``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_cache_dir() / "chat.sqlite"
        self._lock = threading.Lock()
        try:
            self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, updated REAL, data TEXT)")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                # One transaction: a store is either migrated whole or left as it was.
                self._db.executescript(f"BEGIN IMMEDIATE; {_ATTACHMENTS}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except Exception as exc:  # sqlite3.DatabaseError: "file is not a database"
            raise InputError(f"cannot open the session store {self.path}: {exc}", "move the corrupt file away; a new one is created") from None
        if version > SCHEMA_VERSION:
            self._db.close()
            raise InputError(f"the session store {self.path} was written by a newer agentkit (layout {version}, this one knows {SCHEMA_VERSION})",
                             "upgrade agentkit, or pass --store with another file")

    def load(self, session_id: str) -> ChatSession:
        with self._lock:
            row = self._db.execute("SELECT data FROM sessions WHERE id = ?", (session_id,)).fetchone()
            files = self._db.execute("SELECT message_index, name, mime, sha256, width, height, described, model FROM attachments "
                                     "WHERE session_id = ? ORDER BY message_index, position", (session_id,)).fetchall()
        if row is None:
            raise InputError(f"no chat session '{session_id}'", f"list them with 'agentkit chat --list', or start a new one without --session ({self.path})")
        try:
            session = ChatSession.from_json(row[0])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"chat session '{session_id}' is corrupt", "start a new session; the stored one cannot be read") from None
        for index, name, mime, sha256, width, height, described, model in files:
            session.attachments[index] = (*session.attachments.get(index, ()), Attachment(name, mime, sha256, width, height, bool(described), model))
        return session

    def save(self, session: ChatSession) -> None:
        rows = [(session.id, index, position, a.name, a.mime, a.sha256, a.width, a.height, int(a.described), a.model)
                for index, files in sorted(session.attachments.items()) for position, a in enumerate(files)]
        with self._lock, self._db:  # one transaction: the session and its attachments change together
            self._db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", (session.id, time.time(), session.to_json()))
            self._db.execute("DELETE FROM attachments WHERE session_id = ?", (session.id,))
            self._db.executemany("INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def list(self) -> list[tuple[str, float, int]]:
        with self._lock:
            rows = self._db.execute("SELECT id, updated, data FROM sessions ORDER BY updated DESC").fetchall()
        out = []
        for sid, updated, data in rows:
            try:
                count = len(json.loads(data).get("messages", []))
            except ValueError:
                count = -1
            out.append((sid, updated, count))
        return out
