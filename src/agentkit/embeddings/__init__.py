"""Embedders chosen by spec: ``sentence-transformers://default`` (offline all-MiniLM-L6-v2),
``sentence-transformers:///path/to/model``, ``ollama://nomic-embed-text``, ``openai://host:port/v1#model``."""

from __future__ import annotations

from pathlib import Path

from agentkit.embeddings.backends import OllamaEmbedder, OpenAIEmbedder, SentenceTransformerEmbedder, minilm_path
from agentkit.embeddings.base import CachedEmbedder, Embedder, default_cache_dir, normalize
from agentkit.llm.spec import Spec, parse_spec
from agentkit.registry import Registry

DEFAULT_EMBEDDER = "sentence-transformers://default"
EMBEDDER_EXAMPLES = "sentence-transformers://default, sentence-transformers:///path/model, ollama://nomic-embed-text, openai://127.0.0.1:8000/v1#model"


def _sentence_transformers(spec: Spec) -> Embedder:
    return SentenceTransformerEmbedder(None if spec.target == "default" else spec.target, spec.options.get("device", "cpu"))


def _openai(spec: Spec) -> Embedder:
    scheme = "https" if spec.scheme.endswith("+https") else "http"
    return OpenAIEmbedder(f"{scheme}://{spec.target}", spec.fragment)


embedders: Registry[Embedder] = Registry("embedder")
embedders.register("sentence-transformers", _sentence_transformers)
embedders.register("ollama", lambda spec: OllamaEmbedder(spec.target, spec.options.get("host")))
embedders.register("openai", _openai)
embedders.register("openai+https", _openai)


def load_embedder(spec: str | Embedder | None = None, cache: bool | str | Path = True) -> Embedder:
    """Build an embedder from a spec; wrapped in the on-disk cache unless ``cache=False``."""
    if isinstance(spec, Embedder):
        embedder = spec
    else:
        parsed = parse_spec(spec or DEFAULT_EMBEDDER, "embedder", EMBEDDER_EXAMPLES)
        embedder = embedders.get(parsed.scheme)(parsed)
    if cache is False or isinstance(embedder, CachedEmbedder):
        return embedder
    return CachedEmbedder(embedder, None if cache is True else Path(cache))


__all__ = [
    "Embedder", "CachedEmbedder", "SentenceTransformerEmbedder", "OllamaEmbedder", "OpenAIEmbedder", "load_embedder",
    "embedders", "normalize", "minilm_path", "default_cache_dir", "DEFAULT_EMBEDDER",
]
