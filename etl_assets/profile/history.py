"""A profile and its check outcomes as the plain records the metadata store keeps (``aietl_meta.profile_history``
and ``check_results``, migration 0200): see ``MetadataResource.record_profile`` / ``record_check_results``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from etl_assets.profile.checks import CheckOutcome
from etl_assets.profile.model import TableProfile


def profile_record(profile: TableProfile) -> dict[str, Any]:
    """The keyword arguments of ``MetadataResource.record_profile`` for ``profile``."""
    columns = [{"name": c.name, "logical_type": c.logical_type, "physical_type": c.physical_type,
                "semantic_type": c.semantic_type, "null_share": c.null_share, "distinct_count": c.distinct_count}
               for c in profile.columns]
    return {"source": profile.source, "table": profile.table, "row_count": profile.row_count,
            "size_bytes": profile.size_bytes, "duplicate_rows": profile.duplicate_rows, "sampled": profile.sampled,
            "columns": columns, "profile": profile.to_dict()}


def check_records(outcomes: Sequence[CheckOutcome]) -> list[dict[str, Any]]:
    """One record per check outcome, for ``MetadataResource.record_check_results``."""
    return [{"name": o.name, "passed": o.passed, "severity": o.severity, "description": o.description,
             "metadata": o.metadata} for o in outcomes]
