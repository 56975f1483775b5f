"""Optional narrative text for a recommendation from an OpenAI-compatible endpoint.

The LLM only ever sees the decisions and the facts behind them, and only ever returns prose: nothing it says is
parsed back into a decision. Without an endpoint, or when it fails, the narrative is simply ``None``.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from etl_assets.recommend.model import Recommendation
from resources.llm import LlmResource, LlmUnavailable

SYSTEM_PROMPT = (
    "You are a data platform engineer. Explain the storage decisions below to a data engineer in at most "
    "120 words of plain prose. Use only the facts given; do not propose other decisions or invent numbers."
)

logger = logging.getLogger(__name__)


def narrative_prompt(recommendation: Recommendation) -> str:
    decisions = [
        f"table: {recommendation.source}.{recommendation.table}",
        f"summary: {recommendation.summary}",
        f"target store: {recommendation.target_store}",
        f"engine: {recommendation.engine or 'default'}",
        f"partitioning: {recommendation.partition_by or 'none'}",
        f"sort key: {', '.join(recommendation.order_by) or 'none'}",
        f"refresh: {recommendation.refresh_cadence}",
        "reasons (decision <- fact):",
        *(f"- {reason.claim} <- {reason.fact}" for reason in recommendation.reasons),
    ]
    return "\n".join(decisions)


def write_narrative(recommendation: Recommendation, llm: LlmResource, log: logging.Logger | None = None) -> str | None:
    """The endpoint's explanation, or None when no endpoint is configured or it fails (the failure is logged)."""
    if not llm.configured:
        return None
    try:
        return llm.complete(SYSTEM_PROMPT, narrative_prompt(recommendation))
    except LlmUnavailable as error:
        (log or logger).warning(f"{recommendation.source}.{recommendation.table}: no narrative: {error}")
        return None


def with_narrative(
    recommendation: Recommendation, llm: LlmResource, log: logging.Logger | None = None
) -> Recommendation:
    """A copy of ``recommendation`` with its narrative filled in; every decision field is left as it was."""
    return replace(recommendation, narrative=write_narrative(recommendation, llm, log))
