"""Profile history and check results in the metadata store (tables of migration 0200), through the metadata
resource's PostgreSQL connection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from etl_assets.profile.checks import CheckOutcome
from etl_assets.profile.model import TableProfile


class SqlRunner(Protocol):
    def execute(self, statement: str, params: Any = None) -> int: ...

    def query_arrow(self, statement: str, params: Any = None) -> Any: ...


class Metadata(Protocol):
    """What is used of ``resources.metadata.MetadataResource``."""

    postgres: SqlRunner

    def migrate(self) -> list[str]: ...


_migrated: set[tuple[Any, ...]] = set()


def _store(metadata: Metadata) -> SqlRunner:
    """The metadata database, migrated (once per process) so that the 0200 tables exist."""
    postgres = metadata.postgres
    key = tuple(getattr(postgres, name, None) for name in ("host", "port", "database"))
    if key not in _migrated:
        metadata.migrate()
        _migrated.add(key)
    return postgres


def previous_row_counts(metadata: Metadata, source: str, table: str, limit: int = 30) -> list[int]:
    """Row counts of the latest profiles of a table, newest first."""
    result = _store(metadata).query_arrow(
        """SELECT row_count FROM aietl_meta.profile_history WHERE source = %s AND table_name = %s
           ORDER BY profiled_at DESC, id DESC LIMIT %s""", (source, table, limit))
    return [int(count) for count in result.column("row_count").to_pylist()] if result.num_rows else []


def record_profile(metadata: Metadata, profile: TableProfile, run_id: str | None = None) -> None:
    columns = [{"name": c.name, "logical_type": c.logical_type, "physical_type": c.physical_type,
                "semantic_type": c.semantic_type, "null_share": c.null_share, "distinct_count": c.distinct_count}
               for c in profile.columns]
    _store(metadata).execute(
        """INSERT INTO aietl_meta.profile_history
               (run_id, source, table_name, row_count, size_bytes, duplicate_rows, sampled, columns, profile)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)""",
        (run_id, profile.source, profile.table, profile.row_count, profile.size_bytes, profile.duplicate_rows,
         profile.sampled, json.dumps(columns), profile_json(profile)))


def record_check_results(
    metadata: Metadata, source: str, table: str, outcomes: Sequence[CheckOutcome], blocking: bool,
    run_id: str | None = None,
) -> None:
    if not outcomes:
        return
    row = "(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
    params = [value for outcome in outcomes for value in (
        run_id, source, table, outcome.name, outcome.passed, outcome.severity, blocking, outcome.description,
        json.dumps(outcome.metadata, default=str))]
    _store(metadata).execute(
        "INSERT INTO aietl_meta.check_results (run_id, source, table_name, check_name, passed, severity, blocking, "
        "description, metadata) VALUES " + ", ".join([row] * len(outcomes)), params)


def profile_json(profile: TableProfile) -> str:
    return json.dumps(profile.to_dict(), default=str, ensure_ascii=False)
