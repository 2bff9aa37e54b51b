"""A small OpenAI-compatible HTTP server for tests (127.0.0.1, a real socket, real SSE).

It speaks `POST /v1/chat/completions` (plain JSON and `stream=True` server-sent
events, with usage when `stream_options.include_usage` is set) and `GET /v1/models`.
Answers are scripted: queue `Reply` objects (per model name or for any model); with
none queued it answers `default(request)` (by default an echo of the last user message).
A reply can be an HTTP error with headers (429 + Retry-After, 500), slow (a delay
before the first byte or between chunks), malformed (a body that is not JSON), JSON
text (for JSON mode), or tool calls (`tool_calls=[{"name": ..., "arguments": {...}}]`).
Every request is recorded (`requests`: the JSON body, the headers and the path).

    with OpenAIServer() as srv:
        srv.script(Reply(content="hello"), model="m1")
        client = openai.OpenAI(base_url=srv.base_url, api_key="x")
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.quiet_http import QuietThreadingHTTPServer


@dataclass
class Reply:
    """One scripted answer."""

    content: str | None = "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the error message of a non-200 answer
    delay: float = 0.0  # seconds before the answer starts
    chunk_delay: float = 0.0  # seconds between streamed chunks
    chunks: int | None = None  # how many pieces a streamed answer is cut into (default: per word)
    pieces: list[str] | None = None  # the exact streamed pieces (content is their join)
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] | None = None  # [{"name": ..., "arguments": {...}, "id": ...}]
    usage: dict[str, int] | None = None  # default: counted from the words
    raw: str | None = None  # send this body as is (malformed JSON)
    wait: threading.Event | None = None  # block until set before answering (hot-swap tests)
    stamps: list[float] | None = None  # time.time() of each streamed content chunk, appended as sent


@dataclass
class Request:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float = field(default_factory=time.monotonic)

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def last_user(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "user":
                c = m.get("content")
                return c if isinstance(c, str) else json.dumps(c)
        return ""


def _words(text: str) -> int:
    return max(1, len(text.split()))


def echo(req: Request) -> Reply:
    return Reply(content=f"echo: {req.last_user}")


class OpenAIServer:
    """The server; a context manager that serves on a thread until closed."""

    def __init__(self, default: Callable[[Request], Reply] = echo, models: list[str] | None = None):
        self.default = default
        self.models = models or []
        self.requests: list[Request] = []
        self._queues: dict[str | None, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._httpd = QuietThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- scripting --------------------------------------------------------------

    def script(self, *replies: Reply, model: str | None = None) -> None:
        """Queue replies for one model (or, with model=None, for any model)."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(replies)

    def _next(self, req: Request) -> Reply:
        with self._lock:
            for key in (req.model, None):
                q = self._queues.get(key)
                if q:
                    return q.popleft()
        return self.default(req)

    def requests_for(self, model: str) -> list[Request]:
        return [r for r in self.requests if r.model == model]

    # -- lifecycle --------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP -------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Small SSE writes must not wait for delayed ACKs (Nagle): stream as a real server does.
                import socket

                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model", "owned_by": "test"} for m in server.models]
                    self._send_json(200, {"object": "list", "data": data})
                else:
                    self._send_json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send_json(400, {"error": {"message": "request body is not JSON"}})
                    return
                req = Request(self.path, body, {k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server.requests.append(req)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server._next(req)
                if reply.wait is not None:
                    reply.wait.wait(30)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    err = {"error": {"message": reply.error or f"status {reply.status}",
                                     "type": "test_error", "code": reply.status}}
                    self._send_json(reply.status, err, reply.headers)
                    return
                if reply.raw is not None:
                    data = reply.raw.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if body.get("stream"):
                    self._stream(req, reply)
                else:
                    self._send_json(200, self._completion(req, reply), reply.headers)

            def _usage(self, req: Request, reply: Reply) -> dict[str, int]:
                if reply.usage is not None:
                    return reply.usage
                prompt = sum(_words(str(m.get("content") or "")) for m in req.messages)
                out = _words(reply.content or "") if reply.content else 0
                return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}

            def _tool_calls(self, reply: Reply) -> list[dict[str, Any]]:
                return [
                    {"id": tc.get("id", f"call_{i}"), "type": "function",
                     "function": {"name": tc["name"], "arguments": json.dumps(tc.get("arguments", {}))}}
                    for i, tc in enumerate(reply.tool_calls or [])
                ]

            def _completion(self, req: Request, reply: Reply) -> dict[str, Any]:
                message: dict[str, Any] = {"role": "assistant", "content": reply.content}
                finish = reply.finish_reason
                if reply.tool_calls:
                    message["tool_calls"] = self._tool_calls(reply)
                    finish = "tool_calls" if finish == "stop" else finish
                return {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": req.model or "test",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": self._usage(req, reply),
                }

            def _chunk(self, req: Request, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
                return {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": req.model or "test",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

            def _event(self, obj: Any) -> None:
                data = obj if isinstance(obj, str) else json.dumps(obj)
                payload = f"data: {data}\n\n".encode()
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()

            def _stream(self, req: Request, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self._event(self._chunk(req, {"role": "assistant", "content": ""}, None))
                text = reply.content or ""
                if reply.pieces is not None:
                    text = "".join(reply.pieces)
                if text:
                    if reply.pieces is not None:
                        pieces = list(reply.pieces)
                    elif reply.chunks:
                        size = max(1, -(-len(text) // reply.chunks))
                        pieces = [text[i:i + size] for i in range(0, len(text), size)]
                    else:
                        pieces = [w for w in text.split(" ")]
                        pieces = [p + (" " if i < len(pieces) - 1 else "") for i, p in enumerate(pieces)]
                    for piece in pieces:
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                        if reply.stamps is not None:
                            reply.stamps.append(time.time())
                        self._event(self._chunk(req, {"content": piece}, None))
                finish = reply.finish_reason
                if reply.tool_calls:
                    calls = self._tool_calls(reply)
                    for i, call in enumerate(calls):
                        self._event(self._chunk(req, {"tool_calls": [{"index": i, **call}]}, None))
                    finish = "tool_calls" if finish == "stop" else finish
                self._event(self._chunk(req, {}, finish))
                if (req.body.get("stream_options") or {}).get("include_usage"):
                    usage = self._chunk(req, {}, None)
                    usage["choices"] = []
                    usage["usage"] = self._usage(req, reply)
                    self._event(usage)
                self._event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler


def write_config(path: Any, srv: OpenAIServer, *, models: tuple[str, ...] = ("m1", "m2"),
                 default: str | None = "m1", fallbacks: tuple[str, ...] = ("m2",), planner: str | None = None,
                 api_key_env: str | None = None, retries: int = 1, timeout: float = 10.0,
                 extra: str = "") -> Any:
    """A config whose `models:` section points at this server (prices: 1 and 2 per million tokens)."""
    key = f", api_key_env: {api_key_env}" if api_key_env else ""
    lines = ["models:", "  providers:",
             f"    local: {{base_url: \"{srv.base_url}\", retries: {retries}, backoff_initial: 0.01, "
             f"timeout: {timeout}{key}}}",
             "  models:"]
    lines += [f"    {m}: {{provider: local, price_in: 1, price_out: 2, context: 8192}}" for m in models]
    lines.append("  selection:")
    if default:
        lines.append(f"    default: {{primary: {default}, fallbacks: [{', '.join(fallbacks)}]}}")
    if planner:
        lines.append(f"    planner: {planner}")
    path.write_text("\n".join(lines) + "\n" + extra)
    return path
