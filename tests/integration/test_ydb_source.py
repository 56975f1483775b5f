"""YdbResource against a real YDB server. Runs when YDB_ENDPOINT (grpc://host:2136) and YDB_DATABASE (/local) are
set; YDB_AUTH picks the auth method (default anonymous; static uses YDB_USER / YDB_PASSWORD, token uses
YDB_ACCESS_TOKEN_CREDENTIALS, service_account_key uses YDB_SERVICE_ACCOUNT_KEY_FILE_CREDENTIALS, env reads the
SDK's variables). No YDB server can run on the development machines, so elsewhere these tests are skipped."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pyarrow as pa
import pytest

import resources.ydb.resource as ydb_resource
from resources.schema import TableSchema
from resources.ydb import YdbResource
from resources.ydb.sql import quote

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc
ROWS = 24


@pytest.fixture
def ydb_source() -> Iterator[tuple[YdbResource, str]]:
    endpoint, database = os.environ.get("YDB_ENDPOINT"), os.environ.get("YDB_DATABASE")
    if not endpoint or not database:
        pytest.skip("no YDB server is configured: set YDB_ENDPOINT (grpc://host:2136) and YDB_DATABASE (/local) "
                    "to run the YDB integration tests")
    resource = YdbResource(
        endpoint=endpoint, database=database, auth=os.environ.get("YDB_AUTH", "anonymous"),
        user=os.environ.get("YDB_USER", ""), password=os.environ.get("YDB_PASSWORD", ""),
        token=os.environ.get("YDB_ACCESS_TOKEN_CREDENTIALS", ""),
        service_account_key_file=os.environ.get("YDB_SERVICE_ACCOUNT_KEY_FILE_CREDENTIALS", ""),
        timeout_s=30, source_name="ydb_shop",
    )
    folder = f"aietl_test_{uuid.uuid4().hex[:8]}"
    table = f"{folder}/orders"
    resource.execute(f"""CREATE TABLE {quote(table)} (
        shop Utf8, id Uint64, amount Decimal(22, 9), payload JsonDocument, ref Uuid, day Date,
        updated_at Timestamp, PRIMARY KEY (shop, id))""")
    resource.execute(f"UPSERT INTO {quote(table)} (shop, id, amount, payload, ref, day, updated_at) VALUES "
                     + ",\n".join(seed_row(i) for i in range(ROWS)) + ";")
    try:
        yield resource, table
    finally:
        resource.execute(f"DROP TABLE {quote(table)}")


def seed_row(i: int) -> str:
    shop = "berlin" if i % 2 == 0 else "paris"
    day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
    return (f"('{shop}', {i}ul, Decimal('{i}.5', 22, 9), JsonDocument('{{\"n\": {i}}}'), "
            f"Uuid('{uuid.UUID(int=i)}'), Date('{day.isoformat()}'), Timestamp('2026-01-01T{i:02d}:00:00Z'))")


def orders(resource: YdbResource, table: str, cursor: str | None = None) -> TableSchema:
    found = next(t for t in resource.discover() if t.name == table)
    return replace(found, cursor_column=cursor)


def test_discover_lists_and_describes_tables(ydb_source: tuple[YdbResource, str]) -> None:
    resource, name = ydb_source
    table = orders(resource, name)
    assert table.primary_key == ["shop", "id"]
    assert {c.name: c.logical_type for c in table.columns} == {
        "shop": "string", "id": "int64", "amount": "decimal(22,9)", "payload": "json", "ref": "uuid",
        "day": "date", "updated_at": "timestamptz",
    }
    assert table.cursor_candidates[0] == "updated_at" and table.namespace == resource.database


def test_paged_read_returns_every_row_once_in_key_order(ydb_source: tuple[YdbResource, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    resource, name = ydb_source
    monkeypatch.setattr(ydb_resource, "PAGE_ROWS", 10)
    table = orders(resource, name)

    batches = list(resource.read(table))

    assert [b.num_rows for b in batches] == [10, 10, 4]
    landed = pa.Table.from_batches(batches).to_pylist()
    keys = [(r["shop"], r["id"]) for r in landed]
    assert keys == sorted(keys) and len(set(keys)) == ROWS
    first = next(r for r in landed if r["id"] == 3)
    assert first["amount"] == Decimal("3.5") and first["day"] == dt.date(2026, 1, 4)
    assert first["updated_at"] == dt.datetime(2026, 1, 1, 3, tzinfo=UTC)
    assert first["ref"] == "00000000-0000-0000-0000-000000000003"


def test_incremental_read_and_max_cursor(ydb_source: tuple[YdbResource, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    resource, name = ydb_source
    monkeypatch.setattr(ydb_resource, "PAGE_ROWS", 4)
    table = orders(resource, name, cursor="updated_at")

    newest = resource.max_cursor(table)
    recent = pa.Table.from_batches(list(resource.read(table, since=dt.datetime(2026, 1, 1, 20, tzinfo=UTC))))

    assert newest == dt.datetime(2026, 1, 1, ROWS - 1, tzinfo=UTC)
    assert sorted(recent.column("id").to_pylist()) == list(range(20, ROWS))
