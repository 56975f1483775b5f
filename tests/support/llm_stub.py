"""An OpenAI-compatible chat-completions endpoint on loopback (stdlib ``http.server``), for the LLM tests.

``POST .../chat/completions`` is answered with the next of ``answers`` (a queue), or with ``reply`` when the queue is
empty; an ``int`` answer is an HTTP error status. Every request is recorded in ``requests`` (path, JSON body,
Authorization header) and its body also in ``bodies``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = str | int


@dataclass
class ChatStub:
    url: str = ""
    reply: Answer = "ok"
    answers: list[Answer] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)

    def answer(self, path: str, body: dict, auth: str | None) -> tuple[int, dict]:
        self.requests.append({"path": path, "body": body, "auth": auth})
        self.bodies.append(body)
        answer = self.answers.pop(0) if self.answers else self.reply
        if isinstance(answer, int):
            return answer, {"error": {"message": "stub failure", "type": "server_error"}}
        return 200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body.get("model", "stub"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


@contextmanager
def chat_stub(reply: Answer = "ok") -> Iterator[ChatStub]:
    """A running stub; its ``url`` is the base URL to give the client (``http://127.0.0.1:PORT/v1``)."""
    stub = ChatStub(reply=reply)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, payload = stub.answer(self.path, body, self.headers.get("Authorization"))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
