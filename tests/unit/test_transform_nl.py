"""Natural language -> a validated pipeline model, through an OpenAI-compatible endpoint (a local stdlib stub)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etl_assets.transform.nl import NaturalLanguageError, propose
from resources.llm import LlmResource
from tests.unit.test_transform_spec import TABLES

GOOD = """Here you go:
```yaml
models:
  revenue_per_city:
    from: {table: shop_db.orders, alias: o}
    joins:
      - {table: shop_files.customers, alias: c, type: inner, on: ["o.customer_id = c.customer_id"]}
    group_by: [c.city]
    aggregations:
      - {name: revenue, function: sum, column: o.total}
```"""
HALLUCINATED = GOOD.replace("c.city]", "c.town]")


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list]]:
    answers: list[str] = []
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"id": "1", "object": "chat.completion", "created": 0, "model": "stub", "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answers.pop(0)}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", answers, requests
    finally:
        server.shutdown()


def test_without_an_endpoint_a_clear_message_says_so() -> None:
    with pytest.raises(NaturalLanguageError, match="none is configured: set llm.base_url"):
        propose("revenue per city", TABLES, LlmResource(base_url=""))


def test_a_valid_answer_becomes_a_model(endpoint) -> None:
    url, answers, requests = endpoint
    answers.append(GOOD)
    proposal = propose("revenue per city", TABLES, LlmResource(base_url=url, timeout_s=5))
    assert proposal.name == "revenue_per_city"
    assert proposal.model.aggregations[0].function == "sum"
    assert "shop_db.orders: order_id int64" in requests[0]["messages"][0]["content"]
    assert requests[0]["messages"][1]["content"] == "revenue per city"


def test_a_hallucinated_column_fails_like_a_hand_written_one(endpoint) -> None:
    url, answers, _ = endpoint
    answers.append(HALLUCINATED)
    with pytest.raises(NaturalLanguageError, match="column c.town does not exist in shop_files.customers"):
        propose("revenue per city", TABLES, LlmResource(base_url=url, timeout_s=5))
