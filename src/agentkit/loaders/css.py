"""CSS for visibility: what a browser would not paint, decided from inline styles and ``<style>`` blocks.

CSS is parsed with tinycss2 (declarations, rules, ``@media``, escapes, comments, ``!important``); selectors are
matched with soupsieve. Only the properties that can hide content are cascaded (``RELEVANT``); custom properties
(``--x``) are kept so ``var()`` can be resolved.

The rule (``ElementStyle.hidden_reason`` for a whole element, ``TextStyle.hidden_reason`` for the text directly in
it); the page is assumed to be shown on a 1280x800 desktop screen, white canvas, black text, 16px font:

* whole element dropped: ``display:none``; ``content-visibility:hidden``; opacity (times ``filter:opacity()``)
  multiplied down the tree below 0.1; a box (not ``display:inline``, unless positioned or floated) whose width or
  max-width, or height or max-height, is at most 1px *and* whose overflow clips on that axis *and* whose padding on
  that axis is at most 1px (``height:0`` alone overflows visibly, so it stays); ``position`` other than static with
  ``left``, ``top`` or ``right`` at most -1000px (or -100%); ``margin-left``/``margin-top`` at most -1000px;
  ``clip:rect()`` of at most 1px on an absolutely positioned element; ``clip-path`` that leaves no area
  (``inset()`` of 100% or more across, ``circle(0)``, ``ellipse()`` with a zero radius, a polygon of one point);
  a transform with a zero scale, a 90-degree ``rotateX``/``rotateY``, a degenerate matrix, or a translation of at
  most -1000px (``transform``, ``scale``, ``translate`` properties).
* text dropped, inherited and overridable by descendants as in CSS: ``visibility:hidden|collapse``; computed
  font size below 2px (``font-size:0`` on a parent whose children set a real size is the inline-block spacing
  idiom: the children stay); ``text-indent`` at most -1000px; text fill colour (``-webkit-text-fill-color`` or
  ``color``) with alpha below 0.1, or with a contrast ratio below 1.1 against the solid background behind it
  (backgrounds composited down the tree; a background image or gradient makes it unknown, and then only the
  alpha test applies; ``background-clip:text`` paints the background through the text, so it stays).
* not hiding: ``opacity`` 0.1 and above, ``min-width``/``min-height:0``, ``line-height:0``, ``height:0`` or
  ``width:0`` without clipping, sizes on inline elements, ``clip`` without absolute positioning.

Cascade: origin and ``!important``, then specificity, then order; shorthands (``overflow``, ``padding``, ``margin``,
``inset``, ``background``, ``font``) compete with their longhands. ``@media`` is evaluated for that screen
(unknown features match), ``@supports``/``@layer``/``@container`` blocks apply, nesting (``&``) is unfolded into
``:is()``. Known gaps: external stylesheets and ``@import`` (not fetched); ``:has()``, pseudo-elements and
selectors soupsieve cannot compile (those rules are ignored); ``@layer`` ordering; anything that needs layout
(text covered by another element, ``z-index``, overflow clipping by an ancestor of a positioned child, text
positioned outside a clipping parent, colour against a background image, letter-spacing that piles glyphs up).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import soupsieve
import tinycss2
from tinycss2 import color4
from tinycss2.ast import (
    AtRule,
    DimensionToken,
    FunctionBlock,
    HashToken,
    IdentToken,
    LiteralToken,
    Node,
    NumberToken,
    ParenthesesBlock,
    PercentageToken,
    QualifiedRule,
    SquareBracketsBlock,
    WhitespaceToken,
)
from tinycss2.ast import Declaration as _CssDeclaration

VIEW_W, VIEW_H, ROOT_FONT_PX = 1280.0, 800.0, 16.0
MIN_OPACITY = 0.1
MIN_FONT_PX = 2.0
MIN_CONTRAST = 1.1
MIN_ALPHA = 0.1
OFFSCREEN_PX = 1000.0
MAX_BOX_PX = 1.0

RELEVANT = frozenset(
    """display visibility opacity content-visibility filter font-size width height max-width max-height overflow-x
    overflow-y padding-top padding-right padding-bottom padding-left position top right bottom left margin-top
    margin-left text-indent clip clip-path transform scale translate color -webkit-text-fill-color background-color
    background-image background-clip -webkit-background-clip float""".split()
)
SHORTHANDS: dict[str, tuple[str, ...]] = {
    "overflow": ("overflow-x", "overflow-y"),
    "padding": ("padding-top", "padding-right", "padding-bottom", "padding-left"),
    "margin": ("margin-top", "margin-right", "margin-bottom", "margin-left"),
    "inset": ("top", "right", "bottom", "left"),
    "background": ("background-color", "background-image", "background-clip"),
    "font": ("font-size",),
}
_SHORTHAND_OF: dict[str, tuple[str, ...]] = {}
for _short, _longs in SHORTHANDS.items():
    for _long in _longs:
        _SHORTHAND_OF[_long] = (*_SHORTHAND_OF.get(_long, ()), _short)

_IMAGE_FUNCTION = re.compile(r"^(url|image|image-set|-webkit-image-set|cross-fade|element|paint)$|gradient$")
# top, right, bottom, left taken from 1-4 values, as in margin/padding/inset
_BOX_SIDES = {1: (0, 0, 0, 0), 2: (0, 1, 0, 1), 3: (0, 1, 2, 1), 4: (0, 1, 2, 3)}
_UNITS = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4, "q": 96 / 101.6}
_VIEW_UNITS = {"vw": VIEW_W / 100, "vh": VIEW_H / 100, "vmin": VIEW_H / 100, "vmax": VIEW_W / 100}
_FONT_KEYWORDS = {"xx-small": 9.0, "x-small": 10.0, "small": 13.0, "medium": 16.0, "large": 18.0, "x-large": 24.0, "xx-large": 32.0, "xxx-large": 48.0}
# Elements that make a box by default: sizes and overflow apply to them (unknown elements are inline, as in browsers).
BOX_TAGS = frozenset(
    "address article aside blockquote body center dd details dialog dir div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hgroup hr html img input legend li listing main menu ol optgroup option p plaintext pre "
    "search section summary table tbody td tfoot th thead tr ul xmp caption".split()
)

Key = tuple[int, int, int, int, int, int, int]  # (important, origin, specificity a, b, c, rule order, declaration order)
RGBA = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Decl:
    """One declaration: lower-case name, significant value tokens (no whitespace or comments), ``!important``."""

    name: str
    value: tuple[Node, ...]
    important: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One complex selector of a style rule with the declarations that matter here.

    ``key`` buckets the rule by its rightmost compound (``#id``, ``.class``, ``tag`` or ``*``); every key in
    ``ancestor_keys`` must be on some ancestor for the rule to match (a cheap exact pre-filter before soupsieve).
    """

    selector: str
    key: str
    ancestor_keys: tuple[str, ...]
    specificity: tuple[int, int, int]
    order: int
    declarations: tuple[Decl, ...]
    walks_ancestors: bool
    walks_siblings: bool


class CssLimitError(Exception):
    """A CSS limit was reached; the caller stops extracting there (fails closed)."""

    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


# ---------------------------------------------------------------------------------------------------- parsing


def _significant(tokens: Iterable[Node]) -> list[Node]:
    return [t for t in tokens if t.type not in ("whitespace", "comment")]


def _decls(nodes: Iterable[Any]) -> tuple[Decl, ...]:
    out = []
    for node in nodes:
        if isinstance(node, _CssDeclaration):
            name = node.lower_name if not node.name.startswith("--") else node.name
            if name in RELEVANT or name in SHORTHANDS or name.startswith("--"):
                out.append(Decl(name, tuple(_significant(node.value)), node.important))
    return tuple(out)


@lru_cache(maxsize=4096)
def parse_inline(style: str) -> tuple[Decl, ...]:
    """Relevant declarations of a ``style=""`` attribute (pure function of the text, so cached)."""
    return _decls(tinycss2.parse_blocks_contents(style, skip_comments=True, skip_whitespace=True))


def _split_commas(tokens: Sequence[Node]) -> list[list[Node]]:
    parts: list[list[Node]] = [[]]
    for token in tokens:
        if isinstance(token, LiteralToken) and token.value == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _strip(tokens: Sequence[Node]) -> list[Node]:
    lo, hi = 0, len(tokens)
    while lo < hi and tokens[lo].type in ("whitespace", "comment"):
        lo += 1
    while hi > lo and tokens[hi - 1].type in ("whitespace", "comment"):
        hi -= 1
    return list(tokens[lo:hi])


_PSEUDO_ELEMENTS = frozenset(("before", "after", "first-line", "first-letter", "marker", "placeholder", "selection", "backdrop"))


def _unsupported(tokens: Sequence[Node]) -> bool:
    """Pseudo-elements style something else than the element; ``:has()`` can cost a subtree walk per check;
    namespaces need a namespace map."""
    prev: Node | None = None
    for token in tokens:
        if isinstance(token, LiteralToken) and token.value == "|":
            return True
        if isinstance(prev, LiteralToken) and prev.value == ":":
            if isinstance(token, LiteralToken) and token.value == ":":
                return True
            if isinstance(token, IdentToken) and token.lower_value in _PSEUDO_ELEMENTS:
                return True
        if isinstance(token, FunctionBlock) and (token.lower_name == "has" or _unsupported(token.arguments)):
            return True
        prev = token
    return False


def _specificity(tokens: Sequence[Node]) -> tuple[int, int, int]:
    a = b = c = 0
    prev: Node | None = None
    for token in tokens:
        after_colon = isinstance(prev, LiteralToken) and prev.value == ":"
        if isinstance(token, HashToken):
            a += 1
        elif isinstance(token, SquareBracketsBlock):
            b += 1
        elif (isinstance(token, LiteralToken) and token.value == ".") or (isinstance(token, IdentToken) and after_colon):
            b += 1
        elif isinstance(token, FunctionBlock) and after_colon:
            if token.lower_name in ("is", "not", "matches", "-webkit-any", "-moz-any"):
                best = max((_specificity(_strip(p)) for p in _split_commas(token.arguments)), default=(0, 0, 0))
                a, b, c = a + best[0], b + best[1], c + best[2]
            elif token.lower_name != "where":
                b += 1
        elif isinstance(token, IdentToken) and not (isinstance(prev, LiteralToken) and prev.value in (".", ":")):
            c += 1
        prev = token
    return a, b, c


def _compounds(tokens: Sequence[Node]) -> list[tuple[str, list[Node]]]:
    """Compound selectors right to left, each with the combinator on its right (``""`` for the rightmost)."""
    out: list[tuple[str, list[Node]]] = []
    current: list[Node] = []
    pending = ""
    for token in reversed(_strip(tokens)):
        if isinstance(token, WhitespaceToken):
            if current:
                out.append((pending, current))
                current, pending = [], " "
            continue
        if isinstance(token, LiteralToken) and token.value in (">", "+", "~"):
            if current:
                out.append((pending, current))
                current = []
            pending = token.value
            continue
        current.insert(0, token)
    if current:
        out.append((pending, current))
    return out


def _compound_key(compound: Sequence[Node]) -> str:
    best = ""
    for i, token in enumerate(compound):
        if isinstance(token, HashToken) and token.is_identifier:
            return "#" + token.value
        if isinstance(token, IdentToken) and i > 0 and isinstance(compound[i - 1], LiteralToken):
            if compound[i - 1].value == "." and not best.startswith("."):
                best = "." + token.value
        elif isinstance(token, IdentToken) and i == 0:
            best = token.lower_value
    return best or "*"


def _analyse(tokens: list[Node], order: int, declarations: tuple[Decl, ...]) -> Rule | None:
    if not tokens or _unsupported(tokens):
        return None
    compounds = _compounds(tokens)
    if not compounds:
        return None
    ancestors: list[str] = []
    seen_ancestor_combinator = False
    walks_siblings = False
    for combinator, compound in compounds[1:]:
        seen_ancestor_combinator = seen_ancestor_combinator or combinator in (" ", ">")
        walks_siblings = walks_siblings or combinator in ("+", "~")
        key = _compound_key(compound)
        if seen_ancestor_combinator and key != "*":
            ancestors.append(key)
    text = tinycss2.serialize(tokens).strip()
    lowered = text.lower()
    walks_siblings = walks_siblings or any(s in lowered for s in ("nth-", "last-", "only-", "-of-type"))
    return Rule(text, _compound_key(compounds[0][1]), tuple(dict.fromkeys(ancestors)), _specificity(tokens), order, declarations, len(compounds) > 1, walks_siblings)


def media_matches(tokens: Sequence[Node]) -> bool:
    """A media query list, evaluated for a 1280x800 colour screen in light mode; unknown features match."""
    queries = [_significant(q) for q in _split_commas(list(tokens))]
    if all(not q for q in queries):
        return True
    return any(_media_query(q) for q in queries if q)


def _media_query(tokens: list[Node]) -> bool:
    negate = False
    if tokens and isinstance(tokens[0], IdentToken) and tokens[0].lower_value == "not":
        negate, tokens = True, tokens[1:]
    result = True
    for token in tokens:
        if isinstance(token, IdentToken):
            if token.lower_value in ("and", "only", "or"):
                continue
            result = result and token.lower_value in ("all", "screen")
        elif isinstance(token, ParenthesesBlock):
            result = result and _media_feature(token)
        elif isinstance(token, FunctionBlock):
            continue
    return result != negate


def _media_feature(block: ParenthesesBlock) -> bool:
    tokens = _significant(block.content)
    if any(isinstance(t, ParenthesesBlock) for t in tokens):
        return _media_query(tokens)
    if len(tokens) == 3 and isinstance(tokens[0], IdentToken) and isinstance(tokens[1], LiteralToken) and tokens[1].value == ":":
        name, value = tokens[0].lower_value, tokens[2]
        size = {"width": VIEW_W, "height": VIEW_H, "device-width": VIEW_W, "device-height": VIEW_H}
        for prefix, cmp in (("min-", lambda a, b: a >= b), ("max-", lambda a, b: a <= b), ("", lambda a, b: a == b)):
            if name.startswith(prefix) and name[len(prefix) :] in size:
                px = length_px([value], ROOT_FONT_PX)
                return True if px is None else cmp(size[name[len(prefix) :]], px)
        wanted = {"orientation": "landscape", "prefers-color-scheme": "light", "prefers-reduced-motion": "no-preference", "hover": "hover", "pointer": "fine", "scripting": "enabled"}
        if name in wanted and isinstance(value, IdentToken):
            return value.lower_value == wanted[name]
        return True
    # Range syntax: (width >= 600px), (400px < width <= 900px)
    names = [i for i, t in enumerate(tokens) if isinstance(t, IdentToken) and t.lower_value in ("width", "height")]
    if len(names) == 1:
        axis = VIEW_W if tokens[names[0]].lower_value == "width" else VIEW_H
        ok = True
        ops = "".join(t.value for t in tokens if isinstance(t, LiteralToken))
        values = [length_px([t], ROOT_FONT_PX) for t in tokens if not isinstance(t, (IdentToken, LiteralToken))]
        if len(values) == 1 and values[0] is not None:
            v, left = values[0], names[0] == 0
            op = ops.strip()
            table = {">=": axis >= v, ">": axis > v, "<=": axis <= v, "<": axis < v, "=": axis == v}
            flipped = {">=": axis <= v, ">": axis < v, "<=": axis >= v, "<": axis > v, "=": axis == v}
            ok = (table if left else flipped).get(op, True)
        return ok
    return True


def parse_stylesheet(css: str, first_order: int = 0) -> list[Rule]:
    """Rules (one per complex selector) carrying relevant or custom-property declarations, in source order."""
    rules: list[Rule] = []
    _collect(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True), None, rules, first_order)
    return rules


def _collect(nodes: Iterable[Any], parent: list[Node] | None, rules: list[Rule], first_order: int) -> None:
    for node in nodes:
        if isinstance(node, QualifiedRule):
            prelude = _nest(list(node.prelude), parent)
            body = tinycss2.parse_blocks_contents(node.content, skip_comments=True, skip_whitespace=True)
            declarations = _decls(body)
            if declarations:
                for complex_selector in _split_commas(prelude):
                    rule = _analyse(_strip(complex_selector), first_order + len(rules), declarations)
                    if rule is not None:
                        rules.append(rule)
            nested = [n for n in body if isinstance(n, (QualifiedRule, AtRule))]
            if nested:
                _collect(nested, prelude, rules, first_order)
        elif isinstance(node, AtRule) and node.content is not None:
            keyword = node.lower_at_keyword
            if keyword == "media" and not media_matches(node.prelude):
                continue
            if keyword in ("media", "supports", "layer", "container", "scope", "document", "-moz-document"):
                if parent is not None:  # nested group rule: its body holds declarations for the parent selector too
                    body = tinycss2.parse_blocks_contents(node.content, skip_comments=True, skip_whitespace=True)
                    declarations = _decls(body)
                    if declarations:
                        for complex_selector in _split_commas(parent):
                            rule = _analyse(_strip(complex_selector), first_order + len(rules), declarations)
                            if rule is not None:
                                rules.append(rule)
                    _collect([n for n in body if isinstance(n, (QualifiedRule, AtRule))], parent, rules, first_order)
                else:
                    _collect(tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True), None, rules, first_order)


def _nest(prelude: list[Node], parent: list[Node] | None) -> list[Node]:
    """CSS nesting: ``&`` stands for ``:is(parent)``; a nested selector without ``&`` is relative to the parent."""
    if parent is None:
        return prelude
    wrapped = tinycss2.parse_component_value_list(":is(" + tinycss2.serialize(parent) + ")")
    out: list[Node] = []
    for part in _split_commas(prelude):
        part = _strip(part)
        if any(isinstance(t, LiteralToken) and t.value == "&" for t in part):
            part = [x for t in part for x in (wrapped if isinstance(t, LiteralToken) and t.value == "&" else [t])]
        else:
            part = [*wrapped, WhitespaceToken(0, 0, " "), *part]
        if out:
            out.append(LiteralToken(0, 0, ","))
        out.extend(part)
    return out


# ---------------------------------------------------------------------------------------------------- values


def length_px(tokens: Sequence[Node], font_px: float) -> float | None:
    """A single length in px (``em`` against ``font_px``); 0 without unit; ``calc()``/``min()``/``max()``/``clamp()``
    over lengths and numbers. Percentages and anything else: None (unknown)."""
    if len(tokens) != 1:
        return None
    token = tokens[0]
    if isinstance(token, DimensionToken):
        unit = token.lower_unit
        if unit in _UNITS:
            return token.value * _UNITS[unit]
        if unit == "em":
            return token.value * font_px
        if unit == "rem":
            return token.value * ROOT_FONT_PX
        if unit in ("ex", "ch"):
            return token.value * font_px / 2
        unit = unit.lstrip("sld") if unit[:1] in "sld" and unit[1:] in _VIEW_UNITS else unit
        if unit in _VIEW_UNITS:
            return token.value * _VIEW_UNITS[unit]
        return None
    if isinstance(token, NumberToken):
        return 0.0 if token.value == 0 else None
    if isinstance(token, FunctionBlock) and token.lower_name in ("calc", "min", "max", "clamp"):
        return _calc(token, font_px)
    if isinstance(token, ParenthesesBlock):
        return _sum(_significant(token.content), font_px)
    return None


def _calc(fn: FunctionBlock, font_px: float) -> float | None:
    args = [_sum(_significant(a), font_px) for a in _split_commas(fn.arguments)]
    if any(a is None for a in args) or not args:
        return None
    values = [a for a in args if a is not None]
    if fn.lower_name == "calc":
        return values[0] if len(values) == 1 else None
    if fn.lower_name == "min":
        return min(values)
    if fn.lower_name == "max":
        return max(values)
    return max(values[0], min(values[1], values[2])) if len(values) == 3 else None


def _sum(tokens: list[Node], font_px: float) -> float | None:
    """``a + b - c * 2 / 4`` over lengths (px) and plain numbers; None if any term is unknown."""
    total, sign, term, op = 0.0, 1.0, None, "*"
    for token in tokens + [LiteralToken(0, 0, "+")]:
        if isinstance(token, LiteralToken) and token.value in "+-" and term is not None:
            total += sign * term
            sign, term, op = (1.0 if token.value == "+" else -1.0), None, "*"
        elif isinstance(token, LiteralToken) and token.value in "*/":
            op = token.value
        else:
            if isinstance(token, NumberToken):
                value: float | None = token.value
            else:
                value = length_px([token], font_px)
            if value is None:
                return None
            if term is None:
                term = value
            elif op == "*":
                term *= value
            elif value == 0:
                return None
            else:
                term /= value
    return total


def _number(tokens: Sequence[Node]) -> float | None:
    if len(tokens) == 1 and isinstance(tokens[0], NumberToken):
        return tokens[0].value
    if len(tokens) == 1 and isinstance(tokens[0], PercentageToken):
        return tokens[0].value / 100
    return None


def _ident(tokens: Sequence[Node] | None) -> str:
    if tokens and len(tokens) == 1 and isinstance(tokens[0], IdentToken):
        return tokens[0].lower_value
    return ""


def parse_color(tokens: Sequence[Node] | None) -> RGBA | str | None:
    """sRGB + alpha in 0..1, ``"currentcolor"``, or None when not a colour."""
    if not tokens or len(tokens) != 1:
        return None
    try:
        color = color4.parse_color(tokens[0])
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    if color is None or isinstance(color, str):
        return color
    try:
        r, g, b = color.to("srgb").coordinates
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    clamp = lambda v: min(1.0, max(0.0, v if v == v else 0.0))  # noqa: E731 (NaN from 'none' channels -> 0)
    return clamp(r), clamp(g), clamp(b), clamp(color.alpha)


def _luminance(rgb: Sequence[float]) -> float:
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: Sequence[float], bg: Sequence[float]) -> float:
    """WCAG contrast ratio of two opaque sRGB colours (1 = identical, 21 = black on white)."""
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _over(top: RGBA, bottom: Sequence[float]) -> tuple[float, float, float]:
    a = top[3]
    return tuple(a * t + (1 - a) * b for t, b in zip(top[:3], bottom[:3], strict=True))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------- cascade


@dataclass(frozen=True, slots=True)
class Env:
    """Custom properties of an element: its own winners, then its parent's (inherited, looked up on demand)."""

    own: dict[str, tuple[Node, ...]]
    parent: Env | None

    def get(self, name: str) -> tuple[Node, ...] | None:
        env: Env | None = self
        while env is not None:
            if name in env.own:
                return env.own[name]
            env = env.parent
        return None


def _substitute(tokens: Sequence[Node], env: Env | None, depth: int = 0) -> list[Node] | None:
    """``var()`` resolved (with fallbacks), recursively; None when a reference cannot be resolved."""
    if depth > 8:
        return None
    out: list[Node] = []
    for token in tokens:
        if isinstance(token, FunctionBlock) and token.lower_name == "var":
            args = _split_commas(token.arguments)
            name = "".join(t.value for t in _significant(args[0]) if isinstance(t, IdentToken))
            found = env.get(name) if env is not None else None
            if found is not None:
                resolved = _substitute(found, env, depth + 1)
            elif len(args) > 1:
                fallback: list[Node] = []
                for i, part in enumerate(args[1:]):
                    fallback.extend(([LiteralToken(0, 0, ",")] if i else []) + _significant(part))
                resolved = _substitute(fallback, env, depth + 1)
            else:
                resolved = None
            if resolved is None:
                return None
            out.extend(resolved)
        elif isinstance(token, FunctionBlock) and any(isinstance(t, FunctionBlock) for t in token.arguments) or (
            isinstance(token, FunctionBlock) and _has_var(token.arguments)
        ):
            args_out = _substitute(token.arguments, env, depth)
            if args_out is None:
                return None
            out.append(FunctionBlock(token.source_line, token.source_column, token.name, args_out))
        else:
            out.append(token)
    return out


def _has_var(tokens: Iterable[Node]) -> bool:
    return any(isinstance(t, FunctionBlock) and (t.lower_name == "var" or _has_var(t.arguments)) for t in tokens)


def _expand(shorthand: str, tokens: list[Node], longhand: str) -> list[Node] | None:
    """The longhand's tokens inside a shorthand value (None: the shorthand resets it to its initial value)."""
    if shorthand == "overflow":
        idents = [t for t in tokens if isinstance(t, IdentToken)]
        return idents[:1] if longhand == "overflow-x" else (idents[1:2] or idents[:1])
    if shorthand in ("padding", "margin", "inset"):
        sides = SHORTHANDS[shorthand]
        values = [t for t in tokens if not isinstance(t, LiteralToken)]
        if not values:
            return None
        which = _BOX_SIDES.get(len(values), _BOX_SIDES[4])[sides.index(longhand)]
        return [values[which]]
    if shorthand == "background":
        if longhand == "background-color":
            colors = [t for t in tokens if parse_color([t]) is not None]
            return colors[-1:] or None
        if longhand == "background-image":
            images = [t for t in tokens if t.type == "url" or (isinstance(t, FunctionBlock) and _IMAGE_FUNCTION.search(t.lower_name))]
            return images[:1] or None
        return [t for t in tokens if isinstance(t, IdentToken) and t.lower_value == "text"][:1] or None
    if shorthand == "font":
        for i, token in enumerate(tokens):
            if isinstance(token, LiteralToken) and token.value == "/" and i > 0:
                return [tokens[i - 1]]
        sizes = [t for t in tokens if isinstance(t, (DimensionToken, PercentageToken)) or (isinstance(t, NumberToken) and t.value == 0) or (isinstance(t, IdentToken) and t.lower_value in _FONT_KEYWORDS)]
        return sizes[-1:] or None
    return None


class Cascade:
    """Winning declarations of one element: ``add`` in any order, then ``value(name)`` per longhand."""

    __slots__ = ("winners",)

    def __init__(self) -> None:
        self.winners: dict[str, tuple[Key, tuple[Node, ...]]] = {}

    def add(self, declarations: Iterable[Decl], origin: int, specificity: tuple[int, int, int], order: int) -> None:
        for i, decl in enumerate(declarations):
            key = (int(decl.important), origin, *specificity, order, i)
            current = self.winners.get(decl.name)
            if current is None or key > current[0]:
                self.winners[decl.name] = (key, decl.value)

    def env(self, parent: Env | None) -> Env | None:
        own = {name: value for name, (_, value) in self.winners.items() if name.startswith("--")}
        return Env(own, parent) if own else parent

    def value(self, longhand: str, env: Env | None) -> list[Node] | None:
        best = self.winners.get(longhand)
        source = longhand
        for short in _SHORTHAND_OF.get(longhand, ()):
            candidate = self.winners.get(short)
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best, source = candidate, short
        if best is None:
            return None
        tokens = _substitute(best[1], env) if _has_var(best[1]) else list(best[1])
        if tokens is None:
            return None
        return tokens if source == longhand else _expand(source, tokens, longhand)


# ---------------------------------------------------------------------------------------------------- computed style


@dataclass(frozen=True, slots=True)
class TextStyle:
    """What an element passes down to its text and its children (inherited properties, compositing)."""

    font_px: float = ROOT_FONT_PX
    visible: bool = True
    fill: RGBA = (0.0, 0.0, 0.0, 1.0)
    backdrop: tuple[float, float, float] | None = (1.0, 1.0, 1.0)
    clip_text: bool = False
    indent_px: float = 0.0
    opacity: float = 1.0
    env: Env | None = None

    def hidden_reason(self) -> str | None:
        """Why text directly in this element is not seen, or None when it is."""
        if not self.visible:
            return "visibility"
        if self.font_px < MIN_FONT_PX:
            return "font-size"
        if self.indent_px <= -OFFSCREEN_PX:
            return "text-indent"
        if not self.clip_text:
            if self.fill[3] < MIN_ALPHA:
                return "transparent colour"
            if self.backdrop is not None and contrast(_over(self.fill, self.backdrop), self.backdrop) < MIN_CONTRAST:
                return "colour of the background"
        return None


def _px_or_pct(tokens: list[Node] | None, font_px: float) -> tuple[float | None, float | None]:
    if not tokens:
        return None, None
    if len(tokens) == 1 and isinstance(tokens[0], PercentageToken):
        return None, tokens[0].value
    return length_px(tokens, font_px), None


def _font_px(tokens: list[Node] | None, parent_px: float) -> float:
    if not tokens or len(tokens) != 1:
        return parent_px
    token = tokens[0]
    if isinstance(token, IdentToken):
        word = token.lower_value
        return _FONT_KEYWORDS.get(word, parent_px / 1.2 if word == "smaller" else parent_px * 1.2 if word == "larger" else parent_px)
    if isinstance(token, PercentageToken):
        value: float | None = parent_px * token.value / 100
    else:
        value = length_px(tokens, parent_px)
    return parent_px if value is None or value < 0 else value


def _box_hidden(get: Any, font_px: float) -> str | None:
    """Zero-size box with clipping overflow (per axis, padding counted)."""
    ox, oy = _ident(get("overflow-x")) or "visible", _ident(get("overflow-y")) or "visible"
    clipping = ("hidden", "scroll", "auto", "overlay")
    both = ox in clipping or oy in clipping
    for size_names, pads, axis in ((("width", "max-width"), ("padding-left", "padding-right"), ox), (("height", "max-height"), ("padding-top", "padding-bottom"), oy)):
        if not (both or axis == "clip"):
            continue
        sizes = [_px_or_pct(get(n), font_px) for n in size_names]
        zero = any((px is not None and px <= MAX_BOX_PX) or pct == 0 for px, pct in sizes)
        if not zero:
            continue
        padding = 0.0
        for name in pads:
            px, pct = _px_or_pct(get(name), font_px)
            padding += px if px is not None else (1e9 if pct else 0.0)
        if padding <= MAX_BOX_PX:
            return "zero size with clipped overflow"
    return None


def _transform_hidden(tokens: list[Node] | None, font_px: float) -> str | None:
    for fn in tokens or []:
        if not isinstance(fn, FunctionBlock):
            continue
        args = [_significant(a) for a in _split_commas(fn.arguments)]
        if len(args) == 1 and len(args[0]) > 1:  # space-separated arguments
            args = [[t] for t in args[0]]
        name = fn.lower_name
        if name in ("scale", "scalex", "scaley", "scale3d") and any(_number(a) == 0 for a in args):
            return "transform: zero scale"
        if name in ("translate", "translatex", "translatey", "translate3d"):
            for a in args[:2]:
                px, pct = _px_or_pct(a, font_px)
                if (px is not None and px <= -OFFSCREEN_PX) or (pct is not None and pct <= -100):
                    return "transform: off-screen"
        if name in ("rotatex", "rotatey") and args and args[0] and isinstance(args[0][0], DimensionToken):
            deg = _degrees(args[0][0])
            if deg is not None and math.isclose(deg % 180, 90, abs_tol=0.5):
                return "transform: edge-on rotation"
        if name == "matrix" and len(args) == 6:
            m = [_number(a) for a in args]
            if all(v is not None for v in m[:4]) and m[0] * m[3] - m[1] * m[2] == 0:  # type: ignore[operator]
                return "transform: degenerate matrix"
            if m[4] is not None and m[4] <= -OFFSCREEN_PX or m[5] is not None and m[5] <= -OFFSCREEN_PX:
                return "transform: off-screen"
    return None


def _degrees(token: DimensionToken) -> float | None:
    factor = {"deg": 1.0, "rad": 180 / math.pi, "grad": 0.9, "turn": 360.0}.get(token.lower_unit)
    return None if factor is None else token.value * factor


def _clip_path_hidden(tokens: list[Node] | None) -> str | None:
    if not tokens or not isinstance(tokens[0], FunctionBlock):
        return None
    fn = tokens[0]
    args = _significant(fn.arguments)
    if fn.lower_name == "inset":
        values = []
        for t in args:
            if isinstance(t, IdentToken):  # "round"
                break
            values.append(t.value if isinstance(t, PercentageToken) else (0.0 if isinstance(t, NumberToken) and t.value == 0 else None))
        if values:
            t, r, b, left = (values[i] for i in _BOX_SIDES.get(len(values), _BOX_SIDES[4]))
            if (t is not None and b is not None and t + b >= 100) or (r is not None and left is not None and r + left >= 100):
                return "clip-path: nothing left"
    if fn.lower_name in ("circle", "ellipse"):
        radii = []
        for t in args:
            if isinstance(t, IdentToken) and t.lower_value == "at":
                break
            radii.append(t)
        if radii and any((isinstance(t, (NumberToken, DimensionToken, PercentageToken)) and t.value == 0) for t in radii):
            return "clip-path: zero radius"
    if fn.lower_name == "polygon":
        points = [tinycss2.serialize(p).strip() for p in _split_commas(fn.arguments) if not (len(_significant(p)) == 1 and isinstance(_significant(p)[0], IdentToken))]
        if len(set(points)) <= 1:
            return "clip-path: empty polygon"
    return None


def _clip_hidden(tokens: list[Node] | None, font_px: float) -> str | None:
    if not tokens or not isinstance(tokens[0], FunctionBlock) or tokens[0].lower_name != "rect":
        return None
    parts = [t for t in _significant(tokens[0].arguments) if not (isinstance(t, LiteralToken) and t.value == ",")]
    if len(parts) != 4:
        return None
    edges = [None if isinstance(t, IdentToken) else length_px([t], font_px) for t in parts]  # auto -> None
    top, right, bottom, left = edges
    if top is not None and bottom is not None and bottom - top <= MAX_BOX_PX:
        return "clip: empty rectangle"
    if left is not None and right is not None and right - left <= MAX_BOX_PX:
        return "clip: empty rectangle"
    return None


@dataclass(frozen=True, slots=True)
class ElementStyle:
    """The outcome for one element: why it is dropped (None: kept) and what it passes down."""

    hidden_reason: str | None
    text: TextStyle


def compute(tag: str, cascade: Cascade | None, parent: TextStyle) -> ElementStyle:
    """Apply the element's winning declarations to its parent's ``TextStyle`` (see the module docstring)."""
    if cascade is None or not cascade.winners:
        return ElementStyle(None, parent)
    env = cascade.env(parent.env)
    cache: dict[str, list[Node] | None] = {}

    def get(name: str) -> list[Node] | None:
        if name not in cache:
            cache[name] = cascade.value(name, env)
        return cache[name]

    font_px = _font_px(get("font-size"), parent.font_px)
    display = _ident(get("display"))
    if display == "none":
        return ElementStyle("display:none", parent)
    if _ident(get("content-visibility")) == "hidden":
        return ElementStyle("content-visibility:hidden", parent)
    opacity = parent.opacity
    own = _number(get("opacity") or [])
    if own is not None:
        opacity *= min(1.0, max(0.0, own))
    for fn in get("filter") or []:
        if isinstance(fn, FunctionBlock) and fn.lower_name == "opacity":
            value = _number(_significant(fn.arguments))
            if value is not None:
                opacity *= min(1.0, max(0.0, value))
    if opacity < MIN_OPACITY:
        return ElementStyle("opacity", parent)
    position = _ident(get("position")) or "static"
    floated = _ident(get("float")) not in ("", "none")
    is_box = position in ("absolute", "fixed") or floated or (display not in ("inline", "contents") if display else tag in BOX_TAGS)
    if is_box and (reason := _box_hidden(get, font_px)):
        return ElementStyle(reason, parent)
    if position != "static":
        for side in ("left", "top", "right"):
            px, pct = _px_or_pct(get(side), font_px)
            if (px is not None and px <= -OFFSCREEN_PX) or (pct is not None and pct <= -100):
                return ElementStyle(f"off-screen ({side})", parent)
    for side in ("margin-left", "margin-top"):
        px, _ = _px_or_pct(get(side), font_px)
        if px is not None and px <= -OFFSCREEN_PX:
            return ElementStyle(f"off-screen ({side})", parent)
    if position in ("absolute", "fixed") and (reason := _clip_hidden(get("clip"), font_px)):
        return ElementStyle(reason, parent)
    if reason := _clip_path_hidden(get("clip-path")):
        return ElementStyle(reason, parent)
    if reason := _transform_hidden(get("transform"), font_px):
        return ElementStyle(reason, parent)
    scale = get("scale")
    if scale and any(_number([t]) == 0 for t in scale):
        return ElementStyle("scale: zero", parent)
    translate = get("translate")
    if translate and any((px := length_px([t], font_px)) is not None and px <= -OFFSCREEN_PX for t in translate[:2]):
        return ElementStyle("translate: off-screen", parent)
    return ElementStyle(None, _inherit(get, parent, font_px, opacity, env))


def _inherit(get: Any, parent: TextStyle, font_px: float, opacity: float, env: Env | None) -> TextStyle:
    visibility = _ident(get("visibility"))
    visible = parent.visible if visibility in ("", "inherit", "unset") else visibility == "visible"
    indent = parent.indent_px
    indent_tokens = get("text-indent")
    if indent_tokens:
        px = length_px(indent_tokens[:1], font_px)
        indent = px if px is not None else (0.0 if _ident(indent_tokens[:1]) in ("initial", "0") else indent)
    fill = parent.fill
    color = parse_color(get("color"))
    if isinstance(color, tuple):
        fill = color
    text_fill = parse_color(get("-webkit-text-fill-color"))
    if isinstance(text_fill, tuple):
        fill = text_fill
    backdrop, clip_text = parent.backdrop, parent.clip_text
    image = get("background-image")
    if image and _ident(image) != "none":
        backdrop = None
    clip = _ident(get("background-clip")) or _ident(get("-webkit-background-clip"))
    if clip == "text":
        clip_text = True
    bg = parse_color(get("background-color"))
    if isinstance(bg, str):
        bg = (*fill[:3], fill[3]) if bg == "currentcolor" else None
    if isinstance(bg, tuple) and bg[3] > 0 and clip != "text":
        if bg[3] >= 0.999:
            backdrop = bg[:3]
        elif backdrop is not None:
            backdrop = _over(bg, backdrop)
    if (font_px, visible, fill, backdrop, clip_text, indent, opacity, env) == (
        parent.font_px, parent.visible, parent.fill, parent.backdrop, parent.clip_text, parent.indent_px, parent.opacity, parent.env
    ):
        return parent
    return replace(parent, font_px=font_px, visible=visible, fill=fill, backdrop=backdrop, clip_text=clip_text, indent_px=indent, opacity=opacity, env=env)


# ---------------------------------------------------------------------------------------------------- matching


class RuleIndex:
    """Rules bucketed by the key of their rightmost compound, matched per element with a work budget.

    ``work`` counts soupsieve checks weighted by what they may walk (1 + depth for ancestor combinators,
    + sibling count for sibling combinators and ``:nth-*``); past ``max_work`` ``CssLimitError`` is raised
    so the caller stops extracting at that element (fails closed) instead of returning unchecked text.
    """

    def __init__(self, rules: Sequence[Rule], max_work: int) -> None:
        self.buckets: dict[str, list[Rule]] = {}
        for rule in rules:
            self.buckets.setdefault(rule.key, []).append(rule)
        self.universal = self.buckets.pop("*", [])
        self.max_work = max_work
        self.work = 0
        self._compiled: dict[str, Any] = {}

    def __bool__(self) -> bool:
        return bool(self.buckets or self.universal)

    def candidates(self, keys: Sequence[str]) -> list[Rule]:
        found = list(self.universal)
        for key in keys:
            found.extend(self.buckets.get(key, ()))
        return found

    def match(self, element: Any, keys: Sequence[str], ancestors: dict[str, int], depth: int, siblings: int) -> list[Rule]:
        matched = []
        for rule in self.candidates(keys):
            if any(not ancestors.get(k) for k in rule.ancestor_keys):
                continue
            self.work += 1 + (depth if rule.walks_ancestors else 0) + (siblings if rule.walks_siblings else 0)
            if self.work > self.max_work:
                raise CssLimitError("css_work")
            compiled = self._compiled.get(rule.selector, False)
            if compiled is False:
                try:
                    compiled = soupsieve.compile(rule.selector)
                except (soupsieve.SelectorSyntaxError, NotImplementedError, ValueError):
                    compiled = None
                self._compiled[rule.selector] = compiled
            if compiled is not None and compiled.match(element):
                matched.append(rule)
        return matched
