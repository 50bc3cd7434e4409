"""Spec strings pick a backend and a model in one line.

    llama-cpp://default                    the embedded SmolLM2-135M-Instruct GGUF
    llama-cpp:///models/x.gguf?n_ctx=8192  any GGUF file (absolute path; relative: llama-cpp://models/x.gguf)
    ollama://llama3.2:3b                   an Ollama model (host from OLLAMA_HOST, or ?host=http://h:11434)
    openai://127.0.0.1:8000/v1#model-name  any OpenAI-compatible server (openai+https:// for TLS)

Query parameters are backend options; the fragment names a model on servers that host several.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from agentkit.errors import ConfigError

DEFAULT_LLM_SPEC = "llama-cpp://default"
SPEC_EXAMPLES = "llama-cpp://default, llama-cpp:///path/model.gguf, ollama://llama3.2:3b, openai://127.0.0.1:8000/v1#model"


@dataclass(frozen=True)
class Spec:
    """A parsed ``scheme://target?options#fragment`` string."""

    scheme: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    fragment: str = ""
    raw: str = ""


def parse_spec(spec: str, kind: str = "LLM", examples: str = SPEC_EXAMPLES) -> Spec:
    """Split a spec string; raise ConfigError with examples when it is malformed."""
    raw = spec.strip()
    if "://" not in raw:
        raise ConfigError(f"malformed {kind} spec '{spec}' (no '://')", f"write it like: {examples}")
    scheme, rest = raw.split("://", 1)
    rest, _, fragment = rest.partition("#")
    target, _, query = rest.partition("?")
    if not scheme or not (target or fragment):
        raise ConfigError(f"malformed {kind} spec '{spec}'", f"write it like: {examples}")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ConfigError(f"malformed options '?{query}' in {kind} spec '{spec}'", "write options as ?key=value&key2=value2") from None
    return Spec(scheme.lower(), target, options, fragment, raw)


def default_llm_spec() -> str:
    """``AGENTKIT_LLM`` when set, else the embedded model."""
    return os.environ.get("AGENTKIT_LLM") or DEFAULT_LLM_SPEC


def int_option(spec: Spec, name: str, default: int) -> int:
    value = spec.options.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"option {name}={value!r} in '{spec.raw}' is not an integer", f"use e.g. ?{name}={default}") from None
