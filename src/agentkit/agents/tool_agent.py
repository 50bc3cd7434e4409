"""A tool-using agent: the model either calls a tool or answers, step by step, within a bounded number of steps.

Backends with native tool calling (OpenAI-compatible servers) get the tools as ``tools`` and answer with
``tool_calls``; the others use a JSON protocol, constrained by a schema where the backend supports it (a
grammar on llama.cpp): ``{"tool": NAME, "arguments": {...}}`` or ``{"answer": "..."}``. Tool results (cut to ``max_tool_chars``) and
tool errors go back to the model as observations, fenced like context blocks, with a header that carries a
per-run random mark and, for tools that return web content (``Tool.untrusted``), the untrusted note; every
call is in the trace. Each call has ``tool_timeout`` seconds: a tool that hangs becomes an error observation
and the agent goes on. When the steps run out, the model must answer from what it has.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit.agents.llm_agent import block_header, fence, new_nonce
from agentkit.errors import ConfigError
from agentkit.llm import LLM, GenerationParams, load_llm
from agentkit.llm.base import Message
from agentkit.structured import extract_json
from agentkit.tools.functions import Tool

SYSTEM = (
    "You are an assistant that can use tools. Reply with JSON only. To use a tool: "
    '{{"tool": "<name>", "arguments": {{...}}}}. To answer: {{"answer": "<your answer>"}}. '
    "Use a tool when it helps; answer as soon as you can.\nTools:\n{tools}"
)


@dataclass(frozen=True)
class ToolCall:
    tool: str
    arguments: dict[str, Any]
    result: str
    error: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": self.arguments, "result": self.result, "error": self.error, "seconds": round(self.seconds, 4)}


@dataclass
class ToolRun:
    answer: str
    calls: list[ToolCall] = field(default_factory=list)
    steps: int = 0
    stopped: str = "answer"  # answer | max_steps


def _schema(tools: Sequence[Tool]) -> dict[str, Any]:
    """Either a call of one tool with *its* arguments (so a grammar-constrained backend cannot invent a parameter
    or copy the schema into the arguments), or an answer; never an empty object."""
    calls = [{"type": "object", "properties": {"tool": {"const": t.name}, "arguments": t.parameters or {"type": "object"}},
              "required": ["tool", "arguments"]} for t in tools]
    return {"anyOf": [*calls, {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}]}


def parse_action(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (read defensively: fences, prose around it); free text counts as an answer."""
    data = extract_json(text, dict)
    return data if data is not None else {"answer": text.strip()}


class ToolAgent:
    def __init__(self, llm: LLM | str | None, tools: Sequence[Tool], max_steps: int = 5, max_tool_chars: int = 2000, params: GenerationParams | None = None,
                 native: bool = True, tool_timeout: float = 30.0) -> None:
        if max_steps < 1:
            raise ConfigError(f"max_steps={max_steps} must be >= 1", "allow at least one step")
        if not tool_timeout > 0 or max_tool_chars < 1:
            raise ConfigError(f"tool_timeout={tool_timeout} and max_tool_chars={max_tool_chars} must be positive", "pass seconds > 0 and a character cap >= 1")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate tool names: {names}", "give every tool its own name")
        self.llm = load_llm(llm)
        self.tools = {t.name: t for t in tools}
        self.max_steps = max_steps
        self.max_tool_chars = max_tool_chars
        #: seconds each tool call may take; a call that runs over is abandoned (a thread cannot be killed)
        self.tool_timeout = tool_timeout
        self.params = (params or GenerationParams(max_tokens=256)).replace(json_schema=_schema(tools) if tools else None)
        #: use the backend's native tool calling when it has one (else the JSON protocol)
        self.native = native

    def _run_native(self, question: str) -> ToolRun:
        """Native tool calling: the model returns ``tool_calls``; results go back as ``tool`` messages."""
        params = self.params.replace(json_schema=None, tools=tuple(t.spec() for t in self.tools.values()))
        messages = [Message("system", "You are an assistant that can use tools. Call a tool when it helps; answer as soon as you can."), Message("user", question)]
        run = ToolRun("")
        nonce = new_nonce(question)
        for step in range(1, self.max_steps + 1):
            run.steps = step
            completion = self.llm.generate(messages, params)
            if not completion.tool_calls:
                run.answer = completion.text.strip()
                return run
            wire = tuple({"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}} for c in completion.tool_calls)
            messages.append(Message("assistant", completion.text, tool_calls=wire))
            for c in completion.tool_calls:
                call = self._call(c["name"], c["arguments"])
                run.calls.append(call)
                # The tool role already frames a result; web content is fenced and labelled on top of it.
                untrusted = call.tool in self.tools and self.tools[call.tool].untrusted
                content = self._observation(call, nonce, len(run.calls)) if untrusted else call.result
                messages.append(Message("tool", content, tool_call_id=c["id"]))
        run.stopped = "max_steps"
        messages.append(Message("user", "No more tool calls. Answer the question now from the tool results."))
        run.answer = self.llm.generate(messages, params.replace(tools=None)).text.strip()
        return run

    def run(self, question: str) -> ToolRun:
        if self.llm.supports_tools and self.tools and self.native:
            return self._run_native(question)
        catalog = "\n".join(json.dumps(t.spec(), ensure_ascii=False) for t in self.tools.values())
        messages = [Message("system", SYSTEM.format(tools=catalog)), Message("user", question)]
        run = ToolRun("")
        nonce = new_nonce(question)
        for step in range(1, self.max_steps + 1):
            run.steps = step
            reply = self.llm.generate(messages, self.params).text
            action = parse_action(reply)
            name = action.get("tool")
            if not name or ("answer" in action and name not in self.tools):
                run.answer = str(action.get("answer", reply)).strip()
                return run
            call = self._call(str(name), action.get("arguments") or {})
            run.calls.append(call)
            messages += [Message("assistant", reply), Message("user", self._observation(call, nonce, len(run.calls)))]
        # Out of steps: one last turn without tools.
        run.stopped = "max_steps"
        messages.append(Message("user", "No more tool calls. Answer the question now from the observations."))
        final = self.llm.generate(messages, self.params.replace(json_schema={"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]})).text
        run.answer = str(parse_action(final).get("answer", final)).strip()
        return run

    def _observation(self, call: ToolCall, nonce: str, index: int) -> str:
        """A tool result as the model sees it: fenced, with a header the result itself cannot forge."""
        tool = self.tools.get(call.tool)
        label = f"tool {call.tool}{' (error)' if call.error else ''}"
        header = block_header(f"observation {index}", label, bool(tool and tool.untrusted), nonce)
        mark = fence(call.result)
        return f"Observation from {call.tool}{' (error)' if call.error else ''}:\n{mark}\n{header}\n{call.result}\n{mark}"

    def _call(self, name: str, arguments: Any) -> ToolCall:
        started = time.perf_counter()
        tool = self.tools.get(name)
        if tool is None:
            return ToolCall(name, {}, f"unknown tool '{name}'; available: {', '.join(self.tools)}", True, 0.0)
        if not isinstance(arguments, dict):
            return ToolCall(name, {}, "arguments must be a JSON object", True, 0.0)
        result, error = _call_with_timeout(tool, arguments, self.tool_timeout)
        if len(result) > self.max_tool_chars:
            result = result[: self.max_tool_chars] + f"\n[... cut: {len(result) - self.max_tool_chars} more characters]"
        return ToolCall(name, arguments, result, error, time.perf_counter() - started)


def _call_with_timeout(tool: Tool, arguments: dict[str, Any], timeout: float) -> tuple[str, bool]:
    """(result text, is_error). The tool runs in a daemon thread that is abandoned if it overruns: Python cannot
    kill a thread, but the agent stops waiting, and a daemon thread never holds up the interpreter's exit.
    (Tools are closures over live objects — retrievers, clients — so a process, which could be killed, would
    not have them.)"""
    outcome: list[tuple[str, bool]] = []
    done = threading.Event()

    def work() -> None:
        try:
            outcome.append((str(tool(**arguments)), False))
        except Exception as exc:
            outcome.append((f"{type(exc).__name__}: {exc}", True))
        finally:
            done.set()

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=f"agentkit-tool-{tool.name}", daemon=True).start()
    if not done.wait(timeout) or not outcome:
        return f"TimeoutError: tool '{tool.name}' did not answer within {timeout:g}s", True
    return outcome[0]
