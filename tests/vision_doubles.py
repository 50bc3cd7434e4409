"""Protocol doubles of vision servers that check images arrive in the shape the real servers require.

``OpenAIVisionDouble`` — an OpenAI-compatible ``/v1`` (``GET /models``, ``POST /chat/completions``, plain JSON or
server-sent events). Image rules, with their sources:
- OpenAI's request types (``openai`` package, ``types/chat/chat_completion_content_part_image_param.py`` and
  ``..._text_param.py``): a part is ``{"type": "text", "text": str}`` or
  ``{"type": "image_url", "image_url": {"url": str, "detail"?: ...}}``; image parts belong to user messages.
- llama.cpp's server (``tools/server/server-common.cpp``, ``handle_media`` and ``oaicompat_chat_params_parse``):
  a model without a projector answers "image input is not supported - hint: if this is unexpected, you may need
  to provide the mmproj"; the URL must split on "," into exactly two parts, the first starting with
  ``data:image/`` and ending in ``base64``; other part types are "unsupported content[].type".
- Ollama's ``/v1`` (``openai/openai.go``, ``decodeImageURL``): only jpeg, jpg, png and webp data URLs.
Stricter than any of them, on purpose: the MIME type must name the format the bytes really have (llama.cpp and
vLLM sniff the bytes and would hide a mislabel), only JPEG and PNG are taken (what agentkit promises to send:
stb_image in llama.cpp has no WEBP decoder), and the image must decode.

``OllamaVisionDouble`` — Ollama's ``/api/show`` (``capabilities``) and ``/api/chat``. Its rules follow
``api/types.go``: ``Message.Content`` is a string (an OpenAI-style list is the JSON error Go's decoder gives),
``Message.Images`` is ``[]ImageData`` with ``type ImageData []byte`` — standard base64, so a ``data:`` prefix
fails as "illegal base64 data at input byte N". A top-level ``images`` is not part of ``ChatRequest`` (Ollama
would silently drop it); the double refuses it so that the mistake shows.

Both answer a vision request with a description computed from the decoded pixels ("A 64×48 picture, mostly
red."; in Traditional Chinese when the system prompt asks for it), which proves the image arrived intact. Modes:
``ok``; ``hang`` (reads the request, never answers); ``trickle`` (sends headers, then a byte every 0.2 s forever,
so no per-read timeout ever fires). Every request body is kept in ``requests`` as ``(path, body)``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

ChatScript = Callable[[dict[str, Any]], str]

_SIGNATURES = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",)}
_NAMES_ZH = {"red": "紅色", "green": "綠色", "blue": "藍色", "white": "白色", "black": "黑色", "grey": "灰色"}


def describe_pixels(raw: bytes, chinese: bool = False) -> str:
    """A deterministic "vision model": size and dominant colour of the decoded image."""
    img = Image.open(io.BytesIO(raw)).convert("RGB")
    r, g, b = img.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # the mean colour
    if max(r, g, b) - min(r, g, b) < 40:
        colour = "white" if r > 200 else "black" if r < 55 else "grey"
    else:
        colour = ("red", "green", "blue")[(r, g, b).index(max(r, g, b))]
    w, h = img.size
    return f"一張 {w}×{h} 的圖片，主要是{_NAMES_ZH[colour]}。" if chinese else f"A {w}×{h} picture, mostly {colour}."


def _wants_chinese(messages: list[dict[str, Any]]) -> bool:
    return any(m.get("role") == "system" and "繁體中文" in str(m.get("content")) for m in messages)


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Double:
    """The HTTP plumbing both doubles share: a threaded server on 127.0.0.1, the modes, the request log."""

    def __init__(self, mode: str = "ok") -> None:
        if mode not in ("ok", "hang", "trickle"):
            raise ValueError(mode)
        self.mode = mode
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._stop = threading.Event()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                double._get(self)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                double.requests.append((self.path, body))
                double._post(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ---- replies -----------------------------------------------------------------------------------------

    @staticmethod
    def json_reply(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def stall(self, handler: BaseHTTPRequestHandler) -> bool:
        """Apply ``hang``/``trickle``; True when the request was stalled (until the client gives up or the end)."""
        if self.mode == "ok":
            return False
        try:
            if self.mode == "trickle":
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", "1000000")
                handler.end_headers()
            while not self._stop.wait(0.2):
                if self.mode == "trickle":
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
        except OSError:  # the client closed the connection: what a deadline does
            pass
        handler.close_connection = True
        return True

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        self.json_reply(handler, 404, {"error": "not found"})

    def _post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


class OpenAIVisionDouble(_Double):
    """``models`` maps model ids to whether they see images; ``chat`` answers requests without images."""

    def __init__(self, models: dict[str, bool] | None = None, chat: ChatScript | str = "A text answer.", mode: str = "ok") -> None:
        super().__init__(mode)
        self.models = models if models is not None else {"qwen3-vl": True, "chat": False}
        self.chat = chat
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/v1/models":
            self.json_reply(handler, 200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "double"} for m in self.models]})
        else:
            super()._get(handler)

    def _post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if handler.path != "/v1/chat/completions":
            self.json_reply(handler, 404, {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}})
            return
        try:
            if body.get("model") not in self.models:
                raise _Refusal(404, f"model '{body.get('model')}' not found")
            images = self.images(body)
            if images and not self.models[body["model"]]:
                raise _Refusal(500, "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj")
        except _Refusal as refusal:
            kind = {400: "invalid_request_error", 404: "not_found_error"}.get(refusal.status, "server_error")
            self.json_reply(handler, refusal.status, {"error": {"code": refusal.status, "message": refusal.message, "type": kind}})
            return
        if self.stall(handler):
            return
        if images:
            text = " ".join(describe_pixels(raw, _wants_chinese(body["messages"])) for raw in images)
        else:
            text = self.chat(body) if callable(self.chat) else self.chat
        usage = {"prompt_tokens": 17, "completion_tokens": len(text.split()), "total_tokens": 17 + len(text.split())}
        if not body.get("stream"):
            self.json_reply(handler, 200, {"id": "chatcmpl-double", "object": "chat.completion", "model": body["model"], "usage": usage,
                                           "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]})
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        half = len(text) // 2
        for i, piece in enumerate((text[:half], text[half:])):
            event = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": "stop" if i else None}]}
            handler.wfile.write(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
        handler.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n".encode())
        handler.close_connection = True

    @staticmethod
    def images(body: dict[str, Any]) -> list[bytes]:
        """The decoded images of a request, after every check in the module docstring (``_Refusal`` otherwise)."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Refusal(400, "'messages' is required")
        found = []
        for message in messages:
            role, content = message.get("role"), message.get("content")
            if role not in ("system", "user", "assistant", "tool"):
                raise _Refusal(400, f"invalid role {role!r}")
            if isinstance(content, str) or (content is None and role == "assistant"):
                continue
            if not isinstance(content, list):
                raise _Refusal(400, "Expected 'content' to be a string or an array")
            for part in content:
                kind = part.get("type")
                if kind == "text":
                    if not isinstance(part.get("text"), str) or set(part) != {"type", "text"}:
                        raise _Refusal(400, f"a text part is {{'type': 'text', 'text': str}}, got {part!r}")
                    continue
                if kind != "image_url":
                    raise _Refusal(400, "unsupported content[].type")
                if role != "user":
                    raise _Refusal(400, f"image_url parts belong to user messages, not {role}")
                found.append(_data_url_bytes(part))
        return found


def _data_url_bytes(part: dict[str, Any]) -> bytes:
    image_url = part.get("image_url")
    if set(part) != {"type", "image_url"} or not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
        raise _Refusal(400, f"an image part is {{'type': 'image_url', 'image_url': {{'url': str}}}}, got keys {sorted(part)}")
    if set(image_url) - {"url", "detail"}:
        raise _Refusal(400, f"unknown image_url field(s) {sorted(set(image_url) - {'url', 'detail'})}")
    parts = image_url["url"].split(",")
    if len(parts) != 2:
        raise _Refusal(400, "Invalid url value")
    if not parts[0].startswith("data:image/"):
        raise _Refusal(400, f"Invalid url format: {parts[0][:40]}")
    if not parts[0].endswith("base64"):
        raise _Refusal(400, "url must be base64 encoded")
    match = re.fullmatch(r"data:(image/[a-z0-9.+-]+);base64", parts[0])
    if not match or match.group(1) not in _SIGNATURES:
        raise _Refusal(400, f"'{parts[0]}': only data:image/jpeg;base64 and data:image/png;base64 are taken")
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise _Refusal(400, "the data URL's base64 does not decode") from None
    sniffed = next((mime for mime, heads in _SIGNATURES.items() if raw.startswith(heads)), "something else")
    if sniffed != match.group(1):
        raise _Refusal(400, f"the data URL says {match.group(1)} but the bytes are {sniffed}")
    try:
        Image.open(io.BytesIO(raw)).load()
    except Exception as exc:
        raise _Refusal(400, f"failed to decode image: {exc}") from None
    return raw


#: Ollama model → capabilities, as /api/show lists them
OLLAMA_MODELS = {"qwen2.5vl:latest": ["completion", "vision"], "llama3.2:latest": ["completion", "tools"]}


class OllamaVisionDouble(_Double):
    def __init__(self, chat: ChatScript | str = "A text answer.", mode: str = "ok") -> None:
        super().__init__(mode)
        self.chat = chat
        self.url = f"http://127.0.0.1:{self.port}"

    def _post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        model = body.get("model", "")
        tag = model if ":" in model else model + ":latest"
        if tag not in OLLAMA_MODELS:
            self.json_reply(handler, 404, {"error": f"model '{model}' not found"})
            return
        if handler.path == "/api/show":
            self.json_reply(handler, 200, {"modelfile": "", "parameters": "", "template": "", "details": {"format": "gguf"}, "model_info": {},
                                           "capabilities": OLLAMA_MODELS[tag]})
            return
        if handler.path != "/api/chat":
            self.json_reply(handler, 404, {"error": "not found"})
            return
        try:
            images = self.images(body)
        except _Refusal as refusal:
            self.json_reply(handler, refusal.status, {"error": refusal.message})
            return
        if images and "vision" not in OLLAMA_MODELS[tag]:
            self.json_reply(handler, 500, {"error": f"{model} has no vision capability"})
            return
        if self.stall(handler):
            return
        text = " ".join(describe_pixels(raw, _wants_chinese(body["messages"])) for raw in images) if images else (
            self.chat(body) if callable(self.chat) else self.chat)
        final = {"model": model, "created_at": "2026-01-01T00:00:00Z", "done": True, "done_reason": "stop", "prompt_eval_count": 17,
                 "eval_count": len(text.split()), "total_duration": 1, "load_duration": 1, "prompt_eval_duration": 1, "eval_duration": 1}
        if not body.get("stream", True):
            self.json_reply(handler, 200, {**final, "message": {"role": "assistant", "content": text}})
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Connection", "close")
        handler.end_headers()
        piece = {"model": model, "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant", "content": text}, "done": False}
        handler.wfile.write((json.dumps(piece, ensure_ascii=False) + "\n").encode())
        handler.wfile.write((json.dumps({**final, "message": {"role": "assistant", "content": ""}}) + "\n").encode())
        handler.close_connection = True

    @staticmethod
    def images(body: dict[str, Any]) -> list[bytes]:
        if "images" in body:
            raise _Refusal(400, "/api/chat has no top-level images: put them on a message (Message.images)")
        found = []
        for message in body.get("messages") or []:
            if not isinstance(message.get("content", ""), str):
                kind = "array" if isinstance(message["content"], list) else "object"
                raise _Refusal(400, f"json: cannot unmarshal {kind} into Go struct field Message.messages.content of type string")
            for value in message.get("images") or []:
                if not isinstance(value, str):
                    raise _Refusal(400, "json: cannot unmarshal into Go struct field Message.messages.images of type api.ImageData")
                bad = next((pos for pos, ch in enumerate(value) if not (ch.isascii() and (ch.isalnum() or ch in "+/="))), None)
                try:
                    if bad is not None:
                        raise binascii.Error
                    raw = base64.b64decode(value, validate=True)
                except binascii.Error:
                    raise _Refusal(400, f"illegal base64 data at input byte {bad if bad is not None else len(value)}") from None
                found.append(raw)
        return found
