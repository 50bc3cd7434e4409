"""One small registry per kind of pluggable thing (LLM backends, splitters, embedders, ...).

Built-ins register through the same ``register`` call a plugin would use, so a reader can find every
name by grepping for ``.register(``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from agentkit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories. Unknown names raise a ConfigError listing the known ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T] | None = None):  # type: ignore[no-untyped-def]
        """Register ``factory`` under ``name``; usable as a decorator when ``factory`` is omitted."""

        def add(f: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = f
            return f

        return add(factory) if factory is not None else add

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "(none)"
            raise ConfigError(f"unknown {self.kind} '{name}'", f"use one of: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories
