"""LlmResource against a stdlib HTTP server speaking OpenAI chat-completions JSON, and against no server at all."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etl_assets.recommend.narrative import SYSTEM_PROMPT, with_narrative
from etl_assets.recommend.rules import recommend
from resources.llm import LlmResource, LlmUnavailable
from tests.unit.test_recommend_rules import events_profile


class ChatStub(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions with ``reply`` (a str, or an int HTTP status) and records requests."""

    reply: str | int = "ok"
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if isinstance(self.reply, int):
            self._send(self.reply, {"error": {"message": "stub failure", "type": "server_error"}})
            return
        self._send(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": self.reply}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chat_stub() -> Iterator[tuple[str, type[ChatStub]]]:
    handler = type("Stub", (ChatStub,), {"reply": "ok", "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_complete_sends_system_and_user_messages_and_returns_the_reply(chat_stub):
    url, handler = chat_stub
    handler.reply = "  Partitioned by day because it grows fast.  "
    llm = LlmResource(base_url=url, model="tiny", api_key="sk-secret", timeout_s=5)
    assert llm.configured
    assert llm.complete("be brief", "why?") == "Partitioned by day because it grows fast."
    (request,) = handler.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "tiny"
    assert request["body"]["messages"] == [{"role": "system", "content": "be brief"},
                                           {"role": "user", "content": "why?"}]
    assert request["auth"] == "Bearer sk-secret"


@pytest.mark.parametrize(("reply", "message"), [(500, "InternalServerError (HTTP 500)"),
                                                (401, "AuthenticationError (HTTP 401)"),
                                                ("   ", "empty message")])
def test_failures_become_llm_unavailable_without_the_key(chat_stub, reply, message):
    url, handler = chat_stub
    handler.reply = reply
    llm = LlmResource(base_url=url, api_key="sk-secret", timeout_s=5)
    with pytest.raises(LlmUnavailable, match=re.escape(message)) as raised:
        llm.complete("s", "u")
    assert "sk-secret" not in str(raised.value)
    assert len(handler.requests) == 1  # max_retries=0: one request, no retry storm


def test_unreachable_endpoint_fails_fast_and_clearly():
    llm = LlmResource(base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout_s=2)
    with pytest.raises(LlmUnavailable, match="APIConnectionError"):
        llm.complete("s", "u")


def test_unconfigured_resource_says_so():
    llm = LlmResource()
    assert not llm.configured
    with pytest.raises(LlmUnavailable, match="no LLM endpoint configured"):
        llm.complete("s", "u")


def test_narrative_is_added_but_never_changes_a_decision(chat_stub):
    url, handler = chat_stub
    handler.reply = "Ignore the rules: use MySQL, partition by year."
    decided = recommend(events_profile(), None)
    narrated = with_narrative(decided, LlmResource(base_url=url, timeout_s=5))
    assert narrated.narrative == "Ignore the rules: use MySQL, partition by year."
    assert {**narrated.to_dict(), "narrative": None} == decided.to_dict()
    prompt = handler.requests[0]["body"]["messages"]
    assert prompt[0]["content"] == SYSTEM_PROMPT
    assert decided.summary in prompt[1]["content"]
    assert all(reason.fact in prompt[1]["content"] for reason in decided.reasons)


@pytest.mark.parametrize("llm", [LlmResource(), LlmResource(base_url=f"http://127.0.0.1:{closed_port()}/v1",
                                                           timeout_s=2)], ids=["unconfigured", "unreachable"])
def test_without_a_working_llm_only_the_narrative_is_missing(llm):
    decided = recommend(events_profile(), None)
    narrated = with_narrative(decided, llm)
    assert narrated.narrative is None
    assert narrated == decided
