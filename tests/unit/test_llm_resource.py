"""LlmResource against a stdlib HTTP server speaking OpenAI chat-completions JSON, and against no server at all."""

from __future__ import annotations

import re

import pytest

from etl_assets.recommend.decisions import recommend
from etl_assets.recommend.narrative import SYSTEM_PROMPT, with_narrative
from resources.embedded.kafka import free_port
from resources.llm import LlmResource, LlmUnavailable
from tests.support.profiles import events_profile


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
    llm = LlmResource(base_url=f"http://127.0.0.1:{free_port()}/v1", timeout_s=2)
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


@pytest.mark.parametrize("llm", [LlmResource(), LlmResource(base_url=f"http://127.0.0.1:{free_port()}/v1",
                                                           timeout_s=2)], ids=["unconfigured", "unreachable"])
def test_without_a_working_llm_only_the_narrative_is_missing(llm):
    decided = recommend(events_profile(), None)
    narrated = with_narrative(decided, llm)
    assert narrated.narrative is None
    assert narrated == decided
