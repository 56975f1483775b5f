"""YDB connector pieces that need no server: type mapping, credentials per auth method (constructed, never
connected), configuration errors, YQL text for paged and incremental reads, and row conversion."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import ydb
import ydb.iam

from resources.embedded.kafka import free_port
from resources.protocol import SourceUnavailableError
from resources.schema import Column, QuarantinedRecord, TableSchema
from resources.ydb import YdbConfigError, YdbResource
from resources.ydb.batches import rows_to_batch
from resources.ydb.resource import cursor_candidates, table_schema_from_description
from resources.ydb.sql import declarations, keyset_condition, max_cursor_query, page_query, quote
from resources.ydb.types import logical_type, parameter_type, python_value, unwrap_optional

UTC = dt.timezone.utc


@pytest.mark.parametrize(("ydb_type", "logical"), [
    (ydb.PrimitiveType.Int8, "int16"), (ydb.PrimitiveType.Uint8, "int16"), (ydb.PrimitiveType.Int16, "int16"),
    (ydb.PrimitiveType.Uint16, "int32"), (ydb.PrimitiveType.Int32, "int32"), (ydb.PrimitiveType.Uint32, "int64"),
    (ydb.PrimitiveType.Int64, "int64"), (ydb.PrimitiveType.Uint64, "int64"), (ydb.PrimitiveType.Float, "float32"),
    (ydb.PrimitiveType.Double, "float64"), (ydb.PrimitiveType.Bool, "bool"), (ydb.PrimitiveType.Utf8, "string"),
    (ydb.PrimitiveType.String, "string"), (ydb.PrimitiveType.Date, "date"), (ydb.PrimitiveType.Date32, "date"),
    (ydb.PrimitiveType.Datetime, "timestamptz"), (ydb.PrimitiveType.Timestamp, "timestamptz"),
    (ydb.PrimitiveType.Json, "json"), (ydb.PrimitiveType.JsonDocument, "json"), (ydb.PrimitiveType.UUID, "uuid"),
    (ydb.PrimitiveType.Interval, "int64"), (ydb.PrimitiveType.Yson, "binary"),
    (ydb.DecimalType(22, 9), "decimal(22,9)"), (ydb.OptionalType(ydb.DecimalType(35, 10)), "decimal(35,10)"),
    (ydb.OptionalType(ydb.PrimitiveType.Utf8), "string"), (ydb.ListType(ydb.PrimitiveType.Int32), "json"),
    ("Optional<Timestamp>", "timestamptz"), ("Struct<a:Int32>", "json"), ("Dict<Utf8,Int64>?", "json"),
])
def test_logical_types(ydb_type: object, logical: str) -> None:
    assert logical_type(ydb_type) == logical


def test_optional_is_nullable() -> None:
    assert unwrap_optional(str(ydb.OptionalType(ydb.PrimitiveType.Int64))) == ("Int64", True)
    assert unwrap_optional("Optional<Utf8>") == ("Utf8", True)
    assert unwrap_optional("Uint64") == ("Uint64", False)


@pytest.mark.parametrize(("text", "expected"), [
    ("Int64?", ydb.PrimitiveType.Int64), ("Timestamp", ydb.PrimitiveType.Timestamp),
    ("Uuid", ydb.PrimitiveType.UUID), ("Utf8?", ydb.PrimitiveType.Utf8),
])
def test_parameter_types(text: str, expected: object) -> None:
    assert parameter_type(text) == expected


def test_decimal_parameter_type() -> None:
    assert str(parameter_type("Decimal(22,9)?")) == "Decimal(22,9)"


def test_declarations_use_yql_type_strings() -> None:
    parameters = {"$k0": ydb.TypedValue(uuid.uuid4(), ydb.PrimitiveType.UUID),
                  "$since": ydb.TypedValue(dt.datetime(2026, 1, 1, tzinfo=UTC), ydb.PrimitiveType.Timestamp)}
    assert declarations(parameters) == "DECLARE $k0 AS Uuid;\nDECLARE $since AS Timestamp;\n"


@pytest.mark.parametrize(("value", "logical", "source_type", "expected"), [
    (19723, "date", "Date", dt.date(2024, 1, 1)), (dt.date(2024, 1, 1), "date", "Date?", dt.date(2024, 1, 1)),
    (1_704_067_200, "timestamptz", "Datetime", dt.datetime(2024, 1, 1, tzinfo=UTC)),
    (1_704_067_200_000_001, "timestamptz", "Timestamp?", dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
    (dt.datetime(2024, 1, 1), "timestamptz", "Timestamp", dt.datetime(2024, 1, 1, tzinfo=UTC)),
    (b"caf\xc3\xa9", "string", "String", "café"), ({"a": [1]}, "json", "JsonDocument", '{"a": [1]}'),
    ('{"a":1}', "json", "Json", '{"a":1}'), (uuid.UUID(int=1), "uuid", "Uuid", str(uuid.UUID(int=1))),
    (dt.timedelta(seconds=2), "int64", "Interval", 2_000_000), (None, "int64", "Int64?", None),
    (Decimal("1.5"), "decimal(22,9)", "Decimal(22,9)", Decimal("1.5")),
])
def test_python_values(value: object, logical: str, source_type: str, expected: object) -> None:
    assert python_value(value, logical, source_type) == expected


ORDERS = TableSchema(
    source="ydb_shop", name="sales/orders", namespace="/local",
    columns=[Column("shop", "string", True, "Utf8?"), Column("id", "int64", True, "Uint64?"),
             Column("amount", "decimal(22,9)", True, "Decimal(22,9)?"),
             Column("updated_at", "timestamptz", True, "Timestamp?")],
    primary_key=["shop", "id"], cursor_column="updated_at",
)


def test_first_page_query() -> None:
    query, bound = page_query(ORDERS, None, since=False, page_rows=500)
    assert query == "SELECT `shop`, `id`, `amount`, `updated_at` FROM `sales/orders` ORDER BY `shop`, `id` LIMIT 500;"
    assert bound == []


def test_next_page_query_is_keyset_after_the_last_key_and_filtered_by_cursor() -> None:
    query, bound = page_query(ORDERS, ["berlin", 17], since=True, page_rows=500)
    assert query == (
        "SELECT `shop`, `id`, `amount`, `updated_at` FROM `sales/orders` WHERE `updated_at` >= $since AND "
        "((`shop` > $k0) OR (`shop` = $k0 AND `id` > $k1)) ORDER BY `shop`, `id` LIMIT 500;"
    )
    assert bound == [0, 1]


def test_null_key_parts_are_tested_not_bound() -> None:
    condition, bound = keyset_condition(["shop", "id"], [None, 5])
    assert condition == "((`shop` IS NOT NULL) OR (`shop` IS NULL AND `id` > $k1))"
    assert bound == [1]


def test_identifiers_are_backquoted_and_escaped() -> None:
    assert quote("we`ird") == "`we\\`ird`"
    assert max_cursor_query(ORDERS) == "SELECT MAX(`updated_at`) AS max_cursor FROM `sales/orders`;"


def test_schema_from_a_table_description() -> None:
    description = ydb.TableDescription().with_primary_keys("id").with_columns(
        ydb.Column("id", ydb.OptionalType(ydb.PrimitiveType.Uint64)),
        ydb.Column("payload", ydb.OptionalType(ydb.PrimitiveType.JsonDocument)),
        ydb.Column("created", ydb.OptionalType(ydb.PrimitiveType.Datetime)),
        ydb.Column("updated_at", ydb.OptionalType(ydb.PrimitiveType.Timestamp)),
    )
    table = table_schema_from_description("ydb_shop", "/local", "orders", description)
    assert [(c.name, c.logical_type, c.nullable, c.source_type) for c in table.columns] == [
        ("id", "int64", True, "Uint64?"), ("payload", "json", True, "JsonDocument?"),
        ("created", "timestamptz", True, "Datetime?"), ("updated_at", "timestamptz", True, "Timestamp?"),
    ]
    assert table.primary_key == ["id"] and table.cursor_candidates == ["updated_at", "created"]
    assert cursor_candidates(table.columns[:1]) == []


def test_rows_become_a_batch_of_the_table_schema() -> None:
    rows = [{"shop": "berlin", "id": 1, "amount": Decimal("2.5"), "updated_at": 1_704_067_200_000_000},
            {"shop": "paris", "id": 2, "amount": None, "updated_at": None}]
    batch = rows_to_batch(rows, ORDERS, first_row=0, on_bad_record=None)
    assert batch.schema == ORDERS.arrow_schema()
    assert batch.to_pylist()[0] == {"shop": "berlin", "id": 1, "amount": Decimal("2.5"),
                                    "updated_at": dt.datetime(2024, 1, 1, tzinfo=UTC)}


def test_bad_rows_are_named_or_quarantined() -> None:
    rows = [{"shop": b"ok", "id": 1, "amount": None, "updated_at": None},
            {"shop": b"\xff\xfe", "id": 2, "amount": None, "updated_at": None},
            {"shop": b"ok", "id": 2**64 - 1, "amount": None, "updated_at": None}]
    bytes_table = TableSchema(source="ydb_shop", name="orders", columns=[
        Column("shop", "string", True, "String?"), *ORDERS.columns[1:]], primary_key=["shop", "id"])

    with pytest.raises(ValueError, match=r"ydb_shop\.orders: row 101: column 'shop' \(String\?\)"):
        rows_to_batch(rows, bytes_table, first_row=100, on_bad_record=None)

    quarantined: list[QuarantinedRecord] = []
    batch = rows_to_batch(rows, bytes_table, first_row=100, on_bad_record=quarantined.append)
    assert batch.num_rows == 1 and batch.column("id").to_pylist() == [1]
    assert [q.location for q in quarantined] == ["row 101", "row 102"]
    assert "'id'" in quarantined[1].reason and json.loads(quarantined[1].raw)["id"] == 2**64 - 1


# --------------------------------------------------------------------------------------------------------------
# authentication and configuration
# --------------------------------------------------------------------------------------------------------------

def resource(**settings: object) -> YdbResource:
    return YdbResource(endpoint="grpc://localhost:2136", database="/local", source_name="ydb_shop", **settings)


def test_anonymous_credentials() -> None:
    assert isinstance(resource().credentials(), ydb.AnonymousCredentials)


def test_static_credentials_carry_user_and_password() -> None:
    credentials = resource(auth="static", user="etl", password="pw").credentials()
    assert isinstance(credentials, ydb.StaticCredentials)
    assert (credentials.user, credentials.password) == ("etl", "pw")


def test_static_credentials_get_the_endpoint_from_the_driver_config() -> None:
    config = resource(auth="static", user="etl", password="pw").driver_config()
    assert config.database == "/local"
    prepared = ydb.driver.get_config(config)
    assert prepared.credentials.driver_config.endpoint == prepared.endpoint == "localhost:2136"


def test_static_without_user_is_a_clear_error() -> None:
    with pytest.raises(YdbConfigError, match="YDB source 'ydb_shop': auth 'static' needs user"):
        resource(auth="static", password="pw").credentials()


def test_token_credentials() -> None:
    credentials = resource(auth="token", token="t0ken").credentials()
    assert isinstance(credentials, ydb.AccessTokenCredentials)
    assert credentials.auth_metadata() == [("x-ydb-auth-ticket", "t0ken")]


def test_token_without_token_is_a_clear_error() -> None:
    with pytest.raises(YdbConfigError, match="auth 'token' needs a token"):
        resource(auth="token").credentials()


def test_metadata_credentials_are_built_without_network() -> None:
    assert isinstance(resource(auth="metadata").credentials(), ydb.iam.MetadataUrlCredentials)


@pytest.mark.parametrize(("variables", "expected"), [
    ({"YDB_ANONYMOUS_CREDENTIALS": "1"}, ydb.AnonymousCredentials),
    ({"YDB_ACCESS_TOKEN_CREDENTIALS": "abc"}, ydb.credentials.AuthTokenCredentials),
    ({"YDB_USER": "etl", "YDB_PASSWORD": "pw"}, ydb.StaticCredentials),
    ({"YDB_METADATA_CREDENTIALS": "1"}, ydb.iam.MetadataUrlCredentials),
])
def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str],
                                      expected: type) -> None:
    for name in ("YDB_SERVICE_ACCOUNT_KEY_FILE_CREDENTIALS", "YDB_USER", "YDB_PASSWORD", "YDB_ANONYMOUS_CREDENTIALS",
                 "YDB_METADATA_CREDENTIALS", "YDB_ACCESS_TOKEN_CREDENTIALS", "YDB_OAUTH2_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert isinstance(resource(auth="env").credentials(), expected)


def test_service_account_key_file_is_checked(tmp_path: Path) -> None:
    with pytest.raises(YdbConfigError, match="needs service_account_key_file"):
        resource(auth="service_account_key").credentials()
    with pytest.raises(YdbConfigError, match="does not exist"):
        resource(auth="service_account_key", service_account_key_file=str(tmp_path / "nope.json")).credentials()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(YdbConfigError, match="is not JSON"):
        resource(auth="service_account_key", service_account_key_file=str(broken)).credentials()
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"id": "k1"}))
    with pytest.raises(YdbConfigError, match=r"lacks \['private_key'\]"):
        resource(auth="service_account_key", service_account_key_file=str(partial)).credentials()


def test_service_account_key_file_builds_iam_credentials_or_names_the_missing_extra(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"id": "ajek", "service_account_id": "aje1",
                               "private_key": "-----BEGIN PRIVATE KEY-----"}))
    settings = resource(auth="service_account_key", service_account_key_file=str(key))
    try:
        import yandex.cloud.iam.v1  # noqa: F401
    except ImportError:
        with pytest.raises(YdbConfigError, match=r"needs the ydb\[yc\] extra"):
            settings.credentials()
    else:
        credentials = settings.credentials()
        assert isinstance(credentials, ydb.iam.ServiceAccountCredentials)
        assert credentials._account_id == "aje1"


@pytest.mark.parametrize(("settings", "message"), [
    ({"endpoint": "localhost:2136"}, "endpoint must look like grpc://"),
    ({"database": "local"}, "database must be a path starting with '/'"),
])
def test_bad_endpoint_or_database(settings: dict, message: str) -> None:
    config = {"endpoint": "grpc://localhost:2136", "database": "/local"} | settings
    with pytest.raises(YdbConfigError, match=message):
        YdbResource(**config).driver_config()


def test_retries_are_the_sdks_and_idempotent() -> None:
    retry = resource(timeout_s=7).retry_settings()
    assert isinstance(retry, ydb.RetrySettings) and retry.idempotent and retry.max_session_acquire_timeout == 7


def test_unreachable_endpoint_is_source_unavailable_without_secrets() -> None:
    port = free_port()
    settings = YdbResource(endpoint=f"grpc://127.0.0.1:{port}", database="/local", auth="static", user="etl",
                           password="s3cret-pw", timeout_s=1, source_name="ydb_shop")
    expected = f"YDB source 'ydb_shop': cannot connect to grpc://127.0.0.1:{port}"
    with pytest.raises(SourceUnavailableError, match=expected) as raised:
        settings.discover()
    assert "s3cret-pw" not in str(raised.value)


def test_reading_needs_a_primary_key() -> None:
    keyless = TableSchema(source="ydb_shop", name="t", columns=[Column("a", "int64", True, "Int64?")])
    with pytest.raises(Exception, match="no primary key to page by"):
        next(resource().read(keyless))


def test_batches_are_arrow() -> None:
    assert isinstance(rows_to_batch([], ORDERS, 0, None), pa.RecordBatch)


def test_unset_optional_settings_may_be_none() -> None:
    """datasources.yaml leaves user and key file unset (None); the resource takes them as they are."""
    settings = YdbResource(endpoint="grpc://localhost:2136", database="/local", user=None,
                           service_account_key_file=None)
    assert isinstance(settings.credentials(), ydb.AnonymousCredentials)
    with pytest.raises(YdbConfigError, match="needs user"):
        settings.model_copy(update={"auth": "static"}).credentials()
