"""Tools an agent can call: a name, a description, a JSON schema for the arguments, and a Python function.

``Tool.from_function(fn)`` builds one from a typed function; built-ins: ``calculator`` (safe arithmetic),
``web_search_tool(backend)``, ``retriever_tool(kb)``.
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

    def __call__(self, **arguments: Any) -> Any:
        return self.fn(**arguments)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None, description: str | None = None) -> Tool:
        props, required = {}, []
        for pname, param in inspect.signature(fn).parameters.items():
            annotation = param.annotation if param.annotation is not inspect.Parameter.empty else str
            if isinstance(annotation, str):
                annotation = {"int": int, "float": float, "bool": bool}.get(annotation, str)
            props[pname] = {"type": _JSON_TYPES.get(annotation, "string")}
            if param.default is inspect.Parameter.empty:
                required.append(pname)
        doc = (description or inspect.getdoc(fn) or fn.__name__).strip().splitlines()[0]
        return cls(name or fn.__name__, doc, {"type": "object", "properties": props, "required": required}, fn)


_OPS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod, ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos,
}
_FUNCS: dict[str, Callable[..., Any]] = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "sin": math.sin, "cos": math.cos, "abs": abs, "round": round}


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000:
            raise ValueError("exponent too large")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Name) and node.id in ("pi", "e"):
        return getattr(math, node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        return _FUNCS[node.func.id](*[_evaluate(a) for a in node.args])
    raise ValueError(f"not allowed in an arithmetic expression: {ast.dump(node)[:60]}")


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression, e.g. (20 + 30) * 2 or sqrt(2)."""
    value = _evaluate(ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval"))
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


calculator = Tool.from_function(calculate, "calculator")


def web_search_tool(backend: Any, n: int = 3) -> Tool:
    def web_search(query: str) -> str:
        """Search the web; returns titles, URLs and snippets."""
        return "\n".join(f"{r.rank}. {r.title} ({r.url}): {r.snippet}" for r in backend.search(query, n)) or "no results"

    return Tool.from_function(web_search)


def retriever_tool(retriever: Any, k: int = 3) -> Tool:
    def search_documents(query: str) -> str:
        """Look up passages in the local knowledge base."""
        return "\n\n".join(f"[{c.label}] {c.text}" for c in retriever.retrieve(query, k)) or "nothing found"

    return Tool.from_function(search_documents)
