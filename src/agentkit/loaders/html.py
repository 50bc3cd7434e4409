"""Visible text and title of an HTML page, in time linear in the input and within fixed bounds.

One parse (lxml, through BeautifulSoup so soupsieve can match selectors), one pass that collects ``<title>`` and
``<style>`` blocks, one pass that emits text; no tree is modified and the text is joined once. What a browser would
not show is left out: scripts, styles, navigation, comments (CDATA sections are comments in HTML), inert or
fallback content (``<template>``, ``<noscript>``, ``<iframe>``, ...), form controls other than text fields,
``hidden`` (unless a stylesheet shows the element again, as browsers do), ``aria-hidden="true"`` (any case or
spacing), ``<input type=hidden>``, well-known "hidden" utility classes of CSS frameworks (their stylesheets are
external), and whatever CSS hides (rules in ``agentkit.loaders.css``). Invisible format characters (zero-width
spaces and joiners, bidi controls, soft hyphens, variation selectors, Unicode tag characters) are deleted from the
text, so they can neither smuggle text nor split a keyword. Closed ``<details>`` count as visible (a click away).

Bounds (``HtmlLimits``), each named in ``HtmlText.limits_hit`` when it applied: input past ``max_chars`` is cut
(``max_chars``); the input is also cut before the start tag that would exceed ``max_nodes`` elements
(``max_nodes``); elements nested deeper than ``max_depth`` are *dropped* with their content, not flattened:
flattening would lift text out of hidden ancestors (``max_depth``). CSS limits fail closed, so no text whose
visibility was not checked is returned: past ``max_css_rules`` rules, or for a stylesheet nested deeper than
``css.MAX_NESTING`` (``css_nesting``), the text is empty; past the ``max_css_work`` matching budget (``css_work``)
or at a style attribute too deep to parse (``css_nesting``) the text stops at that element. The work is linear in
the input: one parse, two passes, each element's style computed once, the text joined once.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tinycss2
from bs4 import BeautifulSoup
from bs4.element import PreformattedString, Tag
from tinycss2.ast import IdentToken, Node

from agentkit.errors import InputError
from agentkit.loaders import css, visibility

BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd details dialog div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr li main ol p pre section summary table tbody thead tfoot tr ul caption".split()
)
CELL_TAGS = frozenset(("td", "th"))
DROP_TAGS = frozenset(
    "script style noscript template nav head title iframe svg canvas object embed button select textarea datalist "
    "audio video noembed noframes frameset rp math".split()
)
HIDDEN_CLASSES = frozenset(("hidden", "d-none", "sr-only", "visually-hidden", "invisible", "screen-reader-text"))
PRE_TAGS = frozenset(("pre", "listing", "plaintext", "xmp"))
TEXT_INPUTS = frozenset(("", "text", "search", "email", "url", "tel", "number"))
# Invisible format characters: zero-width space/joiners, LRM/RLM, bidi embeddings and isolates, word joiner and
# invisible operators, BOM, soft hyphen, fillers, variation selectors, interlinear annotations, tag characters.
_INVISIBLE = dict.fromkeys(
    [0xAD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070), *range(0xFE00, 0xFE10)]
    + [*range(0xFFF9, 0xFFFC), *range(0x1D173, 0x1D17B), *range(0xE0000, 0xE0080), *range(0xE0100, 0xE01F0)]
)
_START_TAG = re.compile(r"<[A-Za-z]")
_NONE = (IdentToken(0, 0, "none"),)


@dataclass(frozen=True)
class HtmlLimits:
    """Bounds on the work of one extraction (see the module docstring for what happens at each)."""

    max_chars: int = 2_000_000
    max_nodes: int = 200_000
    max_depth: int = 256
    max_css_rules: int = 20_000
    max_css_work: int = 5_000_000

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_nodes", "max_depth", "max_css_rules", "max_css_work"):
            if getattr(self, name) < 1:
                raise InputError(f"HtmlLimits.{name}={getattr(self, name)} must be >= 1", f"pass a positive {name}")


@dataclass(frozen=True)
class HtmlText:
    """Extracted text (blocks on their own lines, whitespace collapsed), title, and the limits that cut it."""

    text: str
    title: str
    limits_hit: tuple[str, ...] = ()

    @property
    def truncated(self) -> bool:
        return bool(self.limits_hit)


def html_to_text(html: str, *, limits: HtmlLimits | None = None) -> tuple[str, str]:
    """Visible text and title of an HTML page (``extract_html`` also says whether a limit cut it).

    Block elements end lines, table cells are spaced, inline elements join without a gap, so words are never glued
    together or torn apart. When the page marks its main content (``<main>``, ``role=main``, ``<article>``) with
    at least 200 characters of visible text, only that is kept.
    """
    result = extract_html(html, limits or HtmlLimits())
    return result.text, result.title


def extract_html(html: str, limits: HtmlLimits | None = None) -> HtmlText:
    """``html_to_text`` with the limits that applied (``HtmlText.limits_hit``)."""
    limits = limits or HtmlLimits()
    html, hits = _cap(html, limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bs4 warns about markup that looks like a URL or a file name
        soup = BeautifulSoup(html, "lxml")
    title, sheets = _title_and_styles(soup)
    rules: list[css.Rule] = []
    try:
        for sheet in sheets:
            rules.extend(css.parse_stylesheet(sheet, visibility.PROPERTIES, len(rules)))
    except css.CssLimitError as exc:
        return HtmlText("", title, (*hits, exc.which))
    if len(rules) > limits.max_css_rules:
        return HtmlText("", title, (*hits, "max_css_rules"))
    walk = _Walk(css.RuleIndex(rules, limits.max_css_work), limits)
    walk.run(soup)
    text = _finish(walk.parts)
    for region in ("main", "role=main", "article"):
        span = walk.regions.get(region)
        if span is not None:
            inner = _finish(walk.parts[span[0] : span[1] if span[1] >= 0 else len(walk.parts)])
            if len(inner) >= 200:
                text = inner
                break
    return HtmlText(text, title, tuple(dict.fromkeys((*hits, *walk.hits))))


def _cap(html: str, limits: HtmlLimits) -> tuple[str, list[str]]:
    hits = []
    if len(html) > limits.max_chars:
        html, hits = html[: limits.max_chars], ["max_chars"]
    beyond = next(itertools.islice(_START_TAG.finditer(html), limits.max_nodes, None), None)
    if beyond is not None:
        html = html[: beyond.start()]
        hits.append("max_nodes")
    return html.replace("\x00", "\ufffd"), hits


def _finish(parts: list[str]) -> str:
    text = "".join(parts).translate(_INVISIBLE)
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _title_and_styles(soup: BeautifulSoup) -> tuple[str, list[str]]:
    """The first ``<title>`` outside SVG, and the ``<style>`` blocks a browser applies: not in inert content
    (``<template>``, ``<noscript>`` with scripting on), of type CSS, for screen media. Styles in SVG count: they
    apply to the whole document."""
    title: str | None = None
    sheets: list[str] = []
    stack: list[tuple[Any, bool, bool]] = [(iter(soup.contents), False, False)]  # (children, inert, inside SVG)
    while stack:
        children, inert, in_svg = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if name == "title" and title is None and not inert and not in_svg:
            title = " ".join(node.get_text(" ").translate(_INVISIBLE).split())
        elif name == "style" and not inert:
            kind = str(node.get("type") or "text/css").strip().lower()
            media = str(node.get("media") or "")
            if kind in ("text/css", "") and (not media or css.media_matches(_media_tokens(media))):
                sheets.append(node.get_text())
        elif node.contents:
            stack.append((iter(node.contents), inert or name in ("template", "noscript"), in_svg or name == "svg"))
    return title or "", sheets


def _media_tokens(media: str) -> list[Node]:
    tokens: list[Node] = tinycss2.parse_component_value_list(media)
    return tokens


class _Frame:
    __slots__ = ("after", "children", "keys", "memo", "pre", "regions", "style", "text_ok")

    def __init__(self, children: Any, style: visibility.TextStyle, text_ok: bool, pre: bool, keys: tuple[str, ...], after: str, regions: tuple[str, ...]) -> None:
        self.children, self.style, self.text_ok, self.pre = children, style, text_ok, pre
        self.keys, self.after, self.regions = keys, after, regions
        # Siblings with the same tag and attributes share non-positional rule matches and, often, the style.
        self.memo: dict[Any, tuple[list[css.Rule], visibility.ElementStyle | None]] = {}


class _Walk:
    """One pre-order pass with an explicit stack: computes each element's style once, emits visible text."""

    def __init__(self, index: css.RuleIndex, limits: HtmlLimits) -> None:
        self.index, self.limits = index, limits
        self.parts: list[str] = []
        self.regions: dict[str, list[int]] = {}
        self.hits: list[str] = []
        self.ancestors: dict[str, int] = {}
        self.nodes = 0

    def run(self, soup: BeautifulSoup) -> None:
        frames = [_Frame(iter(soup.contents), visibility.TextStyle(), True, False, (), "", ())]
        parts = self.parts
        try:
            while frames:
                frame = frames[-1]
                node = next(frame.children, None)
                if node is None:
                    self._exit(frames.pop())
                elif isinstance(node, Tag):
                    child = self._enter(node, frame, len(frames))
                    if child is not None:
                        frames.append(child)
                elif frame.text_ok and not isinstance(node, PreformattedString):
                    parts.append(node if frame.pre else node.replace("\n", " "))
        except css.CssLimitError as exc:
            self.hits.append(exc.which)
        except RecursionError:  # a style attribute nested too deep for the CSS parser: stop here, fail closed
            self.hits.append("css_nesting")
        except _Stop as exc:
            self.hits.append(str(exc))

    def _enter(self, tag: Tag, parent: _Frame, depth: int) -> _Frame | None:
        name = tag.name
        attrs = tag.attrs
        if name in DROP_TAGS:
            return None
        if str(attrs.get("aria-hidden", "")).strip().lower() == "true":
            return None
        input_type = str(attrs.get("type", "")).strip().lower() if name == "input" else ""
        if input_type == "hidden":
            return None
        raw_classes = attrs.get("class") or ()
        classes: Sequence[str] = raw_classes.split() if isinstance(raw_classes, str) else raw_classes
        if any(c.lower() in HIDDEN_CLASSES for c in classes):
            return None
        if depth > self.limits.max_depth:
            if "max_depth" not in self.hits:
                self.hits.append("max_depth")
            return None
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise _Stop("max_nodes")
        element_id = attrs.get("id")
        keys = (name, *("." + c for c in dict.fromkeys(classes)), *(("#" + str(element_id),) if element_id else ()), *("[" + a + "]" for a in attrs))
        style = self._style(tag, name, attrs, keys, depth, parent)
        if style.hidden_reason is not None:
            return None
        text_ok = parent.text_ok if style.text is parent.style else style.text.hidden_reason() is None
        if name == "input":
            value = attrs.get("value")
            if input_type in TEXT_INPUTS and value and text_ok:
                self.parts.append(f" {value} ")
            return None
        after = "\n" if name in BLOCK_TAGS else " " if name in CELL_TAGS else ""
        if after == "\n":
            self.parts.append("\n")
        regions = self._open_regions(name, attrs)
        for key in keys:
            self.ancestors[key] = self.ancestors.get(key, 0) + 1
        return _Frame(iter(tag.contents), style.text, text_ok, parent.pre or name in PRE_TAGS, keys, after, regions)

    def _style(self, tag: Tag, name: str, attrs: dict[str, Any], keys: tuple[str, ...], depth: int, parent: _Frame) -> visibility.ElementStyle:
        """Cascade hints, matching rules and the inline style; reuse a same-attribute sibling's result when no
        positional rule matches."""
        signature = (name, *((k, v if isinstance(v, str) else tuple(v)) for k, v in attrs.items()))
        cached = parent.memo.get(signature)
        stable, positional = self.index.match(tag, keys, self.ancestors, depth, len(tag.parent.contents) if tag.parent else 1, stable=cached is None) if self.index else ([], [])
        if cached is not None:
            stable = cached[0]
            if cached[1] is not None and not positional:
                return cached[1]
        cascade: visibility.Cascade | None = None
        hints = _presentational(name, attrs)
        if hints:
            cascade = visibility.Cascade()
            cascade.add(hints, 0, (0, 0, 0), 0)
        for rule in (*stable, *positional):
            cascade = cascade or visibility.Cascade()
            cascade.add(rule.declarations, 1, rule.specificity, rule.order)
        inline = attrs.get("style")
        if inline:
            cascade = cascade or visibility.Cascade()
            cascade.add(css.parse_inline(str(inline), visibility.PROPERTIES), 2, (0, 0, 0), 0)
        style = visibility.compute(name, cascade, parent.style)
        parent.memo[signature] = (stable, style if not positional else (cached[1] if cached else None))
        return style

    def _open_regions(self, name: str, attrs: dict[str, Any]) -> tuple[str, ...]:
        opened = []
        for region, here in (("main", name == "main"), ("role=main", str(attrs.get("role", "")).strip().lower() == "main"), ("article", name == "article")):
            if here and region not in self.regions:
                self.regions[region] = [len(self.parts), -1]
                opened.append(region)
        return tuple(opened)

    def _exit(self, frame: _Frame) -> None:
        if frame.after:
            self.parts.append(frame.after)
        for region in frame.regions:
            self.regions[region][1] = len(self.parts)
        for key in frame.keys:
            self.ancestors[key] -= 1


class _Stop(Exception):
    """A node limit was reached: stop the pass, keep what was emitted."""


def _presentational(name: str, attrs: dict[str, Any]) -> list[css.Decl]:
    """User-agent rules and presentational attributes that can hide content, as lowest-priority declarations."""
    hints = []
    if "hidden" in attrs or (name == "dialog" and "open" not in attrs):
        hints.append(css.Decl("display", _NONE))
    if name == "font" and attrs.get("color"):
        hints.append(css.Decl("color", tuple(_color_tokens(str(attrs["color"])))))
    if name == "body" and attrs.get("text"):
        hints.append(css.Decl("color", tuple(_color_tokens(str(attrs["text"])))))
    if attrs.get("bgcolor") and name in ("body", "table", "tr", "td", "th"):
        hints.append(css.Decl("background-color", tuple(_color_tokens(str(attrs["bgcolor"])))))
    return hints


def _color_tokens(value: str) -> list[Node]:
    """A legacy colour attribute (``white``, ``#fff``, ``fff``) as CSS tokens."""
    value = value.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6}", value):
        value = "#" + value
    return [t for t in tinycss2.parse_component_value_list(value) if t.type not in ("whitespace", "comment")]
