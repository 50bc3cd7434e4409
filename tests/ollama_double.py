"""A protocol double of the Ollama server: /api/chat, /api/generate, /api/embed, /api/show and /api/tags as
documented in Ollama's API reference (NDJSON streaming, done/done_reason, *_count fields). It answers
from a script, not a model, so tests exercise the real ``ollama`` client's wire handling.

Thinking follows Ollama's server/routes.go: ``/api/show`` lists each model's ``capabilities``; ``think`` (true or
a level) on a model without "thinking" is answered 400 ``"<model>" does not support thinking``; a thinking model
thinks unless ``think`` is false, and streams its thoughts in ``message.thinking`` / ``thinking`` before the answer."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CAPABILITIES = {"tiny:latest": ["completion"], "thinker:latest": ["completion", "thinking"], "embed:latest": ["embedding"]}
MODELS = set(CAPABILITIES)


class OllamaDouble:
    def __init__(self, reply: str = "Hello from the double.", delay: float = 0.0, thinking: str = "Let me think this through.") -> None:
        self.reply = reply
        self.thinking = thinking
        self.delay = delay
        self.requests: list[tuple[str, dict[str, Any]]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    self._json(200, {"models": [{"name": m, "model": m} for m in sorted(MODELS)]})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                double.requests.append((self.path, body))
                model = body.get("model", "")
                tag = model if ":" in model else model + ":latest"
                if tag not in MODELS:
                    self._json(404, {"error": f"model '{model}' not found"})
                    return
                if self.path == "/api/show":
                    self._json(200, {"modelfile": "", "parameters": "", "template": "{{ .Prompt }}", "details": {"format": "gguf", "family": "llama"},
                                     "model_info": {}, "capabilities": CAPABILITIES[tag]})
                    return
                if self.path == "/api/embed":
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    vectors = [[float(len(t) % 7 + 1), float(sum(map(ord, t)) % 11 + 1), 1.0] for t in inputs]
                    self._json(200, {"model": model, "embeddings": vectors, "prompt_eval_count": len(inputs)})
                    return
                if self.path not in ("/api/chat", "/api/generate"):
                    self._json(404, {"error": "not found"})
                    return
                think = body.get("think")
                thinks = "thinking" in CAPABILITIES[tag]
                if not thinks and think not in (None, False):
                    self._json(400, {"error": f"{json.dumps(model)} does not support thinking"})
                    return
                thoughts = double.thinking.split(" ") if thinks and think is not False else []
                words = double.reply.split(" ")
                limit = body.get("options", {}).get("num_predict", 10**6)
                done_reason = "length" if len(words) > limit else "stop"
                words = words[:limit]
                pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
                key = "message" if self.path == "/api/chat" else "response"

                def part(text: str, thought: str = "") -> dict[str, Any]:
                    out: dict[str, Any] = {"model": model, "created_at": "2026-01-01T00:00:00Z", key: {"role": "assistant", "content": text} if key == "message" else text, "done": False}
                    if thought:
                        if key == "message":
                            out["message"]["thinking"] = thought
                        else:
                            out["thinking"] = thought
                    return out

                final = {**part(""), "done": True, "done_reason": done_reason, "prompt_eval_count": 11, "eval_count": len(pieces),
                         "total_duration": 1, "load_duration": 1, "prompt_eval_duration": 1, "eval_duration": 1}
                thought_pieces = [w if i == 0 else " " + w for i, w in enumerate(thoughts)]
                if not body.get("stream", True):
                    whole = part("".join(pieces), "".join(thought_pieces))
                    self._json(200, {**final, key: whole[key], **({"thinking": whole["thinking"]} if "thinking" in whole else {})})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                for t in thought_pieces:
                    time.sleep(double.delay)
                    self.wfile.write((json.dumps(part("", t)) + "\n").encode())
                    self.wfile.flush()
                for p in pieces:
                    time.sleep(double.delay)
                    self.wfile.write((json.dumps(part(p)) + "\n").encode())
                    self.wfile.flush()
                self.wfile.write((json.dumps(final) + "\n").encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OllamaDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
