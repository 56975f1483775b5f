"""Secrets the config names (``*_env`` keys) that the environment does not hold, found before anything connects, so
a missing one is one line naming the key and the variable rather than a failure deep inside a run."""

from __future__ import annotations

import os
from collections.abc import Iterator

from pydantic import BaseModel

from etl_assets.config.models import DataSources


def missing_secrets(datasources: DataSources, sections: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(config key path, variable name) for every secret variable that is named, needed and unset; only under the
    top-level ``sections`` (``targets``, ``sources``, ``qdrant``, ``embedder``, ``llm``) when given."""
    return [(where, name) for where, name in needed_secrets(datasources)
            if name not in os.environ and (not sections or where.split(".")[0] in sections)]


def needed_secrets(datasources: DataSources) -> Iterator[tuple[str, str]]:
    for kind in ("postgres", "clickhouse"):
        for name, target in getattr(datasources.targets, kind).items():
            yield from _env_fields(target, f"targets.{kind}.{name}")
    for name, (kind, settings) in datasources.all_sources().items():
        yield from _env_fields(settings, f"sources.{kind}.{name}")
    if datasources.qdrant:
        yield from _env_fields(datasources.qdrant, "qdrant")
    if datasources.embedder.model == "openai":
        yield from _env_fields(datasources.embedder, "embedder")
    if datasources.llm.base_url:
        yield from ((f"{where} (llm.base_url is set)", name) for where, name in _env_fields(datasources.llm, "llm"))


def _env_fields(settings: BaseModel, where: str) -> Iterator[tuple[str, str]]:
    for field in type(settings).model_fields:
        value = getattr(settings, field)
        if field.endswith("_env") and isinstance(value, str) and value:
            yield f"{where}.{field}", value
