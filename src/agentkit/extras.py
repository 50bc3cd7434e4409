"""Optional features and the pip extras that bring their dependencies.

``pip install agentkit-rag`` is the core (embedded model, Chroma, BM25, pipelines, the CLI's core commands);
everything else is an extra. Code that needs an optional library calls ``require`` at the point of use, so a
missing extra is one line naming the extra to install, never an ImportError traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from agentkit.errors import MissingExtraError

DISTRIBUTION = "agentkit-rag"

#: extra -> the import names it provides (the first missing one is named in the error)
EXTRAS: dict[str, tuple[str, ...]] = {
    "web": ("googlesearch", "ddgs", "tinycss2"),
    "finetune": ("peft", "trl", "accelerate", "datasets", "gguf"),
    "distill": ("datasets", "datasketch", "snowballstemmer"),
    "langchain": ("langchain_core",),
    "plots": ("matplotlib",),
    "mcp": ("mcp",),
    "render": ("playwright",),
    "vision": ("PIL",),
}


def require(module: str, extra: str, feature: str = "") -> ModuleType:
    """Import ``module`` or raise MissingExtraError naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # a dependency of an installed package is broken: not a missing extra
        what = feature or f"this feature ({module})"
        raise MissingExtraError(f"{what} needs the '{extra}' extra ({exc.name} is not installed)",
                                f"pip install '{DISTRIBUTION}[{extra}]'") from None


def missing(extra: str) -> list[str]:
    """Import names of ``extra`` that are not installed (empty: the extra is complete)."""
    return [m for m in EXTRAS.get(extra, ()) if importlib.util.find_spec(m) is None]
