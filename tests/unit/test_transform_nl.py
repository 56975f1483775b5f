"""Natural language -> a validated pipeline model, through an OpenAI-compatible endpoint (a local stdlib stub)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from etl_assets.transform.nl import NaturalLanguageError, propose
from resources.llm import LlmResource
from tests.support.llm_stub import chat_stub
from tests.support.pipelines import PROPOSED_MODEL, TABLES

GOOD = f"Here you go:\n{PROPOSED_MODEL}"
HALLUCINATED = GOOD.replace("c.city]", "c.town]")


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list, list]]:
    with chat_stub() as stub:
        yield stub.url, stub.answers, stub.bodies


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
