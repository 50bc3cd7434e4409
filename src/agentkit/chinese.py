"""Chinese script conversion (OpenCC), with one converter per configuration reused across calls."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def _converter(config: str) -> Any:
    import opencc

    return opencc.OpenCC(config)


def convert(text: str, config: str) -> str:
    """``config``: an OpenCC configuration, e.g. ``t2s`` (to Simplified), ``s2t``, ``s2twp`` (Taiwan usage)."""
    return str(_converter(config).convert(text))
