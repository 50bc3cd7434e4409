"""Tools an agent can call: a name, a description, a JSON schema for the arguments, and a Python function.

``Tool.from_function(fn)`` builds one from a typed function; built-ins: ``calculator`` (safe, bounded
arithmetic), ``web_search_tool(backend)``, ``retriever_tool(kb)``. A tool whose output comes from the open web
is ``untrusted``: the agent fences it as data that must not be obeyed.
"""

from __future__ import annotations

import ast
import inspect
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    #: returns text from the open web (search snippets, pages): shown to the model as untrusted data
    untrusted: bool = False

    def __call__(self, **arguments: Any) -> Any:
        return self.fn(**arguments)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None, description: str | None = None, untrusted: bool = False) -> Tool:
        props, required = {}, []
        for pname, param in inspect.signature(fn).parameters.items():
            annotation = param.annotation if param.annotation is not inspect.Parameter.empty else str
            if isinstance(annotation, str):
                annotation = {"int": int, "float": float, "bool": bool}.get(annotation, str)
            props[pname] = {"type": _JSON_TYPES.get(annotation, "string")}
            if param.default is inspect.Parameter.empty:
                required.append(pname)
        doc = (description or inspect.getdoc(fn) or fn.__name__).strip().splitlines()[0]
        return cls(name or fn.__name__, doc, {"type": "object", "properties": props, "required": required}, fn, untrusted)


_OPS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod, ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos,
}
_FUNCS: dict[str, Callable[..., Any]] = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "sin": math.sin, "cos": math.cos, "abs": abs, "round": round}
# Bounds that keep every step of a calculation instant: Python integers are unbounded, so ((9**999)**999)**999
# would otherwise run for hours. Every integer (literal, operand, result) stays within _MAX_DIGITS digits.
_MAX_CHARS = 500
_MAX_DIGITS = 1000
_MAX_BITS = int(_MAX_DIGITS * math.log2(10)) + 1
_MAX_EXPONENT = 1000
_MAX_ROUND_DIGITS = 100


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise ValueError(f"number too large: more than {_MAX_DIGITS} digits")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > _MAX_EXPONENT:
        raise ValueError(f"exponent too large (at most {_MAX_EXPONENT})")
    # Estimate before computing: |base|**e has about e * bits(base) bits.
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and (abs(base).bit_length() - 1) * exponent > _MAX_BITS:
        raise ValueError(f"number too large: more than {_MAX_DIGITS} digits")
    return base**exponent


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return _bounded(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        op = _power if isinstance(node.op, ast.Pow) else _OPS[type(node.op)]
        return _bounded(op(left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Name) and node.id in ("pi", "e"):
        return getattr(math, node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        args = [_evaluate(a) for a in node.args]
        if node.func.id == "round" and len(args) > 1 and abs(args[1]) > _MAX_ROUND_DIGITS:
            raise ValueError(f"round() to at most {_MAX_ROUND_DIGITS} digits")  # round(1, -10**9) computes 10**(10**9)
        return _bounded(_FUNCS[node.func.id](*args))
    raise ValueError(f"not allowed in an arithmetic expression: {ast.dump(node)[:60]}")


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression, e.g. (20 + 30) * 2 or sqrt(2)."""
    if len(expression) > _MAX_CHARS:
        raise ValueError(f"expression too long (at most {_MAX_CHARS} characters)")
    try:
        value = _evaluate(ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval"))
    except (OverflowError, ZeroDivisionError, RecursionError, MemoryError) as exc:
        raise ValueError(f"cannot compute {expression!r}: {exc or type(exc).__name__}") from None
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


calculator = Tool.from_function(calculate, "calculator")


def web_search_tool(backend: Any, n: int = 3) -> Tool:
    def web_search(query: str) -> str:
        """Search the web; returns titles, URLs and snippets."""
        return "\n".join(f"{r.rank}. {r.title} ({r.url}): {r.snippet}" for r in backend.search(query, n)) or "no results"

    return Tool.from_function(web_search, untrusted=True)


def retriever_tool(retriever: Any, k: int = 3, untrusted: bool = False) -> Tool:
    """A look-up tool over ``retriever``; pass ``untrusted=True`` when it reaches the web (a WebRetriever)."""

    def search_documents(query: str) -> str:
        """Look up passages in the local knowledge base."""
        return "\n\n".join(f"[{c.label}] {c.text}" for c in retriever.retrieve(query, k)) or "nothing found"

    return Tool.from_function(search_documents, untrusted=untrusted)
