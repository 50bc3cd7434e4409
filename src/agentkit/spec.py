"""One grammar for every spec string: ``scheme://target?option=value&...#fragment``.

    llama-cpp://default                      the embedded model
    llama-cpp:///models/x.gguf?n_ctx=8192    an absolute path (three slashes), typed options
    openai://127.0.0.1:8000/v1#qwen2.5       a server; the fragment names a model
    chroma://.agentkit/kb?collection=docs    a knowledge base directory
    google://?lang=zh-TW                     a search engine (``google`` alone is the same, with no options)

Every kind of pluggable thing (LLMs, embedders, knowledge bases, search backends, tokenizers, ...) is named by
such a string. A factory declares its options as a frozen dataclass; ``parse_options`` converts the strings to the
declared types and rejects unknown keys with the list of valid ones. Nothing here knows any scheme: the
registries in ``agentkit.plugins`` map schemes to factories.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import parse_qsl

from agentkit.errors import ConfigError

O = TypeVar("O")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Spec:
    """A parsed spec string. ``options`` are the raw strings of the query part, in order."""

    scheme: str
    target: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    fragment: str = ""
    raw: str = ""

    def __str__(self) -> str:
        return self.raw or self.render()

    def render(self) -> str:
        """The canonical string for this spec (what ``parse`` reads back to an equal Spec)."""
        query = "&".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.scheme}://{self.target}" + (f"?{query}" if query else "") + (f"#{self.fragment}" if self.fragment else "")

    def replace(self, **changes: Any) -> Spec:
        spec = dataclasses.replace(self, **changes)
        return dataclasses.replace(spec, raw=spec.render())


def parse_spec(text: str, kind: str = "spec", examples: str = "") -> Spec:
    """Split ``scheme://target?options#fragment``. A bare name (``google``) means ``google://``.

    Raises ConfigError naming the kind and showing examples when the string does not follow the grammar.
    """
    hint = f"write it like: {examples}" if examples else "write it as scheme://target?option=value#fragment"
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"empty {kind} spec", hint)
    raw = text.strip()
    if "://" in raw:
        scheme, rest = raw.split("://", 1)
    else:  # a bare name with optional options: ``google`` or ``google?lang=zh-TW`` means ``google://...``
        scheme = re.split(r"[?#]", raw, maxsplit=1)[0]
        rest = raw[len(scheme):]
        if not _SCHEME.match(scheme):
            raise ConfigError(f"malformed {kind} spec '{text}' (no '://')", hint)
    if not _SCHEME.match(scheme):
        raise ConfigError(f"malformed {kind} spec '{text}': '{scheme}' is not a scheme name", hint)
    rest, _, fragment = rest.partition("#")
    target, _, query = rest.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True)) if query else {}
    except ValueError:
        raise ConfigError(f"malformed options '?{query}' in {kind} spec '{text}'", "write options as ?key=value&key2=value2") from None
    return Spec(scheme.lower(), target, options, fragment, raw)


def parse_options(spec: Spec, options_type: type[O] | None, what: str) -> O | None:
    """The spec's options as an instance of ``options_type`` (a dataclass), converted to its field types.

    Unknown keys, and values that do not convert, raise one ConfigError naming the valid options.
    """
    if options_type is None:
        if spec.options:
            raise ConfigError(f"{what} takes no options, got: {', '.join(spec.options)}", f"remove '?{'&'.join(spec.options)}' from '{spec.raw}'")
        return None
    fields = {f.name: f for f in dataclasses.fields(options_type)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(options_type)
    # A field typed dict[str, str] collects the keys written as FIELD.KEY (e.g. meta.author=Lu).
    prefixed = {name for name, tp in hints.items() if get_origin(tp) is dict}
    unknown = [k for k in spec.options if k not in fields and k.partition(".")[0] not in prefixed]
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for {what} in '{spec.raw}'", f"valid options: {describe_options(options_type)}")
    values: dict[str, Any] = {}
    for key, value in spec.options.items():
        head, _, sub = key.partition(".")
        if head in prefixed and sub:
            values.setdefault(head, {})[sub] = value
        elif key in prefixed:
            raise ConfigError(f"option {key} of {what} needs a key", f"write it as {key}.KEY=VALUE")
        else:
            values[key] = convert(value, hints[key], f"option {key}={value!r} of {what}")
    try:
        return options_type(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad options for {what} in '{spec.raw}': {exc}", f"valid options: {describe_options(options_type)}") from None


def describe_options(options_type: type[Any] | None) -> str:
    """``n_ctx: int = 4096, n_threads: int | None`` — for help texts and errors."""
    if options_type is None:
        return "(none)"
    hints = typing.get_type_hints(options_type)
    parts = []
    for f in dataclasses.fields(options_type):
        default = f.default if f.default is not dataclasses.MISSING else None
        if get_origin(hints[f.name]) is dict:
            parts.append(f"{f.name}.KEY: str")
            continue
        parts.append(f"{f.name}: {_type_name(hints[f.name])}" + (f" = {default}" if default not in (None, "", ()) else ""))
    return ", ".join(parts) or "(none)"


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def convert(value: str, tp: Any, what: str) -> Any:
    """Convert an option string to ``tp``: bool, int, float, str, Literal[...], X | None, tuple[str, ...] (commas)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value.lower() in ("", "none", "null") and len(args) < len(get_args(tp)):
            return None
        errors = []
        for arg in args:
            try:
                return convert(value, arg, what)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{what} is not one of {', '.join(map(str, allowed))}", f"use one of: {', '.join(map(str, allowed))}")
        return value
    if origin is tuple:
        (item, *_rest) = get_args(tp) or (str,)
        return tuple(convert(v.strip(), item, what) for v in value.split(",") if v.strip())
    if tp is bool:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{what} is not a yes/no value", "use 1/0, true/false, yes/no or on/off")
    if tp is int:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{what} is not an integer", "write a whole number, e.g. 4096") from None
    if tp is float:
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{what} is not a number", "write a number, e.g. 0.5") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ConfigError(f"{what} is not a finite number", "write a finite number, e.g. 0.5")
        return number
    return value


_warned: set[str] = set()


def warn_deprecated(old: str, new: str) -> None:
    """Tell the user once per process that an old spec form is an alias (FutureWarning: shown by default)."""
    import warnings

    if old not in _warned:
        _warned.add(old)
        warnings.warn(f"'{old}' is an old spec form kept for one release; write '{new}'", FutureWarning, stacklevel=3)
