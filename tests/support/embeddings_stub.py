"""An OpenAI-compatible ``/embeddings`` endpoint on loopback (stdlib ``http.server``), for the embedder tests.

Each input text gets a deterministic vector of ``dimensions`` (from its sha256); ``status`` other than 200 answers
every request with that HTTP error. Requests are recorded (path, JSON body, Authorization header).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class EmbeddingsStub:
    dimensions: int = 8
    status: int = 200
    url: str = ""
    requests: list[dict] = field(default_factory=list)

    def answer(self, path: str, body: dict, auth: str | None) -> tuple[int, dict]:
        self.requests.append({"path": path, "body": body, "auth": auth})
        if self.status != 200:
            return self.status, {"error": {"message": "stub failure", "type": "server_error"}}
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": vector(text, self.dimensions)}
                for i, text in enumerate(texts)]
        return 200, {"object": "list", "data": data[::-1], "model": body.get("model", "stub"),
                     "usage": {"prompt_tokens": 1, "total_tokens": 1}}


def vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [digest[i % len(digest)] / 255.0 + 0.01 for i in range(dimensions)]


@contextmanager
def embeddings_stub(dimensions: int = 8, status: int = 200) -> Iterator[EmbeddingsStub]:
    """A running stub; its ``url`` is the base URL to give the client (``http://127.0.0.1:PORT/v1``)."""
    stub = EmbeddingsStub(dimensions=dimensions, status=status)

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
