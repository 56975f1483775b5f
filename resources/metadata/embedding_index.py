"""What the embeddings layer reads from the metadata store besides its index: the latest profile of each table."""

from __future__ import annotations

from typing import Any

from resources.metadata.resource import MetadataResource

LATEST_PROFILES = """SELECT DISTINCT ON (source, table_name) source, table_name, row_count, columns
FROM aietl_meta.profile_history ORDER BY source, table_name, profiled_at DESC, id DESC"""


def latest_profiles(metadata: MetadataResource) -> dict[tuple[str, str], dict[str, Any]]:
    """(source, table) -> {"row_count", "columns": [{name, logical_type, semantic_type, null_share, ...}]}."""
    return {(row["source"], row["table_name"]): {"row_count": row["row_count"], "columns": row["columns"]}
            for row in metadata._rows(LATEST_PROFILES)}
