"""Embedders chosen by spec: ``sentence-transformers://default`` (offline all-MiniLM-L6-v2),
``sentence-transformers:///path/to/model``, ``ollama://nomic-embed-text``, ``openai://host:port/v1#model``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentkit.embeddings.backends import OllamaEmbedder, OpenAIEmbedder, SentenceTransformerEmbedder, minilm_path
from agentkit.cache_dir import default_cache_dir
from agentkit.embeddings.base import CachedEmbedder, Embedder, normalize
from agentkit.plugins import registry
from agentkit.spec import Spec

DEFAULT_EMBEDDER = "sentence-transformers://default"
EMBEDDER_EXAMPLES = "sentence-transformers://default, sentence-transformers:///path/model, ollama://nomic-embed-text, openai://127.0.0.1:8000/v1#model"


@dataclass(frozen=True)
class SentenceTransformersOptions:
    """``sentence-transformers://default?device=cpu&batch_size=8``."""

    device: str = "cpu"
    batch_size: int | None = None


@dataclass(frozen=True)
class OllamaEmbedderOptions:
    """``ollama://MODEL?host=http://h:11434``."""

    host: str | None = None


def sentence_transformers_from_spec(spec: Spec, options: SentenceTransformersOptions) -> Embedder:
    return SentenceTransformerEmbedder(None if spec.target == "default" else spec.target, options.device, options.batch_size)


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
    "Embedder", "CachedEmbedder", "SentenceTransformerEmbedder", "OllamaEmbedder", "OpenAIEmbedder", "load_embedder",
    "normalize", "minilm_path", "default_cache_dir", "DEFAULT_EMBEDDER",
]
