"""A protocol double of an OpenAI-compatible chat server (``POST /v1/chat/completions``, streamed as server-sent
events the way OpenAI streams them: tool calls with id and name first, arguments in fragments, then ``[DONE]``).
It answers from a script, not a model; every request body is kept in ``bodies``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: a script: request body → (deltas to stream, finish_reason)
Script = Callable[[dict[str, Any]], tuple[list[dict[str, Any]], str]]


def calculator_then_answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Asks for calculator(expression="20+30") until a tool result is in the conversation, then answers."""
    if any(m["role"] == "tool" for m in body["messages"]):
        return [{"content": "The answer is "}, {"content": "50."}], "stop"
    return [
        {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"expression": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"20+30"}'}}]},
    ], "tool_calls"


def text(reply: str) -> Script:
    """Always answers ``reply``, in two pieces."""
    half = len(reply) // 2
    return lambda body: ([{"content": reply[:half]}, {"content": reply[half:]}], "stop")


class OpenAIDouble:
    def __init__(self, script: Script = calculator_then_answer) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                bodies.append(body)
                deltas, finish = script(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, delta in enumerate(deltas):
                    event = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish if i == len(deltas) - 1 else None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
