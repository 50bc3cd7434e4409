"""CSS parsing for HTML extraction: declarations, stylesheets, selectors, media queries, values.

tinycss2 parses (escapes, comments, ``!important``, nesting); soupsieve matches selectors. A stylesheet becomes
``Rule``s, one per complex selector, keeping only the declarations a caller asks for (plus custom properties, for
``var()``). ``@media`` is evaluated for a 1280x800 colour screen in light mode (unknown features match);
``@supports``, ``@layer``, ``@container`` blocks apply; nesting is unfolded into ``:is()``. Rules that style
pseudo-elements, use ``:has()`` or namespaces, or need user action (``:hover``, ``:focus``, ``:target``) are left
out: they never apply to the element itself at rest, or cannot be checked in bounded time. ``RuleIndex`` matches
rules per element with a work budget.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
_UNITS = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4, "q": 96 / 101.6}
_VIEW_UNITS = {"vw": VIEW_W / 100, "vh": VIEW_H / 100, "vmin": VIEW_H / 100, "vmax": VIEW_W / 100}
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

    Keys name what a matching element must carry: ``tag``, ``.class``, ``#id``, ``[attribute]``. ``required``:
    all keys of the rightmost compound (``key``, one of them, buckets the rule); ``ancestor_keys``: keys that some
    ancestor must carry. Both are necessary conditions checked before soupsieve; when ``exact``, they are also
    sufficient (type/class/id selectors only, at most one descendant step with one key) and soupsieve is skipped.
    """

    selector: str
    key: str
    required: tuple[str, ...]
    ancestor_keys: tuple[str, ...]
    exact: bool
    specificity: tuple[int, int, int]
    order: int
    declarations: tuple[Decl, ...]
    walks_ancestors: bool
    positional: bool
    compounds: int


class CssLimitError(Exception):
    """A CSS limit was reached; the caller stops extracting there (fails closed)."""

    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


# ---------------------------------------------------------------------------------------------------- parsing


def significant(tokens: Iterable[Node]) -> list[Node]:
    return [t for t in tokens if t.type not in ("whitespace", "comment")]


def _decls(nodes: Iterable[Any], wanted: frozenset[str]) -> tuple[Decl, ...]:
    out = []
    for node in nodes:
        if isinstance(node, _CssDeclaration):
            name = node.lower_name if not node.name.startswith("--") else node.name
            if name in wanted or name.startswith("--"):
                out.append(Decl(name, tuple(significant(node.value)), node.important))
    return tuple(out)


@lru_cache(maxsize=4096)
def parse_inline(style: str, wanted: frozenset[str]) -> tuple[Decl, ...]:
    """The ``wanted`` and custom-property declarations of a ``style=""`` attribute (pure, so cached)."""
    return _decls(tinycss2.parse_blocks_contents(style, skip_comments=True, skip_whitespace=True), wanted)


def split_commas(tokens: Sequence[Node]) -> list[list[Node]]:
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
        elif isinstance(token, SquareBracketsBlock) or (isinstance(token, LiteralToken) and token.value == ".") or (isinstance(token, IdentToken) and after_colon):
            b += 1
        elif isinstance(token, FunctionBlock) and after_colon:
            if token.lower_name in ("is", "not", "matches", "-webkit-any", "-moz-any"):
                best = max((_specificity(_strip(p)) for p in split_commas(token.arguments)), default=(0, 0, 0))
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


# User-action and document-state pseudo-classes: a page at rest, never scrolled to a fragment, matches none.
_NEVER_AT_REST = frozenset(
    "hover active focus focus-within focus-visible target target-within visited current past future playing paused "
    "user-invalid user-valid autofill -webkit-autofill popover-open modal fullscreen picture-in-picture".split()
)


def _compound_keys(compound: Sequence[Node]) -> tuple[tuple[str, ...], bool]:
    """Keys every element matching the compound carries, and whether they decide the match on their own."""
    keys: list[str] = []
    simple = True
    prev: Node | None = None
    for i, token in enumerate(compound):
        after = prev.value if isinstance(prev, LiteralToken) else ""
        if isinstance(token, HashToken) and token.is_identifier:
            keys.append("#" + token.value)
        elif isinstance(token, IdentToken) and after == ".":
            keys.append("." + token.value)
        elif isinstance(token, IdentToken) and after == ":":
            simple = False
            if token.lower_value == "root":
                keys.append("html")
        elif isinstance(token, IdentToken) and i == 0:
            keys.append(token.lower_value)
        elif isinstance(token, SquareBracketsBlock):
            simple = False
            name = significant(token.content)[:1]
            if name and isinstance(name[0], IdentToken):
                keys.append("[" + name[0].lower_value + "]")
        elif not (isinstance(token, LiteralToken) and (token.value == "." or (token.value == "*" and i == 0))):
            simple = False
        prev = token
    return tuple(dict.fromkeys(keys)), simple


def _bucket(keys: Sequence[str]) -> str:
    for mark in ("#", ".", "["):
        for key in keys:
            if key.startswith(mark):
                return key
    return keys[0] if keys else "*"


# Selector parts whose outcome depends on siblings or content, not only on the element's attributes and ancestors.
_POSITIONAL = ("nth-", "first-", "last-", "only-", "-of-type", ":empty", ":blank", "contains", ":default", ":indeterminate")


def _never_matches_at_rest(compound: Sequence[Node]) -> bool:
    return any(
        isinstance(prev, LiteralToken) and prev.value == ":" and isinstance(token, IdentToken) and token.lower_value in _NEVER_AT_REST
        for prev, token in itertools.pairwise(compound)
    )


def _analyse(tokens: list[Node], order: int, declarations: tuple[Decl, ...]) -> Rule | None:
    if not tokens or _unsupported(tokens):
        return None
    compounds = _compounds(tokens)
    if not compounds or any(_never_matches_at_rest(c) for _, c in compounds):
        return None
    required, simple = _compound_keys(compounds[0][1])
    ancestors: list[str] = []
    through_ancestor = walks_siblings = False
    for combinator, compound in compounds[1:]:
        through_ancestor = through_ancestor or combinator in (" ", ">")
        walks_siblings = walks_siblings or combinator in ("+", "~")
        keys, compound_simple = _compound_keys(compound)
        simple = simple and compound_simple and combinator == " " and len(keys) == 1
        if through_ancestor:
            ancestors.extend(keys)
    exact = simple and len(compounds) <= 2
    text = tinycss2.serialize(tokens).strip()
    lowered = text.lower()
    walks_siblings = walks_siblings or any(s in lowered for s in _POSITIONAL)
    return Rule(text, _bucket(required), required, tuple(dict.fromkeys(ancestors)), exact, _specificity(tokens), order, declarations, len(compounds) > 1, walks_siblings, len(compounds))


def media_matches(tokens: Sequence[Node]) -> bool:
    """A media query list, evaluated for a 1280x800 colour screen in light mode; unknown features match."""
    queries = [significant(q) for q in split_commas(list(tokens))]
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
    tokens = significant(block.content)
    if any(isinstance(t, ParenthesesBlock) for t in tokens):
        return _media_query(tokens)
    if len(tokens) == 3 and isinstance(tokens[0], IdentToken) and isinstance(tokens[1], LiteralToken) and tokens[1].value == ":":
        name, value = tokens[0].lower_value, tokens[2]
        size = {"width": VIEW_W, "height": VIEW_H, "device-width": VIEW_W, "device-height": VIEW_H}
        for prefix, cmp in (("min-", operator.ge), ("max-", operator.le), ("", operator.eq)):
            if name.startswith(prefix) and name[len(prefix) :] in size:
                px = length_px([value], ROOT_FONT_PX)
                return True if px is None else bool(cmp(size[name[len(prefix) :]], px))
        wanted = {"orientation": "landscape", "prefers-color-scheme": "light", "prefers-reduced-motion": "no-preference", "hover": "hover", "pointer": "fine", "scripting": "enabled"}
        if name in wanted and isinstance(value, IdentToken):
            return bool(value.lower_value == wanted[name])
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


MAX_NESTING = 16


def parse_stylesheet(css: str, wanted: frozenset[str], first_order: int = 0) -> list[Rule]:
    """Rules (one per complex selector) carrying ``wanted`` or custom-property declarations, in source order.

    Raises ``CssLimitError`` for a sheet nested deeper than ``MAX_NESTING`` rules or too deep for the parser:
    its rules cannot all be known, so the caller must not trust the page's text (fail closed).
    """
    rules: list[Rule] = []
    try:
        _collect(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True), None, rules, first_order, wanted, 0)
    except RecursionError:
        raise CssLimitError("css_nesting") from None
    return rules


def _collect(nodes: Iterable[Any], parent: list[Node] | None, rules: list[Rule], first_order: int, wanted: frozenset[str], level: int) -> None:
    if level > MAX_NESTING:
        raise CssLimitError("css_nesting")
    for node in nodes:
        if isinstance(node, QualifiedRule):
            prelude = _nest(list(node.prelude), parent)
            body = tinycss2.parse_blocks_contents(node.content, skip_comments=True, skip_whitespace=True)
            declarations = _decls(body, wanted)
            if declarations:
                for complex_selector in split_commas(prelude):
                    rule = _analyse(_strip(complex_selector), first_order + len(rules), declarations)
                    if rule is not None:
                        rules.append(rule)
            nested = [n for n in body if isinstance(n, (QualifiedRule, AtRule))]
            if nested:
                _collect(nested, prelude, rules, first_order, wanted, level + 1)
        elif isinstance(node, AtRule) and node.content is not None:
            keyword = node.lower_at_keyword
            if keyword == "media" and not media_matches(node.prelude):
                continue
            if keyword in ("media", "supports", "layer", "container", "scope", "document", "-moz-document"):
                if parent is not None:  # nested group rule: its body holds declarations for the parent selector too
                    body = tinycss2.parse_blocks_contents(node.content, skip_comments=True, skip_whitespace=True)
                    declarations = _decls(body, wanted)
                    if declarations:
                        for complex_selector in split_commas(parent):
                            rule = _analyse(_strip(complex_selector), first_order + len(rules), declarations)
                            if rule is not None:
                                rules.append(rule)
                    _collect([n for n in body if isinstance(n, (QualifiedRule, AtRule))], parent, rules, first_order, wanted, level + 1)
                else:
                    _collect(tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True), None, rules, first_order, wanted, level + 1)


def _nest(prelude: list[Node], parent: list[Node] | None) -> list[Node]:
    """CSS nesting: ``&`` stands for ``:is(parent)``; a nested selector without ``&`` is relative to the parent."""
    if parent is None:
        return prelude
    wrapped = tinycss2.parse_component_value_list(":is(" + tinycss2.serialize(parent) + ")")
    out: list[Node] = []
    for part in split_commas(prelude):
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
            return float(token.value * _UNITS[unit])
        if unit == "em":
            return float(token.value * font_px)
        if unit == "rem":
            return float(token.value * ROOT_FONT_PX)
        if unit in ("ex", "ch"):
            return float(token.value * font_px / 2)
        unit = unit.lstrip("sld") if unit[:1] in "sld" and unit[1:] in _VIEW_UNITS else unit
        if unit in _VIEW_UNITS:
            return float(token.value * _VIEW_UNITS[unit])
        return None
    if isinstance(token, NumberToken):
        return 0.0 if token.value == 0 else None
    if isinstance(token, FunctionBlock) and token.lower_name in ("calc", "min", "max", "clamp"):
        return _calc(token, font_px)
    if isinstance(token, ParenthesesBlock):
        return _sum(significant(token.content), font_px)
    return None


def _calc(fn: FunctionBlock, font_px: float) -> float | None:
    args = [_sum(significant(a), font_px) for a in split_commas(fn.arguments)]
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


def number(tokens: Sequence[Node]) -> float | None:
    if len(tokens) == 1 and isinstance(tokens[0], NumberToken):
        return float(tokens[0].value)
    if len(tokens) == 1 and isinstance(tokens[0], PercentageToken):
        return float(tokens[0].value / 100)
    return None


def ident(tokens: Sequence[Node] | None) -> str:
    if tokens and len(tokens) == 1 and isinstance(tokens[0], IdentToken):
        return str(tokens[0].lower_value)
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
    return _unit(r), _unit(g), _unit(b), _unit(color.alpha)


def _unit(value: float) -> float:
    """Clamped to 0..1; NaN (a ``none`` channel) counts as 0."""
    return 0.0 if math.isnan(value) else min(1.0, max(0.0, value))


# ---------------------------------------------------------------------------------------------------- matching


class RuleIndex:
    """Rules bucketed by a key of their rightmost compound, matched per element with a work budget.

    ``work`` counts candidate rules, declarations applied, and for each soupsieve check what it may walk
    (compounds x (depth for ancestor combinators + sibling count for positional rules)); past ``max_work`` ``CssLimitError`` is raised so the caller stops extracting at that element
    (fails closed) instead of returning unchecked text.
    """

    def __init__(self, rules: Sequence[Rule], max_work: int) -> None:
        self.stable: dict[str, list[Rule]] = {}
        self.positional: dict[str, list[Rule]] = {}
        for rule in rules:
            (self.positional if rule.positional else self.stable).setdefault(rule.key, []).append(rule)
        self.max_work = max_work
        self.work = 0
        self._compiled: dict[str, Any] = {}

    def __bool__(self) -> bool:
        return bool(self.stable or self.positional)

    def match(self, element: Any, keys: Sequence[str], ancestors: dict[str, int], depth: int, siblings: int, stable: bool = True) -> tuple[list[Rule], list[Rule]]:
        """Matching rules for ``element`` (which carries ``keys``; ``ancestors`` counts its ancestors' keys):
        (non-positional ones, or none unless ``stable``; positional ones). Non-positional results can be reused
        for a sibling with the same tag and attributes."""
        return (self._match(self.stable, element, keys, ancestors, depth, 0) if stable else [], self._match(self.positional, element, keys, ancestors, depth, siblings))

    def _match(self, buckets: dict[str, list[Rule]], element: Any, keys: Sequence[str], ancestors: dict[str, int], depth: int, siblings: int) -> list[Rule]:
        if not buckets:
            return []
        candidates = list(buckets.get("*", ()))
        for key in keys:
            candidates.extend(buckets.get(key, ()))
        if not candidates:
            return []
        present = frozenset(keys)
        matched = []
        self.work += len(candidates)
        for rule in candidates:
            if not present.issuperset(rule.required) or not all(ancestors.get(k) for k in rule.ancestor_keys):
                continue
            if rule.exact:
                matched.append(rule)
                continue
            # soupsieve walks ancestors (and siblings) once per compound at most
            self.work += rule.compounds * ((depth if rule.walks_ancestors else 0) + siblings)
            if self.work > self.max_work:
                raise CssLimitError("css_work")
            compiled = self._compiled.get(rule.selector, False)
            if compiled is False:
                try:
                    compiled = soupsieve.compile(rule.selector)
                except (soupsieve.SelectorSyntaxError, NotImplementedError, ValueError, RecursionError):
                    compiled = None
                self._compiled[rule.selector] = compiled
            if compiled is not None and compiled.match(element):
                matched.append(rule)
        self.work += sum(len(rule.declarations) for rule in matched)
        if self.work > self.max_work:
            raise CssLimitError("css_work")
        return matched
