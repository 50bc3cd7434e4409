"""Plugins: one registry per kind of pluggable thing, filled once from the ``agentkit.plugins`` entry points.

A plugin is a module (or a callable) exposed in a distribution's metadata::

    [project.entry-points."agentkit.plugins"]
    myplugin = "myplugin"            # a module with register(registrar), or "myplugin:register"

    def register(r: agentkit.plugins.Registrar) -> None:
        r.add("llm", "echo", "myplugin.llm:EchoLLM.from_spec", options="myplugin.llm:EchoOptions", summary="repeats the prompt")

agentkit's own backends register through the same path (``agentkit.builtins``). Factories are named as
``"module:attribute"`` strings and imported on first use, so listing plugins imports nothing heavy and an
optional dependency that is missing fails only when its plugin is used — with one line naming the extra to
install. A duplicate name within a kind is an error, never a silent overwrite.

A factory is called as ``factory(spec, options, **kwargs)``: the parsed ``Spec``, its options converted to the
plugin's declared options dataclass (``None`` when it declares none), and keyword arguments from the caller.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentkit.errors import ConfigError, MissingExtraError, PluginError
from agentkit.extras import DISTRIBUTION, missing
from agentkit.spec import Spec, describe_options, parse_options, parse_spec

T = TypeVar("T")

ENTRY_POINT_GROUP = "agentkit.plugins"

#: every pluggable kind, with the word used in messages
KINDS: dict[str, str] = {
    "llm": "LLM backend",
    "embedder": "embedder",
    "splitter": "splitter",
    "tokenizer": "tokenizer",
    "knowledge_base": "knowledge base",
    "loader": "document loader",
    "search": "search backend",
    "export_format": "export format",
    "judge": "judge",
    "guard": "guardrail",
    "filter": "dataset filter",
    "pipeline": "pipeline",
    "step": "pipeline step",
    "vision": "vision backend",
}


def _resolve(ref: str | Any) -> Any:
    """Import ``"pkg.module:attr.sub"``; anything else is returned as is."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Plugin:
    """One registered name. ``factory`` and ``options`` may be ``"module:attr"`` strings, imported on use."""

    kind: str
    name: str
    factory: str | Callable[..., Any]
    options: str | type[Any] | None = None
    summary: str = ""
    #: the pip extra that provides this plugin's dependencies ("" when the core install has them)
    extra: str = ""
    #: the distribution (or "agentkit" for built-ins) that registered it
    source: str = ""
    #: example spec strings, for help and errors
    examples: tuple[str, ...] = ()

    def load(self) -> Callable[..., Any]:
        factory: Callable[..., Any] = self._import(self.factory)
        return factory

    def options_type(self) -> type[Any] | None:
        options: type[Any] | None = self._import(self.options) if self.options is not None else None
        return options

    def _import(self, ref: Any) -> Any:
        try:
            return _resolve(ref)
        except ModuleNotFoundError as exc:
            label = f"the '{self.name}' {KINDS.get(self.kind, self.kind)}"
            if self.extra:
                raise MissingExtraError(f"{label} needs the '{self.extra}' extra ({exc.name} is not installed)",
                                        f"pip install '{DISTRIBUTION}[{self.extra}]'") from None
            raise PluginError(f"{label} cannot be loaded: {exc}", f"reinstall {self.source or DISTRIBUTION}") from None

    def available(self) -> bool:
        """Whether its optional dependencies are installed (checked without importing them)."""
        return not (self.extra and missing(self.extra))


class Registry(Generic[T]):
    """The plugins of one kind, by name. Unknown names raise a ConfigError listing the known ones."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind '{kind}'", f"use one of: {', '.join(KINDS)}")
        self.kind = kind
        self.label = KINDS[kind]
        self._plugins: dict[str, Plugin] = {}

    def add(self, plugin: Plugin) -> None:
        if plugin.name in self._plugins:
            first = self._plugins[plugin.name]
            raise PluginError(
                f"{self.label} '{plugin.name}' is registered twice (by {first.source or '?'} and by {plugin.source or '?'})",
                "uninstall one of the two plugins, or rename one",
            )
        self._plugins[plugin.name] = plugin

    def get(self, name: str) -> Plugin:
        try:
            return self._plugins[name]
        except KeyError:
            known = ", ".join(sorted(self._plugins)) or "(none)"
            examples = self.examples()
            raise ConfigError(f"unknown {self.label} '{name}'", f"use one of: {known}" + (f" (e.g. {examples})" if examples else "")) from None

    def names(self) -> list[str]:
        return sorted(self._plugins)

    def __iter__(self) -> Iterator[Plugin]:
        return iter(sorted(self._plugins.values(), key=lambda p: p.name))

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def examples(self, limit: int = 3) -> str:
        return ", ".join([e for p in self for e in p.examples[:1]][:limit])

    def parse(self, spec: str | Spec) -> Spec:
        return spec if isinstance(spec, Spec) else parse_spec(spec, self.label, self.examples())

    def create(self, spec: str | Spec, **kwargs: Any) -> T:
        """Parse ``spec``, convert its options to the plugin's declared type, and call its factory."""
        parsed = self.parse(spec)
        plugin = self.get(parsed.scheme)
        options = parse_options(parsed, plugin.options_type(), f"{self.label} '{plugin.name}'")
        return plugin.load()(parsed, options, **kwargs)  # type: ignore[no-any-return]

    def build(self, name: str, **kwargs: Any) -> T:
        """Call a named component's factory (splitters, pipelines, steps, export formats, ...) with ``kwargs``.

        Keyword arguments the factory does not take raise a ConfigError listing the ones it does.
        """
        factory = self.get(name).load()
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # some builtins have no signature: let the call itself decide
            return factory(**kwargs)  # type: ignore[no-any-return]
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            valid = ", ".join(p for p in signature.parameters if p not in ("self", "args", "kwargs"))
            raise ConfigError(f"bad arguments for {self.label} '{name}': {exc}", f"it takes: {valid or '(nothing)'}") from None
        return factory(**kwargs)  # type: ignore[no-any-return]

    def describe(self, name: str) -> str:
        plugin = self.get(name)
        return describe_options(plugin.options_type())


class Registrar:
    """What a plugin's ``register`` receives: ``add(kind, name, factory, ...)``."""

    def __init__(self, registries: dict[str, Registry[Any]], source: str) -> None:
        self._registries = registries
        self.source = source

    def add(self, kind: str, name: str, factory: str | Callable[..., Any], *, options: str | type[Any] | None = None,
            summary: str = "", extra: str = "", examples: tuple[str, ...] | list[str] = ()) -> None:
        if kind not in self._registries:
            raise PluginError(f"{self.source}: unknown plugin kind '{kind}'", f"use one of: {', '.join(KINDS)}")
        self._registries[kind].add(Plugin(kind, name, factory, options, summary, extra, self.source, tuple(examples)))


_lock = threading.Lock()
_registries: dict[str, Registry[Any]] | None = None


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name != "agentkit", ep.name))


def _call_register(target: Any, registrar: Registrar) -> None:
    hook = getattr(target, "register", target)
    if not callable(hook):
        raise PluginError(f"plugin {registrar.source} has no register(registrar) function", "define register() in the entry point's module")
    hook(registrar)


def load_plugins() -> dict[str, Registry[Any]]:
    """Fill every registry from the entry points, once per process (later calls return the same registries)."""
    global _registries
    with _lock:
        if _registries is not None:
            return _registries
        registries: dict[str, Registry[Any]] = {kind: Registry(kind) for kind in KINDS}
        points = _entry_points()
        if not any(ep.name == "agentkit" for ep in points):
            # Running from a source tree without installed metadata: the built-ins still register the same way.
            _call_register(importlib.import_module("agentkit.builtins"), Registrar(registries, "agentkit"))
        for ep in points:
            source = "agentkit" if ep.name == "agentkit" else (ep.dist.name if ep.dist else ep.name)
            try:
                target = ep.load()
            except Exception as exc:  # a broken third-party plugin must not take agentkit down with a traceback
                raise PluginError(f"plugin '{ep.name}' ({ep.value}) failed to load: {exc}", f"fix or uninstall {source}") from None
            _call_register(target, Registrar(registries, source))
        _registries = registries
        return registries


def registry(kind: str) -> Registry[Any]:
    """The registry of ``kind`` (plugins loaded on first use)."""
    registries = load_plugins()
    if kind not in registries:
        raise PluginError(f"unknown plugin kind '{kind}'", f"use one of: {', '.join(KINDS)}")
    return registries[kind]


def reset_for_tests() -> None:
    """Forget the loaded registries (tests that install a plugin into a running process)."""
    global _registries
    with _lock:
        _registries = None
