"""LLM backends behind one interface, chosen by a spec string (see ``agentkit.llm.spec``)."""

from __future__ import annotations

from agentkit.llm.base import LLM, Completion, GenerationParams, Message, Usage
from agentkit.llm.llama_cpp import LlamaCppLLM, embedded_model_path
from agentkit.llm.ollama import OllamaLLM
from agentkit.llm.openai_compat import OpenAICompatLLM
from agentkit.llm.scripted import ScriptedLLM
from agentkit.llm.spec import DEFAULT_LLM_SPEC, SPEC_EXAMPLES, Spec, default_llm_spec, parse_spec
from agentkit.registry import Registry

backends: Registry[LLM] = Registry("LLM backend")
backends.register("llama-cpp", LlamaCppLLM.from_spec)
backends.register("ollama", OllamaLLM.from_spec)
backends.register("openai", OpenAICompatLLM.from_spec)
backends.register("openai+https", OpenAICompatLLM.from_spec)


def _hf(spec: Spec) -> LLM:
    # Imported on use: transformers and peft are heavy, and only this backend needs them.
    from agentkit.finetune.hf_llm import HFLLM

    return HFLLM.from_spec(spec)


backends.register("hf", _hf)


def load_llm(spec: str | LLM | None = None) -> LLM:
    """Build a backend from a spec string (``None``: ``AGENTKIT_LLM`` or the embedded model). Cheap: no weights load."""
    if isinstance(spec, LLM):
        return spec
    parsed = parse_spec(spec or default_llm_spec(), "LLM", SPEC_EXAMPLES)
    return backends.get(parsed.scheme)(parsed)


__all__ = [
    "LLM", "Completion", "GenerationParams", "Message", "Usage", "LlamaCppLLM", "OllamaLLM", "OpenAICompatLLM",
    "ScriptedLLM", "Spec", "parse_spec", "load_llm", "backends", "embedded_model_path", "DEFAULT_LLM_SPEC", "default_llm_spec",
]
