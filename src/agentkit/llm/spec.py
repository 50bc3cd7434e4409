"""LLM spec defaults. The grammar itself (``scheme://target?options#fragment``) is ``agentkit.spec``.

    llama-cpp://default                    the embedded SmolLM2-135M-Instruct GGUF
    llama-cpp:///models/x.gguf?n_ctx=8192  any GGUF file (absolute path; relative: llama-cpp://models/x.gguf)
    ollama://llama3.2:3b                   an Ollama model (host from OLLAMA_HOST, or ?host=http://h:11434)
    openai://127.0.0.1:8000/v1#model-name  any OpenAI-compatible server (openai+https:// for TLS)
"""

from __future__ import annotations

import os

from agentkit.spec import Spec, parse_spec

DEFAULT_LLM_SPEC = "llama-cpp://default"
SPEC_EXAMPLES = "llama-cpp://default, llama-cpp:///path/model.gguf, ollama://llama3.2:3b, openai://127.0.0.1:8000/v1#model"


def default_llm_spec() -> str:
    """``AGENTKIT_LLM`` when set, else the embedded model."""
    return os.environ.get("AGENTKIT_LLM") or DEFAULT_LLM_SPEC


__all__ = ["Spec", "parse_spec", "DEFAULT_LLM_SPEC", "SPEC_EXAMPLES", "default_llm_spec"]
