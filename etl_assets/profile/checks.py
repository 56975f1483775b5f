"""Data-quality checks of a raw table, evaluated from its profile and its settings in datasources.yaml.

The evaluations are pure functions returning :class:`CheckOutcome` (passed, severity, a description saying why,
and the numbers); :func:`check_specs` and :func:`to_check_result` turn them into Dagster asset checks on the
``profile/<source>/<table>`` asset. A table's ``checks.blocking`` setting makes its checks blocking: a failure with
ERROR severity (``checks.severity``; WARN by default for statistical checks) stops the assets downstream of the profile.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
)

from etl_assets.catalog import SourceTable
from etl_assets.profile.model import TableProfile
from etl_assets.profile.pushdown import KeyFacts
from resources.schema import TableSchema

NULL_SHARE = "null_share"
PRIMARY_KEY = "primary_key_unique"
FRESHNESS = "cursor_freshness"
SCHEMA_DRIFT = "schema_drift"
ROW_COUNT = "row_count_anomaly"
MIN_HISTORY = 3
HISTORY_WINDOW = 7

CHECK_DESCRIPTIONS = {
    NULL_SHARE: "Share of NULLs per configured column stays within checks.max_null_share.",
    PRIMARY_KEY: "The primary key is never NULL and never repeats (exact, computed in the warehouse).",
    FRESHNESS: "The newest value of the cursor column is at most checks.freshness_hours old.",
    SCHEMA_DRIFT: "The landed columns and their types match the catalog (added columns warn; removed or retyped "
                  "columns fail).",
    ROW_COUNT: "The row count is within checks.row_count_tolerance of the median of recent profiles.",
}


DEFAULT_SEVERITY = {NULL_SHARE: "WARN", FRESHNESS: "WARN", ROW_COUNT: "WARN", PRIMARY_KEY: "ERROR",
                    SCHEMA_DRIFT: "ERROR"}


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: str = "ERROR"


def check_names(table: SourceTable) -> list[str]:
    """The checks that apply to a table, known from config and catalog alone (no data needed)."""
    names = []
    if table.checks.max_null_share:
        names.append(NULL_SHARE)
    if table.schema.primary_key:
        names.append(PRIMARY_KEY)
    if table.checks.freshness_hours is not None:
        names.append(FRESHNESS)
    return [*names, SCHEMA_DRIFT, ROW_COUNT]


def with_severity(outcome: CheckOutcome, overrides: dict[str, str]) -> CheckOutcome:
    """The outcome at the table's configured severity (``checks.severity``) or the check's default; a failure
    an evaluator already marked WARN (new columns only) stays WARN unless the table asks for ERROR."""
    configured = overrides.get(outcome.name)
    if configured is None and outcome.severity == "WARN":
        return outcome
    outcome.severity = configured or DEFAULT_SEVERITY.get(outcome.name, "ERROR")
    return outcome


def check_specs(table: SourceTable, asset_key: AssetKey) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(name=name, asset=asset_key, description=CHECK_DESCRIPTIONS[name], blocking=table.checks.blocking)
        for name in check_names(table)
    ]


def to_check_result(outcome: CheckOutcome, asset_key: AssetKey) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=asset_key, check_name=outcome.name, passed=outcome.passed, description=outcome.description,
        severity=AssetCheckSeverity(outcome.severity), metadata={k: _metadata_value(v) for k, v in
                                                                  outcome.metadata.items()},
    )


def _metadata_value(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return MetadataValue.json(value)
    return value if value is not None else MetadataValue.null()


def null_share_check(profile: TableProfile, limits: dict[str, float]) -> CheckOutcome:
    shares = {c.name: c.null_share for c in profile.columns}
    missing = sorted(name for name in limits if name not in shares)
    over = {name: shares[name] for name, limit in limits.items() if name in shares and shares[name] > limit}
    metadata = {"null_shares": {name: round(shares[name], 6) for name in limits if name in shares},
                "limits": dict(limits), "rows": profile.row_count}
    if missing:
        return CheckOutcome(NULL_SHARE, False, f"{_where(profile)}: configured column(s) {missing} are not in the "
                            f"table (columns: {sorted(shares)})", metadata)
    if over:
        detail = "; ".join(f"{name}: {share:.2%} NULL > limit {limits[name]:.2%} "
                           f"({profile.column(name).null_count:,} of {profile.row_count:,} rows)"
                           for name, share in over.items())
        return CheckOutcome(NULL_SHARE, False, f"{_where(profile)}: {detail}", metadata)
    within = ", ".join(f"{name} {shares[name]:.2%} <= {limit:.2%}" for name, limit in limits.items())
    return CheckOutcome(NULL_SHARE, True, f"{_where(profile)}: NULL shares within limits ({within})", metadata)


def primary_key_check(profile: TableProfile, facts: KeyFacts) -> CheckOutcome:
    key = ", ".join(facts.columns)
    metadata = {"key": facts.columns, "rows": facts.rows, "null_keys": facts.null_keys,
                "duplicate_keys": facts.duplicate_keys, "rows_in_duplicates": facts.rows_in_duplicates,
                "examples": facts.examples}
    problems = []
    if facts.null_keys:
        problems.append(f"{facts.null_keys:,} row(s) have a NULL in ({key})")
    if facts.duplicate_keys:
        shown = "; ".join(", ".join(f"{k}={v}" for k, v in row.items() if k != "n") + f" ({row['n']} rows)"
                          for row in facts.examples)
        problems.append(f"{facts.duplicate_keys:,} key value(s) repeat across {facts.rows_in_duplicates:,} rows, "
                        f"e.g. {shown}")
    if problems:
        return CheckOutcome(PRIMARY_KEY, False, f"{_where(profile)}: primary key ({key}) is not unique: "
                            + "; ".join(problems), metadata)
    return CheckOutcome(PRIMARY_KEY, True, f"{_where(profile)}: ({key}) is unique and never NULL over "
                        f"{facts.rows:,} rows", metadata)


def freshness_check(
    profile: TableProfile, column: str | None, max_age_hours: float, now: dt.datetime | None = None
) -> CheckOutcome:
    now = now or dt.datetime.now(dt.UTC)
    metadata: dict[str, Any] = {"column": column, "max_age_hours": max_age_hours}
    if column is None:
        return CheckOutcome(FRESHNESS, False, f"{_where(profile)}: freshness_hours is set but the table has no "
                            "cursor (sync.cursor) and no time column to judge freshness by", metadata)
    newest = profile.column(column).max if column in {c.name for c in profile.columns} else None
    if newest is None:
        return CheckOutcome(FRESHNESS, False, f"{_where(profile)}: {column} has no values "
                            f"({profile.row_count:,} rows), so the data cannot be fresh", metadata)
    try:
        newest_at = _as_utc(newest)
    except ValueError:
        return CheckOutcome(FRESHNESS, False, f"{_where(profile)}: newest {column} value {newest!r} is not a date "
                            "or timestamp", metadata)
    age_hours = (now - newest_at).total_seconds() / 3600
    metadata |= {"newest": newest_at.isoformat(), "age_hours": round(age_hours, 3)}
    if age_hours > max_age_hours:
        return CheckOutcome(FRESHNESS, False, f"{_where(profile)}: newest {column} is {newest_at.isoformat()}, "
                            f"{age_hours:,.1f} h old > limit {max_age_hours:g} h", metadata)
    return CheckOutcome(FRESHNESS, True, f"{_where(profile)}: newest {column} is {newest_at.isoformat()}, "
                        f"{age_hours:,.1f} h old <= {max_age_hours:g} h", metadata)


def freshness_column(table: SourceTable, profile: TableProfile) -> str | None:
    """The cursor column when it holds times, else the first time column of the profile."""
    cursor = table.schema.cursor_column
    time_columns = profile.time_columns
    if cursor and (cursor in time_columns or not time_columns):
        return cursor
    return time_columns[0] if time_columns else cursor


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        moment = dt.datetime.fromisoformat(str(value).replace(" ", "T", 1))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


TYPE_FAMILIES = {
    "bool": "boolean", "int16": "number", "int32": "number", "int64": "number", "float32": "number",
    "float64": "number", "decimal": "number", "string": "text", "json": "text", "uuid": "text", "binary": "binary",
    "date": "time", "time": "time", "timestamp": "time", "timestamptz": "time",
}


def type_family(logical_type: str) -> str:
    return TYPE_FAMILIES.get("decimal" if logical_type.startswith("decimal") else logical_type, logical_type)


def schema_drift_check(profile: TableProfile, expected: TableSchema, landed: Sequence[tuple[str, str]]) -> CheckOutcome:
    """Compare the landed columns ``(name, logical type)`` with the catalog's; types compare by family (number,
    text, time, boolean, binary) because landing may widen a type within its family."""
    expected_types = {c.name: c.logical_type for c in expected.columns}
    landed_types = dict(landed)
    added = [name for name in landed_types if name not in expected_types]
    removed = [name for name in expected_types if name not in landed_types]
    retyped = {name: f"{expected_types[name]} -> {landed_types[name]}" for name in expected_types
               if name in landed_types and type_family(expected_types[name]) != type_family(landed_types[name])}
    metadata = {"added": added, "removed": removed, "retyped": retyped, "expected_columns": len(expected_types),
                "landed_columns": len(landed_types)}
    if removed or retyped:
        parts = [f"removed {removed}" if removed else "", f"type changed {retyped}" if retyped else "",
                 f"added {added}" if added else ""]
        return CheckOutcome(SCHEMA_DRIFT, False, f"{_where(profile)}: landed table differs from the catalog: "
                            + "; ".join(p for p in parts if p) + " (run `aietl discover` if the source changed)",
                            metadata)
    if added:
        return CheckOutcome(SCHEMA_DRIFT, False, f"{_where(profile)}: new column(s) {added} not in the catalog "
                            "(run `aietl discover` to adopt them)", metadata, severity="WARN")
    return CheckOutcome(SCHEMA_DRIFT, True, f"{_where(profile)}: {len(landed_types)} columns match the catalog",
                        metadata)


def row_count_check(profile: TableProfile, previous_counts: Sequence[int], tolerance: float) -> CheckOutcome:
    """``previous_counts`` newest first; compared with the median of the last ``HISTORY_WINDOW`` of them."""
    recent = list(previous_counts)[:HISTORY_WINDOW]
    metadata: dict[str, Any] = {"rows": profile.row_count, "history": recent, "tolerance": tolerance}
    if len(recent) < MIN_HISTORY:
        return CheckOutcome(ROW_COUNT, True, f"{_where(profile)}: {profile.row_count:,} rows; not enough history "
                            f"to judge ({len(recent)} earlier profile(s), needs {MIN_HISTORY})", metadata)
    median = statistics.median(recent)
    change = (profile.row_count - median) / median if median else (0.0 if profile.row_count == 0 else float("inf"))
    metadata |= {"median": median, "change": round(change, 6) if change != float("inf") else "inf"}
    verdict = f"{profile.row_count:,} rows vs median {median:,.0f} of the last {len(recent)} profiles"
    if abs(change) > tolerance:
        return CheckOutcome(ROW_COUNT, False, f"{_where(profile)}: {verdict}: {change:+.1%} is beyond "
                            f"±{tolerance:.0%}", metadata)
    return CheckOutcome(ROW_COUNT, True, f"{_where(profile)}: {verdict}: {change:+.1%} within ±{tolerance:.0%}",
                        metadata)


def _where(profile: TableProfile) -> str:
    return f"{profile.source}.{profile.table}"
