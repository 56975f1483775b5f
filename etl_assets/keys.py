"""Asset keys and groups: ``[layer, source, table]`` for every layer, built here and nowhere else.

Dagster names admit only ``[A-Za-z0-9_]``; a source, table or topic named otherwise (``shop-db``, ``sales/orders``,
``Order Items``, ``заказы``) becomes a readable part with a stable suffix, the same in every layer, so every edge of
the graph lands on the asset it means. The real name stays in the warehouse and in ``dagster/table_name``.
"""

from __future__ import annotations

import hashlib
import re

from dagster import AssetKey

RAW = "raw"
PROFILE = "profile"
RECOMMENDATION = "recommendation"
DDL = "ddl"
EMBEDDINGS = "embeddings"
STREAM = "stream"
REPORTS = "reports"
DBT = "dbt"
RELATIONSHIPS = "relationships"
PROOF = "proof"
CDC = "cdc"
"""Change data capture: ``cdc/<source>/_capture`` runs Debezium, ``cdc/<source>/<table>`` is a replica."""
CDC_CAPTURE = "_capture"
TABLE_LAYERS = (RAW, PROFILE, RECOMMENDATION, DDL, EMBEDDINGS)

_DAGSTER_NAME = re.compile(r"[A-Za-z0-9_]+")


def key_component(name: str) -> str:
    """``name`` as an asset-key part (and group name): itself when Dagster admits it, else readable + a hash."""
    if _DAGSTER_NAME.fullmatch(name):
        return name
    readable = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "table"
    return f"{readable}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def asset_key(layer: str, source: str, table: str) -> AssetKey:
    """The key of ``table`` of ``source`` in ``layer`` (one of the ``*_LAYER`` names above, or ``stream``)."""
    return AssetKey([layer, key_component(source), key_component(table)])


def group_name(source: str) -> str:
    return key_component(source)


ANALYSIS_REPORT, QUALITY_REPORT, PIPELINE_REPORT, HEALTH_REPORT = REPORT_NAMES = (
    "analysis", "quality", "pipeline", "health")
"""The report assets ``reports/<name>``, each written as ``<name>.<format>`` in the reports directory."""


def report_key(name: str) -> AssetKey:
    return AssetKey([REPORTS, name])


def dbt_key(model: str) -> AssetKey:
    return AssetKey([DBT, model])


def relationships_key() -> AssetKey:
    """The one cross-table asset: keys and foreign-key candidates found over every landed table."""
    return AssetKey([RELATIONSHIPS, "catalog"])


def source_resource_key(source: str) -> str:
    """The resource key of a source's connector (``source_<name>``; resource keys are Dagster names too)."""
    return f"source_{key_component(source)}"


def target_resource_key(target: str) -> str:
    return f"target_{key_component(target)}"


def source_pool(source: str) -> str:
    """The pool a source's loads share, so that one large source cannot starve the others."""
    return f"source_{key_component(source)}"


def cdc_pool(source: str) -> str:
    return f"cdc_{key_component(source)}"


def stream_pool(source: str) -> str:
    return f"stream_{key_component(source)}"


def definition_name(prefix: str, source: str) -> str:
    """A sensor, schedule or job name for a source (``incremental_shop_db``)."""
    return f"{prefix}_{key_component(source)}"


def proof_dimensions_key() -> AssetKey:
    """The recommendations and profiles of the tables found relationships reference, for the proofs' joins."""
    return AssetKey([PROOF, "dimensions"])
