"""A source's ``retry`` settings as Dagster's retry policy, for every layer that reads the source."""

from __future__ import annotations

import dagster as dg

from etl_assets.config.models import RetrySettings


def configured_retry_policy(retry: RetrySettings) -> dg.RetryPolicy | None:
    """Exponential backoff with jitter from ``delay_s``; none at all for ``max_retries: 0``."""
    if retry.max_retries == 0:
        return None
    return dg.RetryPolicy(max_retries=retry.max_retries, delay=retry.delay_s, backoff=dg.Backoff.EXPONENTIAL,
                          jitter=dg.Jitter.PLUS_MINUS)
