"""Reasoning models wrap their thinking in ``<think>…</think>``; answers must not contain it."""

from __future__ import annotations

import re

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<think>(.*)\Z", re.DOTALL | re.IGNORECASE)


def split_reasoning(raw: str) -> tuple[str, str]:
    """Return ``(answer, reasoning)``.

    Closed blocks are removed wherever they are. An unclosed ``<think>`` (the model ran out of tokens
    while thinking) takes the rest of the text as reasoning. Some templates open the block in the
    prompt, so the output starts inside it and only ``</think>`` appears: everything before it is
    reasoning.
    """
    reasoning = [m.group(1).strip() for m in _THINK.finditer(raw)]
    text = _THINK.sub("", raw)
    open_block = _OPEN_THINK.search(text)
    if open_block:
        reasoning.append(open_block.group(1).strip())
        text = text[: open_block.start()]
    close = text.lower().find("</think>")
    if close != -1:
        reasoning.insert(0, text[:close].strip())
        text = text[close + len("</think>"):]
    return text.strip(), "\n\n".join(r for r in reasoning if r)
