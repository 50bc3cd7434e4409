"""Shared by the benchmark scripts: fresh child processes, interleaved order, medians, the machine line.

Every measured job runs in its own child process (``python SCRIPT --child JOB ...``) that prints one JSON
line; the parent adds the child's CPU time and peak RSS from ``getrusage(RUSAGE_CHILDREN)`` (exact per
child: the parent waits for each before starting the next). Sides alternate order run by run, so load
that drifts during a run hits both alike.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "chunking_eval"
CORPORA = ["chatlogs", "finance", "pubmed", "state_of_the_union", "wikitexts"]
# The report's separators for the English corpora (LangChain's defaults plus sentence ends), as in the issue.
SEPARATORS = ["\n\n", "\n", ".", "?", "!", " ", ""]

ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **ENV, **(extra or {})}
    paths = os.pathsep.join([str(ROOT / "src"), str(ROOT / "benchmarks")])  # benchmarks/: modules that worker processes import
    env["PYTHONPATH"] = paths + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_child(script: Path, args: Sequence[str], env: dict[str, str] | None = None, python: str | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run ``script --child ARGS`` in a fresh interpreter; its last stdout line is JSON (see ``emit``). Adds
    ``process_wall_s`` and ``process_cpu_s`` (user + system), both for the whole process, start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([python or sys.executable, str(script), "--child", *args], capture_output=True, text=True, env=env or child_env(), timeout=timeout)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} --child {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    out["process_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


def emit(result: dict[str, Any]) -> None:
    """A child's last line: ``result`` plus its own peak RSS (``rss_mb``, whole process)."""
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


class Clock:
    """Wall and CPU seconds (this process, all threads) of a block: ``with Clock() as c: ...; c.wall, c.cpu``."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu


def interleaved(sides: dict[str, Callable[[int], dict[str, Any]]], runs: int, log: Callable[[str], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """``runs`` results per side; run r goes A, B, ... when r is even and in reverse when odd."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(runs):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(sides[name](r))
            if log:
                log(f"  run {r + 1}/{runs} {name}: " + ", ".join(f"{k}={v:.3g}" for k, v in results[name][-1].items() if isinstance(v, float)))
    return results


def med(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def machine() -> str:
    """One line: date, CPU, cores, load average now, Python and key library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{date.today()}, {cpu}, {os.cpu_count()} cores, load average {load}, Python {platform.python_version()}"


def versions(*packages: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for p in packages:
        try:
            out.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            out.append(f"{p} (not installed)")
    return ", ".join(out)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, columns padded so it reads in a terminal and pastes into the README."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def english_texts(quick: bool) -> list[tuple[str, str]]:
    """(name, text) of the five corpora (quick: the two smallest)."""
    names = ["chatlogs", "state_of_the_union"] if quick else CORPORA
    return [(n, (DATA / f"{n}.md").read_text(encoding="utf-8")) for n in names]


def chinese_text(target_chars: int = 200_000) -> str:
    """Traditional Chinese prose for splitting: the HW01 questions and the example document about Taiwan,
    repeated to ``target_chars`` (no Chinese corpus ships with the evaluation data; a splitter caches nothing,
    so repetition does not flatter it)."""
    parts = [(ROOT.parent / "shared" / "hw01" / "public.txt").read_text(encoding="utf-8"), (ROOT / "examples" / "docs" / "taiwan.md").read_text(encoding="utf-8")]
    base = "\n\n".join(p.replace(",", "，") for p in parts)
    return (base + "\n\n") * max(1, target_chars // len(base))
