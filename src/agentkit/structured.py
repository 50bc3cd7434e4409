"""Structured output, in one place: ask a model for JSON under a schema, and read JSON defensively.

Backends constrain the output where they can (llama.cpp grammar, OpenAI ``response_format``, Ollama ``format``:
``GenerationParams.json_schema``), but a small or remote model may still wrap it in prose or code fences, stop
half-way, or return an object that misses required keys. ``extract_json`` finds the first JSON value that parses;
``generate_json`` retries with a new seed until the value validates against the schema, and says why it gave up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentkit.llm import LLM, GenerationParams, Message

_DECODER = json.JSONDecoder()
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json(text: str, want: type | tuple[type, ...] = (dict, list)) -> Any | None:
    """The first JSON value of type ``want`` in ``text`` (inside a code fence first), else ``None``.

    Scans every ``{``/``[`` with ``raw_decode``, so prose before or after the value, several values, or braces
    inside strings do not confuse it (a greedy ``\\{.*\\}`` regex does).
    """
    if not isinstance(text, str):
        return None
    for candidate in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        for start, char in enumerate(candidate):
            if char not in "{[":
                continue
            try:
                value, _ = _DECODER.raw_decode(candidate, start)
            except ValueError:
                continue
            if isinstance(value, want):
                return value
    return None


def schema_errors(value: Any, schema: dict[str, Any] | None) -> list[str]:
    """What in ``value`` violates ``schema`` (JSON Schema), as short messages; empty when it validates."""
    if schema is None:
        return []
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"[:200] for e in validator.iter_errors(value)]


@dataclass(frozen=True)
class StructuredResult:
    """``value`` is the validated JSON (``None`` when every attempt failed; ``error`` then says why)."""

    value: Any
    text: str
    attempts: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.value is not None


def generate_json(llm: LLM, messages: str | Sequence[Message], schema: dict[str, Any], params: GenerationParams | None = None,
                  retries: int = 2) -> StructuredResult:
    """Generate JSON that validates against ``schema``; retry with a new seed (and some temperature) on failure."""
    base = (params or GenerationParams()).replace(json_schema=schema)
    text, error = "", ""
    for attempt in range(retries + 1):
        attempt_params = base if attempt == 0 else base.replace(seed=(base.seed or 0) + attempt, temperature=max(base.temperature, 0.7))
        text = llm.generate(messages, attempt_params).text
        value = extract_json(text, dict if schema.get("type") == "object" else (dict, list))
        if value is None:
            error = f"no JSON in the reply ({text[:80]!r})"
            continue
        problems = schema_errors(value, schema)
        if not problems:
            return StructuredResult(value, text, attempt + 1)
        error = "; ".join(problems[:3])
    return StructuredResult(None, text, retries + 1, error)
