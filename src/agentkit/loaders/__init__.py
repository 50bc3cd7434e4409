"""Load files into ``Document``s: text, Markdown, HTML (visible text), PDF, JSONL/CSV rows, directories.

For plain-text formats ``Document.text == open(source).read()`` (universal newlines, charset detected: a
byte-order mark, else UTF-8, else a judged guess, see ``loaders.charset``), so chunk spans index the file
exactly as Python reads it.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentkit.errors import InputError
from agentkit.loaders.charset import decode_bytes
from agentkit.loaders.html import HtmlLimits, HtmlText, extract_html, html_to_text

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ".py", ".csv_text"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


@dataclass(frozen=True)
class Document:
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "check the path and its permissions") from None


def load_file(path: str | Path, text_column: str = "text") -> list[Document]:
    """One file to documents (JSONL/CSV: one per row with a non-empty ``text_column``), by the ``loader`` plugin
    whose ``suffixes`` include the file's; files with an unknown suffix are read as text."""
    path = Path(path)
    if not is_utf8_name(path):
        raise InputError(f"file name is not valid UTF-8: {os.fsencode(path)!r}", "rename the file (sources are stored and shown as UTF-8 text)")
    if not path.exists():
        raise InputError(f"no such file: {path}", "check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory", "use load_path for directories")
    return loader_for(path.suffix.lower()).load(path, text_column)


class Loader(Protocol):
    """A ``loader`` plugin: the suffixes it reads, and ``load(path, text_column)``."""

    suffixes: tuple[str, ...]

    def load(self, path: Path, text_column: str = "text") -> list[Document]: ...


class TextLoader:
    suffixes = tuple(sorted(TEXT_SUFFIXES))

    def load(self, path: Path, text_column: str = "text") -> list[Document]:
        text, encoding = decode_bytes(_read(path), str(path))
        return [Document(text, str(path.resolve()), {"format": path.suffix.lower().lstrip(".") or "text", "encoding": encoding})]


class HtmlLoader:
    suffixes = tuple(sorted(HTML_SUFFIXES))

    def load(self, path: Path, text_column: str = "text") -> list[Document]:
        text, encoding = decode_bytes(_read(path), str(path))
        page = extract_html(text)
        meta = {"format": "html", "title": page.title, "encoding": encoding, "span_of": "extracted_text"}
        if page.truncated:  # a size or CSS limit cut the text: say so rather than pass a part off as the whole
            meta["limits_hit"] = ",".join(page.limits_hit)
        return [Document(page.text, str(path.resolve()), meta)]


class PdfLoader:
    suffixes = (".pdf",)

    def load(self, path: Path, text_column: str = "text") -> list[Document]:
        return [_load_pdf(path, str(path.resolve()))]


class JsonlLoader:
    suffixes = (".jsonl",)

    def load(self, path: Path, text_column: str = "text") -> list[Document]:
        return _load_jsonl(decode_bytes(_read(path), str(path))[0], str(path.resolve()), text_column)


class CsvLoader:
    suffixes = (".csv",)

    def load(self, path: Path, text_column: str = "text") -> list[Document]:
        return _load_csv(decode_bytes(_read(path), str(path))[0], str(path.resolve()), text_column)


def _loaders() -> dict[str, Loader]:
    from agentkit.plugins import registry

    by_suffix: dict[str, Loader] = {}
    for plugin in registry("loader"):
        loader: Loader = plugin.load()()
        for suffix in loader.suffixes:
            by_suffix.setdefault(suffix.lower(), loader)
    return by_suffix


def loader_for(suffix: str) -> Loader:
    return _loaders().get(suffix) or TextLoader()


def supported_suffixes() -> frozenset[str]:
    """Suffixes some loader plugin reads: what directories are scanned for."""
    return frozenset(_loaders())


def _load_pdf(path: Path, source: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(_read(path)))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise InputError(f"cannot parse PDF {path}: {exc}", "check that the file is a valid PDF") from None
    return Document("\n\n".join(pages), source, {"format": "pdf", "pages": len(pages), "span_of": "extracted_text"})


def _load_jsonl(text: str, source: str, column: str) -> list[Document]:
    docs = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}:{lineno}: malformed JSON ({exc.msg})", "fix or remove that line") from None
        value = record.get(column) if isinstance(record, dict) else None
        if isinstance(value, str) and value.strip():
            meta = {k: v for k, v in record.items() if k != column and isinstance(v, str | int | float | bool)}
            docs.append(Document(value, f"{source}#L{lineno}", {"format": "jsonl", "row": lineno, **meta}))
    if not docs:
        raise InputError(f"{source} has no rows with a text column '{column}'", "pick the column with --text-column")
    return docs


def _load_csv(text: str, source: str, column: str) -> list[Document]:
    reader = csv.DictReader(io.StringIO(text))
    if column not in (reader.fieldnames or []):
        raise InputError(f"{source} has no column '{column}' (columns: {', '.join(reader.fieldnames or [])})", "pick the column with --text-column")
    docs = []
    for row_no, row in enumerate(reader, 1):
        value = row.get(column) or ""
        if value.strip():
            meta = {k: v for k, v in row.items() if k != column and k and v}
            docs.append(Document(value, f"{source}#R{row_no}", {"format": "csv", "row": row_no, **meta}))
    return docs


def is_utf8_name(path: str | Path) -> bool:
    """Whether ``path`` came from UTF-8 bytes (Python hands other bytes of a file name over as lone surrogates)."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def unsupported_files(paths: Sequence[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Path]:
    """Files under the directories in ``paths`` that ``iter_files`` passes over for their suffix alone (no loader
    reads it and no ``include`` glob names it): what a caller should report as skipped, with the reason."""
    if include:  # with include globs, the globs decide, not the suffix
        return []
    suffixes = supported_suffixes()
    found = []
    for root in map(Path, paths):
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or path.suffix.lower() in suffixes:
                continue
            if not any(fnmatch.fnmatch(rel.as_posix(), pat) or fnmatch.fnmatch(path.name, pat) for pat in exclude):
                found.append(path)
    return found


def iter_files(root: Path, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Iterator[Path]:
    """Files under ``root`` (sorted) with a supported suffix or matching ``include``; ``exclude`` wins."""
    suffixes = supported_suffixes()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if include and not any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat) for pat in include):
            continue
        if not include and path.suffix.lower() not in suffixes:
            continue
        if any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat) for pat in exclude):
            continue
        yield path


def expand_paths(paths: Sequence[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Path]:
    """Files named directly plus files found under directories; a missing path raises InputError."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError(f"no such file or directory: {p}", "check the path")
        out.extend(iter_files(p, include, exclude) if p.is_dir() else [p])
    return out


def load_path(path: str | Path, include: Sequence[str] = (), exclude: Sequence[str] = (), text_column: str = "text") -> list[Document]:
    return [doc for f in expand_paths([path], include, exclude) for doc in load_file(f, text_column)]


__all__ = ["Document", "Loader", "loader_for", "supported_suffixes", "HtmlLimits", "HtmlText", "decode_bytes", "expand_paths", "extract_html", "html_to_text", "is_utf8_name", "iter_files", "load_file", "load_path", "unsupported_files"]
