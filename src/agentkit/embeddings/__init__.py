"""Embedders chosen by spec: ``sentence-transformers://default`` (offline all-MiniLM-L6-v2),
``sentence-transformers:///path/to/model``, ``ollama://nomic-embed-text``, ``openai://host:port/v1#model``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentkit.cache_dir import default_cache_dir
from agentkit.embeddings.backends import OllamaEmbedder, OpenAIEmbedder, SentenceTransformerEmbedder, minilm_path
from agentkit.embeddings.base import CachedEmbedder, Embedder, normalize
from agentkit.embeddings.onnx import OnnxEmbedder
from agentkit.errors import ConfigError
from agentkit.plugins import registry
from agentkit.spec import Spec

DEFAULT_EMBEDDER = "sentence-transformers://default"
EMBEDDER_EXAMPLES = "sentence-transformers://default, sentence-transformers:///path/model, ollama://nomic-embed-text, openai://127.0.0.1:8000/v1#model"


@dataclass(frozen=True)
class SentenceTransformersOptions:
    """``sentence-transformers://default?device=cpu&batch_size=8&backend=onnx&quantize=int8&threads=2``.

    ``backend=auto`` runs ONNX Runtime on the CPU (same vectors as torch, a third of its CPU time for a
    query; see ``embeddings/onnx.py``) and torch on any other device."""

    device: str = "cpu"
    batch_size: int | None = None
    backend: Literal["auto", "onnx", "torch"] = "auto"
    quantize: Literal["none", "int8"] = "none"
    threads: int | None = None


@dataclass(frozen=True)
class OllamaEmbedderOptions:
    """``ollama://MODEL?host=http://h:11434``."""

    host: str | None = None


def sentence_transformers_from_spec(spec: Spec, options: SentenceTransformersOptions) -> Embedder:
    path = None if spec.target == "default" else spec.target
    backend = options.backend if options.backend != "auto" else ("onnx" if options.device == "cpu" else "torch")
    if backend == "onnx":
        if options.device != "cpu":
            raise ConfigError(f"the ONNX backend runs on the CPU, not on device={options.device}", "drop ?backend=onnx, or use ?device=cpu")
        return OnnxEmbedder(path, options.quantize, options.batch_size, options.threads)
    if options.quantize != "none":
        raise ConfigError("quantize= applies to the ONNX backend only", "add ?backend=onnx, or drop quantize=")
    return SentenceTransformerEmbedder(path, options.device, options.batch_size)


def ollama_from_spec(spec: Spec, options: OllamaEmbedderOptions) -> Embedder:
    return OllamaEmbedder(spec.target, options.host)


def openai_from_spec(spec: Spec, options: None) -> Embedder:
    scheme = "https" if spec.scheme.endswith("+https") else "http"
    return OpenAIEmbedder(f"{scheme}://{spec.target}", spec.fragment)


def load_embedder(spec: str | Embedder | None = None, cache: bool | str | Path = True) -> Embedder:
    """Build an embedder from a spec; wrapped in the on-disk cache unless ``cache=False``."""
    if isinstance(spec, Embedder):
        embedder = spec
    else:
        embedder = registry("embedder").create(spec or DEFAULT_EMBEDDER)
    if cache is False or isinstance(embedder, CachedEmbedder):
        return embedder
    return CachedEmbedder(embedder, None if cache is True else Path(cache))


__all__ = [
    "Embedder", "CachedEmbedder", "SentenceTransformerEmbedder", "OnnxEmbedder", "OllamaEmbedder", "OpenAIEmbedder", "load_embedder",
    "normalize", "minilm_path", "default_cache_dir", "DEFAULT_EMBEDDER",
]
