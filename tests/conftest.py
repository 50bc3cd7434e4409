"""Shared fixtures. Everything stays offline: HF hub off, servers only on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ.pop("AGENTKIT_LLM", None)

from agentkit.embeddings import Embedder

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# tests/core_only runs in a core-only virtualenv (make test-core); the main suite has every extra installed.
collect_ignore = [] if os.environ.get("AGENTKIT_CORE_ONLY") else ["core_only"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Tests must not read or pollute the user's ~/.cache/agentkit.
    os.environ["AGENTKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("agentkit-cache"))
    yield


class HashEmbedder(Embedder):
    """Deterministic bag-of-words hashing embedder for logic tests (no model)."""

    def __init__(self, dim: int = 64, name: str = "test-hash") -> None:
        self.dim = dim
        self.name = name
        self.calls = 0

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w", t.lower()) + re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i, 0] += 1e-3  # never the zero vector
        return out

    @property
    def dimension(self) -> int:
        return self.dim


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def embedded_llm():  # type: ignore[no-untyped-def]
    from agentkit.llm import load_llm

    llm = load_llm("llama-cpp://default")
    llm.warm_up()
    return llm


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start in {timeout} s")


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="session")
def web_site():  # type: ignore[no-untyped-def]
    from tests.web_site import Site

    with Site() as site:
        yield site
