"""What a browser would not paint: the cascade of the properties that can hide content, and the rule.

Declarations come from ``agentkit.loaders.css`` (inline styles, ``<style>`` rules, presentational hints); only
``PROPERTIES`` are cascaded, plus custom properties so ``var()`` resolves.

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
from dataclasses import dataclass
from typing import Any

import tinycss2
from tinycss2.ast import (
    DimensionToken,
    FunctionBlock,
    IdentToken,
    LiteralToken,
    Node,
    NumberToken,
    PercentageToken,
)

from agentkit.loaders.css import (
    RGBA,
    ROOT_FONT_PX,
    Decl,
    ident,
    length_px,
    number,
    parse_color,
    significant,
    split_commas,
)

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
_FONT_KEYWORDS = {"xx-small": 9.0, "x-small": 10.0, "small": 13.0, "medium": 16.0, "large": 18.0, "x-large": 24.0, "xx-large": 32.0, "xxx-large": 48.0}
# Elements that make a box by default: sizes and overflow apply to them (unknown elements are inline, as in browsers).
BOX_TAGS = frozenset(
    "address article aside blockquote body center dd details dialog dir div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hgroup hr html img input legend li listing main menu ol optgroup option p plaintext pre "
    "search section summary table tbody td tfoot th thead tr ul xmp caption".split()
)

Key = tuple[int, int, int, int, int, int, int]  # (important, origin, specificity a, b, c, rule order, declaration order)
PROPERTIES = RELEVANT | frozenset(SHORTHANDS)


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


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: a chain is shared, never rebuilt
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
            args = split_commas(token.arguments)
            name = "".join(t.value for t in significant(args[0]) if isinstance(t, IdentToken))
            found = env.get(name) if env is not None else None
            if found is not None:
                resolved = _substitute(found, env, depth + 1)
            elif len(args) > 1:
                fallback: list[Node] = []
                for i, part in enumerate(args[1:]):
                    fallback.extend(([LiteralToken(0, 0, ",")] if i else []) + significant(part))
                resolved = _substitute(fallback, env, depth + 1)
            else:
                resolved = None
            if resolved is None:
                return None
            out.extend(resolved)
        elif (isinstance(token, FunctionBlock) and any(isinstance(t, FunctionBlock) for t in token.arguments)) or (
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
    color: RGBA = (0.0, 0.0, 0.0, 1.0)
    text_fill: RGBA | None = None  # -webkit-text-fill-color, inherited separately; None: the colour
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
            fill = self.text_fill or self.color
            if fill[3] < MIN_ALPHA:
                return "transparent colour"
            if self.backdrop is not None and contrast(_over(fill, self.backdrop), self.backdrop) < MIN_CONTRAST:
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
    ox, oy = ident(get("overflow-x")) or "visible", ident(get("overflow-y")) or "visible"
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
        args = [significant(a) for a in split_commas(fn.arguments)]
        if len(args) == 1 and len(args[0]) > 1:  # space-separated arguments
            args = [[t] for t in args[0]]
        name = fn.lower_name
        if name in ("scale", "scalex", "scaley", "scale3d") and any(number(a) == 0 for a in args):
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
            m = [number(a) for a in args]
            if all(v is not None for v in m[:4]) and m[0] * m[3] - m[1] * m[2] == 0:  # type: ignore[operator]
                return "transform: degenerate matrix"
            if (m[4] is not None and m[4] <= -OFFSCREEN_PX) or (m[5] is not None and m[5] <= -OFFSCREEN_PX):
                return "transform: off-screen"
    return None


def _degrees(token: DimensionToken) -> float | None:
    factor = {"deg": 1.0, "rad": 180 / math.pi, "grad": 0.9, "turn": 360.0}.get(token.lower_unit)
    return None if factor is None else token.value * factor


def _clip_path_hidden(tokens: list[Node] | None) -> str | None:
    if not tokens or not isinstance(tokens[0], FunctionBlock):
        return None
    fn = tokens[0]
    args = significant(fn.arguments)
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
        points = [tinycss2.serialize(p).strip() for p in split_commas(fn.arguments) if not (len(significant(p)) == 1 and isinstance(significant(p)[0], IdentToken))]
        if len(set(points)) <= 1:
            return "clip-path: empty polygon"
    return None


def _clip_hidden(tokens: list[Node] | None, font_px: float) -> str | None:
    if not tokens or not isinstance(tokens[0], FunctionBlock) or tokens[0].lower_name != "rect":
        return None
    parts = [t for t in significant(tokens[0].arguments) if not (isinstance(t, LiteralToken) and t.value == ",")]
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
    present = {long for name in cascade.winners for long in SHORTHANDS.get(name, (name,))}
    cache: dict[str, list[Node] | None] = {}

    def get(name: str) -> list[Node] | None:
        if name not in present:
            return None
        if name not in cache:
            cache[name] = cascade.value(name, env)
        return cache[name]

    font_px = _font_px(get("font-size"), parent.font_px)
    display = ident(get("display"))
    if display == "none":
        return ElementStyle("display:none", parent)
    if ident(get("content-visibility")) == "hidden":
        return ElementStyle("content-visibility:hidden", parent)
    opacity = parent.opacity
    own = number(get("opacity") or [])
    if own is not None:
        opacity *= min(1.0, max(0.0, own))
    for fn in get("filter") or []:
        if isinstance(fn, FunctionBlock) and fn.lower_name == "opacity":
            value = number(significant(fn.arguments))
            if value is not None:
                opacity *= min(1.0, max(0.0, value))
    if opacity < MIN_OPACITY:
        return ElementStyle("opacity", parent)
    position = ident(get("position")) or "static"
    floated = ident(get("float")) not in ("", "none")
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
    if scale and any(number([t]) == 0 for t in scale):
        return ElementStyle("scale: zero", parent)
    translate = get("translate")
    if translate and any((px := length_px([t], font_px)) is not None and px <= -OFFSCREEN_PX for t in translate[:2]):
        return ElementStyle("translate: off-screen", parent)
    return ElementStyle(None, _inherit(get, parent, font_px, opacity, env))


def _inherit(get: Any, parent: TextStyle, font_px: float, opacity: float, env: Env | None) -> TextStyle:
    visibility = ident(get("visibility"))
    visible = parent.visible if visibility in ("", "inherit", "unset") else visibility == "visible"
    indent = parent.indent_px
    indent_tokens = get("text-indent")
    if indent_tokens:
        px = length_px(indent_tokens[:1], font_px)
        indent = px if px is not None else (0.0 if ident(indent_tokens[:1]) in ("initial", "0") else indent)
    parsed = parse_color(get("color"))
    color = parsed if isinstance(parsed, tuple) else parent.color
    parsed = parse_color(get("-webkit-text-fill-color"))
    text_fill = parsed if isinstance(parsed, tuple) else None if parsed == "currentcolor" else parent.text_fill
    backdrop, clip_text = parent.backdrop, parent.clip_text
    image = get("background-image")
    if image and ident(image) != "none":
        backdrop = None
    clip = ident(get("background-clip")) or ident(get("-webkit-background-clip"))
    if clip == "text":
        clip_text = True
    bg = parse_color(get("background-color"))
    if isinstance(bg, str):
        bg = color if bg == "currentcolor" else None
    if isinstance(bg, tuple) and bg[3] > 0 and clip != "text":
        if bg[3] >= 0.999:
            backdrop = bg[:3]
        elif backdrop is not None:
            backdrop = _over(bg, backdrop)
    child = TextStyle(font_px, visible, color, text_fill, backdrop, clip_text, indent, opacity, env)
    return parent if child == parent else child


