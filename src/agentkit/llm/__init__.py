"""LLM backends behind one interface, chosen by a spec string (see ``agentkit.llm.spec``)."""

from __future__ import annotations

from agentkit.llm.base import DEFAULT_MAX_TOKENS, LLM, Completion, GenerationParams, Message, StreamInfo, Usage
from agentkit.llm.llama_cpp import LlamaCppLLM, embedded_model_path
from agentkit.llm.ollama import OllamaLLM
from agentkit.llm.openai_compat import OpenAICompatLLM
from agentkit.llm.scripted import ScriptedLLM
from agentkit.llm.spec import DEFAULT_LLM_SPEC, Spec, default_llm_spec, parse_spec
from agentkit.plugins import registry


def load_llm(spec: str | LLM | None = None) -> LLM:
    """Build a backend from a spec string (``None``: ``AGENTKIT_LLM`` or the embedded model). Cheap: no weights load.

    Backends come from the ``llm`` plugin registry (``agentkit plugins`` lists them).
    """
    if isinstance(spec, LLM):
        return spec
    text = spec or default_llm_spec()
    if isinstance(text, str) and "://" not in text and ("/" in text or text.endswith(".gguf")):
        from agentkit.errors import ConfigError

        raise ConfigError(f"'{text}' is not an LLM spec", f"for a GGUF file write llama-cpp://{text} (absolute: llama-cpp:///abs/path.gguf)")
    llm: LLM = registry("llm").create(text)
    return llm


__all__ = [
    "LLM", "Completion", "GenerationParams", "Message", "StreamInfo", "Usage", "LlamaCppLLM", "OllamaLLM", "OpenAICompatLLM",
    "DEFAULT_MAX_TOKENS", "ScriptedLLM", "Spec", "parse_spec", "load_llm", "embedded_model_path", "DEFAULT_LLM_SPEC", "default_llm_spec",
]
