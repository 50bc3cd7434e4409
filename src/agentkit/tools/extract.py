"""From a page's bytes to its text: charset, decoding, HTML extraction — and the worker processes that do it.

Everything here reads untrusted bytes. Two rules hold:

- A declared charset is only a hint, and only a real text encoding is taken: the label must be one the WHATWG
  Encoding Standard lists (what browsers accept). Python's other codecs (``zlib``, ``bz2``, ``base64``,
  ``hex``, ``rot13``, ``uu``, ``unicode_escape``, ``undefined``, ...) are not charsets: a page that names one
  could inflate its text without limit or turn it into ``bytes``. Decoded text is never longer than the cap.
- Extraction runs in a separate worker process (``ExtractorPool``) that the fetcher awaits within the page's
  time limit and kills when the limit passes, so a page that is slow to parse fails alone, on time.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import importlib
import json
import os
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self

import webencodings

from agentkit.errors import FetchError

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# Browsers decode these with a superset; the narrow codec fails on common pages (Python names on the left).
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "big5": "big5hkscs", "shift_jis": "cp932", "euc_kr": "cp949"}


def _widen(info: codecs.CodecInfo) -> codecs.CodecInfo | None:
    wide = codecs.lookup(_SUPERSETS[info.name]) if info.name in _SUPERSETS else info
    # Only str-producing codecs: never zlib/base64/rot13 & co. (private attribute, but the stdlib's own test of it)
    return wide if getattr(wide, "_is_text_encoding", False) else None


def declared_codec(label: str | None) -> codecs.CodecInfo | None:
    """The codec a page's declared charset names, by the WHATWG label list; None for anything else.

    ``replacement`` (ISO-2022-KR and friends) counts as undeclared: the detector decides.
    """
    if not label:
        return None
    encoding = webencodings.lookup(label.strip().strip("\"'"))
    if encoding is None or encoding.name == "replacement":
        return None
    return _widen(encoding.codec_info)


def _detected_codec(name: str | None) -> codecs.CodecInfo | None:
    # charset-normalizer answers with Python codec names (``utf_8``, ``cp949``), not WHATWG labels.
    try:
        return _widen(codecs.lookup(name)) if name else None
    except LookupError:
        return None


def _decode_strict(body: bytes, codec: codecs.CodecInfo) -> str | None:
    # Incremental decoding tolerates a multi-byte character cut by truncation at the very end.
    try:
        text = codec.incrementaldecoder("strict").decode(body, final=False)
    except (ValueError, LookupError):  # UnicodeError is a ValueError; odd codecs raise others
        return None
    return text if isinstance(text, str) else None


def decode_body(body: bytes, header_charset: str | None = None, html: bool = True) -> tuple[str, str]:
    """(text, encoding): BOM, then the HTTP header's charset, then ``<meta charset>``, then charset-normalizer.

    A declared charset that does not decode cleanly is not trusted (pages lie); the detector decides. Only
    text encodings are used (see the module doc), so ``text`` is always ``str`` and never has more
    characters than ``body`` has bytes.
    """
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", "replace"), "utf-8"
    declared = [header_charset]
    if html:
        match = _META_CHARSET.search(body[:4096])
        declared.append(match.group(1).decode("ascii", "ignore") if match else None)
    for label in declared:
        codec = declared_codec(label)
        if codec and (text := _decode_strict(body, codec)) is not None:
            return text, codec.name
    if (text := _decode_strict(body, codecs.lookup("utf-8"))) is not None:
        return text, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    codec = _detected_codec(best.encoding if best is not None else None)
    if codec:
        return codec.decode(body, "replace")[0], codec.name
    return body.decode("utf-8", "replace"), "utf-8"


def looks_binary(body: bytes) -> bool:
    head = body[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return bool(head) and control / len(head) > 0.1


@dataclass(frozen=True)
class PageText:
    text: str
    title: str
    content_type: str
    encoding: str
    truncated: bool


DEFAULT_HTML_EXTRACTOR = "agentkit.loaders:html_to_text"


@functools.lru_cache(maxsize=8)
def load_extractor(path: str) -> Callable[[str], tuple[str, str]]:
    """The ``module:function`` that maps HTML to (visible text, title); FetchError if it cannot be imported."""
    module, _, name = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise FetchError(f"cannot load the HTML extractor {path!r} ({exc})", "give an importable 'module:function'") from None
    if not callable(fn):
        raise FetchError(f"the HTML extractor {path!r} is not callable", "give an importable 'module:function'")
    return fn  # type: ignore[no-any-return]


def extract(body: bytes, mime: str, charset: str | None, max_chars: int, html_extractor: str = DEFAULT_HTML_EXTRACTOR) -> PageText:
    """Visible text of an HTML page, or the body of a plain-text one. Invariant: ``len(text) <= max_chars``;
    ``truncated`` is set when the cap cut the text. Binary content raises FetchError."""
    html_to_text = load_extractor(html_extractor)
    if looks_binary(body):
        raise FetchError(f"skipped: binary content served as '{mime or 'no content type'}'")
    is_html = mime != "text/plain" and (mime in ("text/html", "application/xhtml+xml") or b"<html" in body[:2048].lower())
    text, encoding = decode_body(body, charset, html=is_html)
    truncated = len(text) > max_chars
    text = text[:max_chars]
    title = ""
    if is_html:
        text, title = html_to_text(text)
        text, title = text[:max_chars], title[:1000]
    return PageText(text, title, mime or ("text/html" if is_html else "text/plain"), encoding, truncated)


# ---- worker processes ------------------------------------------------------------------------------
#
# Why processes and not threads: extraction is CPU-bound pure Python. In a thread it holds the GIL (the pages
# of a batch are parsed one at a time) and cannot be stopped: a page that outlives its time limit keeps burning
# a core after the fetcher has given up on it, and `asyncio.run` waits for that thread before it returns. A
# process runs beside the event loop on its own core and is killed the moment its page's time is up.
# Why plain subprocesses and not multiprocessing: multiprocessing's spawn/forkserver children re-import the
# caller's __main__ script (a script without an `if __name__ == "__main__"` guard would run again inside the
# worker), and fork is unsafe in a threaded process. A worker is `python -c` reading jobs on stdin.
# Cost, measured on the shared 2-core dev box: a worker is ready in ~0.2 s when the box is idle (0.4-0.8 s at a
# load average of 8); a job on a ready worker adds ~2 ms to the parse itself. A pool lives for one batch and
# reuses its workers (see ExtractorPool for when it starts another).

# The worker imports agentkit's modules without running agentkit/__init__.py, which pulls in pipelines, models
# and numpy (0.5-0.9 s more per worker): the two packages on the way are registered
# bare, so `agentkit.tools.extract`, `agentkit.loaders`, `agentkit.errors` load as usual and nothing else does.
_PACKAGES = (("agentkit", str(Path(__file__).resolve().parents[1])), ("agentkit.tools", str(Path(__file__).resolve().parent)))
_BOOT = f"""
import sys, types
for name, path in {_PACKAGES!r}:
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
from agentkit.tools.extract import serve
serve()
"""
_HEADER = struct.Struct(">II")
_LENGTH = struct.Struct(">I")


def serve(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """A worker's loop: say "ready" (an empty answer) once the default extractor is imported, then read
    (job, body) pairs and answer each with a JSON result; stop at end of input."""
    if stdout is None:
        stdout = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)  # a stray print() in a library must not corrupt the answers
    stdin = stdin or sys.stdin.buffer
    # Import now (a parse of a tiny page pulls in whatever the extractor loads lazily), not in a page's time.
    import charset_normalizer  # noqa: F401

    load_extractor(DEFAULT_HTML_EXTRACTOR)("<p>ready</p>")
    stdout.write(_LENGTH.pack(0))
    stdout.flush()
    while len(header := stdin.read(_HEADER.size)) == _HEADER.size:
        n_job, n_body = _HEADER.unpack(header)
        job, body = json.loads(stdin.read(n_job)), stdin.read(n_body)
        try:
            page = extract(body, job["mime"], job["charset"], job["max_chars"], job["html_extractor"])
            answer: dict[str, Any] = {"page": page.__dict__}
        except FetchError as exc:
            answer = {"error": exc.message}
        except Exception as exc:
            answer = {"error": f"extraction failed: {type(exc).__name__}: {exc}"}
        data = json.dumps(answer).encode()
        stdout.write(_LENGTH.pack(len(data)) + data)
        stdout.flush()


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def spawn(cls) -> _Worker:
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _BOOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            raise FetchError(f"cannot start the text extraction worker ({exc})", "check that Python can start a subprocess") from None
        return cls(proc)

    async def ready(self) -> None:
        """Wait until the worker has imported the extractor."""
        assert self.proc.stdout is not None
        try:
            await self.proc.stdout.readexactly(_LENGTH.size)
        except asyncio.IncompleteReadError:
            raise FetchError(f"the text extraction worker failed to start (exit code {await self.proc.wait()})", "check that bs4 imports") from None

    async def call(self, job: dict[str, Any], body: bytes) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        data = json.dumps(job).encode()
        try:
            self.proc.stdin.write(_HEADER.pack(len(data), len(body)) + data + body)
            await self.proc.stdin.drain()
            (size,) = _LENGTH.unpack(await self.proc.stdout.readexactly(_LENGTH.size))
            answer: dict[str, Any] = json.loads(await self.proc.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            code = await self.proc.wait() if isinstance(exc, asyncio.IncompleteReadError) else self.proc.returncode
            raise FetchError(f"text extraction crashed (worker exit code {code})", "the page may be too large or malformed") from None
        return answer

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()

    async def reap(self) -> None:
        self.kill()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        await self.proc.wait()


class ExtractorPool:
    """Worker processes for one batch: ``async with ExtractorPool(n) as pool: await pool.extract(...)``.

    The first job starts a worker; later jobs take an idle one (a job takes milliseconds, starting a worker
    ~0.2 s of CPU). When every worker has been busy for ``patience`` seconds — one may be stuck in a slow page —
    one spare worker is started for whoever is next in line, so a slow page holds up the others by about
    ``patience`` plus a start-up. A worker whose caller is cancelled (the page's time limit or the batch budget
    ran out) is killed at once, mid-parse. At most ``size`` workers are alive.
    """

    def __init__(self, size: int, patience: float = 0.25) -> None:
        self._size = max(1, size)
        self._patience = patience
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._started: list[_Worker] = []
        self._alive = 0  # started or starting, not killed
        self._spare: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._spare is not None:
            self._spare.cancel()
            await asyncio.gather(self._spare, return_exceptions=True)
        # Idle workers hold no state: killing them is quicker than letting each interpreter shut down.
        await asyncio.gather(*(w.reap() for w in self._started), return_exceptions=True)

    async def _acquire(self) -> _Worker:
        if self._alive == 0:
            return await self._start()
        while True:
            try:
                return await asyncio.wait_for(self._idle.get(), self._patience)
            except TimeoutError:
                if self._spare is None and self._alive < self._size:
                    self._spare = asyncio.create_task(self._start_spare())

    async def _start(self) -> _Worker:
        self._alive += 1
        try:
            worker = await _Worker.spawn()
        except BaseException:
            self._alive -= 1
            raise
        self._started.append(worker)  # from now on __aexit__ reaps it, whatever happens
        try:
            await worker.ready()
        except BaseException:
            worker.kill()
            self._alive -= 1
            raise
        return worker

    async def _start_spare(self) -> None:
        try:
            self._idle.put_nowait(await self._start())
        except FetchError:
            pass  # cannot start a worker: the waiting jobs time out and say so
        finally:
            self._spare = None

    async def extract(self, body: bytes, mime: str, charset: str | None, max_chars: int, html_extractor: str = DEFAULT_HTML_EXTRACTOR) -> PageText:
        """``extract(...)`` in a worker; cancel it (``wait_for``) to stop the work. Errors raise FetchError."""
        worker = await self._acquire()
        reusable = False
        try:
            job = {"mime": mime, "charset": charset, "max_chars": max_chars, "html_extractor": html_extractor}
            answer = await worker.call(job, body)
            reusable = True
        finally:
            if reusable:
                self._idle.put_nowait(worker)
            else:
                worker.kill()
                self._alive -= 1
        if "error" in answer:
            raise FetchError(answer["error"])
        return PageText(**answer["page"])
