"""The advice against ClickHouse's published MergeTree schemas: tables of the published shape (OnTime, UK price paid,
NYC taxi trips; ``tests/support/published_schemas.py``) land through the real assets on the ClickHouse engine (chdb)
and the recommendation must propose the published PARTITION BY column (or none), leading ORDER BY column and
LowCardinality/Enum string columns.

These encode the published experts' decisions; they are not adjusted to what the rules propose. Where a published
decision conflicts with a general rule the platform keeps, the table's ``conflicts`` entry says why, and the test
checks that the rule gives what that entry says (so the disagreement is a known one, never a silent drift).
"""

from __future__ import annotations

import pytest

from resources.clickhouse import ClickHouseResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from tests.support.published_schemas import (
    CLICKHOUSE_TABLES,
    PlatformRun,
    clickhouse_decisions,
    run_platform,
    write_datasets,
)

pytestmark = pytest.mark.integration
ROWS = 60_000
"""Enough rows for the tables' shape (distinct shares, time spread) to show; the bench runs 300k."""


@pytest.fixture(scope="module")
def advised(tmp_path_factory: pytest.TempPathFactory, pg_server) -> PlatformRun:
    work = tmp_path_factory.mktemp("published")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AIETL_HOME", str(work / "home"))
    dsn = pg_server.create_database("published_schemas_meta")
    try:
        yield run_platform(write_datasets(work / "files", ROWS), "published",
                           ClickHouseResource(chdb_path=str(work / "chdb")),
                           MetadataResource(postgres=PostgresResource.from_dsn(dsn)), proofs=False)
    finally:
        pg_server.drop_database("published_schemas_meta")
        monkeypatch.undo()


def _check(decision, url: str) -> None:
    if decision.conflict is None:
        assert decision.matched, f"{decision.dataset} ({url}): {decision.kind} of {decision.subject}: published " \
                                 f"{decision.expected!r}, proposed {decision.proposed!r}"
        return
    rule_gives, why = decision.conflict
    assert decision.proposed == rule_gives, f"{decision.dataset}: {decision.kind} of {decision.subject}: the " \
                                            f"documented conflict ({why}) expects {rule_gives!r}, proposed " \
                                            f"{decision.proposed!r}"


@pytest.mark.parametrize("published", CLICKHOUSE_TABLES, ids=lambda t: t.name)
@pytest.mark.parametrize("kind", ["partition_column", "order_by_leading", "low_cardinality"])
def test_published_decisions(advised: PlatformRun, published, kind: str) -> None:
    decisions = [d for d in clickhouse_decisions(advised.recommendations)
                 if d.dataset == published.name and d.kind == kind]
    assert decisions
    for decision in decisions:
        _check(decision, published.url)


def test_every_published_table_landed_and_was_advised_with_few_conflicts(advised: PlatformRun) -> None:
    assert sorted(advised.recommendations) == sorted(t.name for t in CLICKHOUSE_TABLES)
    assert advised.result.success
    decisions = clickhouse_decisions(advised.recommendations)
    assert sum(d.matched for d in decisions) / len(decisions) >= 0.85, [d for d in decisions if not d.matched]
