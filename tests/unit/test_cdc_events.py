"""Debezium change events parsed from Kafka messages: positions, operations, keys, the schema envelope, the
columns a replica needs, and clear errors naming the message."""

from __future__ import annotations

import json

import pytest

from etl_assets.cdc.events import (
    DebeziumEventError,
    implied_columns,
    key_columns,
    parse_event,
    parse_events,
    replica_columns,
    replica_values,
)
from etl_assets.config.models import DataSources
from resources.kafka import KafkaMessage
from tests.support.connect_envelope import ORDER_ONE, decimal_bytes, envelope, key_envelope

TOPIC = "shop.public.orders"


def message(value: object, key: object = {"id": 1}, offset: int = 0, partition: int = 0) -> KafkaMessage:
    encode = lambda document: None if document is None else json.dumps(document).encode()  # noqa: E731
    return KafkaMessage(partition, offset, 0, encode(key), encode(value))


def event(op: str, after: dict | None, lsn: int | None = 100, before: dict | None = None) -> dict:
    return {"op": op, "before": before, "after": after, "ts_ms": 1, "source": {"lsn": lsn, "table": "orders"}}


def test_an_update_is_positioned_by_its_lsn_and_keyed_by_the_message_key():
    parsed = parse_event(TOPIC, message(event("u", {"id": 1, "status": "paid"}, lsn=4242), offset=7, partition=2))
    assert (parsed.position, parsed.op, parsed.key, parsed.after) == (4242, "u", {"id": 1},
                                                                        {"id": 1, "status": "paid"})
    assert parsed.sequence == (2 << 48) + 7


def test_a_delete_has_no_after_image_and_the_schema_envelope_is_unwrapped():
    parsed = parse_event(TOPIC, KafkaMessage(0, 0, 0, key_envelope(1), envelope("d", None, lsn=5)))
    assert (parsed.op, parsed.key, parsed.after) == ("d", {"id": 1}, None)
    assert parsed.types["amount"] == "decimal(12,3)"


def test_an_envelope_gives_the_column_types_and_decodes_the_values():
    parsed = parse_event(TOPIC, KafkaMessage(0, 0, 0, key_envelope(1), envelope("c", ORDER_ONE, lsn=5)))
    assert parsed.types == {
        "id": "int64", "qty": "int16", "units": "int32", "ratio": "float32", "score": "float64", "paid": "bool",
        "status": "string", "raw": "binary", "day": "date", "at": "timestamp", "at_tz": "timestamptz",
        "clock": "time", "amount": "decimal(12,3)", "doc": "json", "ident": "uuid"}
    assert parsed.after == {
        "id": 1, "qty": 3, "units": 70000, "ratio": 0.5, "score": 0.125, "paid": True, "status": "new",
        "raw": "\\x00ff10", "day": "2026-03-01", "at": "2026-03-01T10:11:12.345678", "at_tz": "2026-03-01T08:11:12.5Z",
        "clock": "23:59:58.250000", "amount": "-12345.678", "doc": {"a": [1, 2], "b": None},
        "ident": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}
    assert replica_values(parsed, parsed.types) is parsed.after  # decoded once, not again as schemaless text
    assert replica_columns([parsed], None) == parsed.types


@pytest.mark.parametrize(("field", "value", "expected"), [
    ({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}},
     decimal_bytes("0.05", 2), "0.05"),
    ({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "0"}}, 42, "42"),
    ({"type": "struct", "name": "io.debezium.data.VariableScaleDecimal"},
     {"scale": 4, "value": decimal_bytes("-1.2345", 4)}, "-1.2345"),
    ({"type": "int64", "name": "io.debezium.time.Timestamp"}, 86_400_001, "1970-01-02T00:00:00.001000"),
    ({"type": "int64", "name": "io.debezium.time.NanoTimestamp"}, 1_500, "1970-01-01T00:00:00.000001"),
    ({"type": "int32", "name": "org.apache.kafka.connect.data.Date"}, -1, "1969-12-31"),
    ({"type": "int32", "name": "io.debezium.time.Time"}, 3_723_004, "01:02:03.004000"),
    ({"type": "array", "items": {"type": "string"}}, ["x", "y z"], ["x", "y z"]),
    ({"type": "int8"}, 7, 7),
])
def test_connect_types_decode_to_what_postgresql_reads(field, value, expected):
    fields = [{"type": "int64", "optional": False, "field": "id"}, {**field, "optional": True, "field": "v"}]
    parsed = parse_event(TOPIC, KafkaMessage(0, 0, 0, key_envelope(1),
                                             envelope("c", {"id": 1, "v": value}, lsn=5, fields=fields)))
    assert parsed.after["v"] == expected


def test_events_without_an_envelope_keep_types_implied_by_their_values():
    parsed = parse_event(TOPIC, message(event("c", {"id": 1, "day": "2026-03-01"})))
    assert parsed.types is None
    assert replica_columns([parsed], None) == {"id": "int64", "day": "string"}


@pytest.mark.parametrize(("fields", "after", "reason"), [
    ([{"type": "int64", "field": "id"}, {"type": "int32", "name": "io.debezium.time.Date", "field": "v"}],
     {"id": 1, "v": "2026-03-01"}, "column 'v' (date): expected an integer, got '2026-03-01'"),
    ([{"type": "int64", "field": "id"}, {"type": "bytes", "field": "v"}], {"id": 1, "v": "%%%"},
     "column 'v' (binary): not base64"),
    ([{"type": "int64", "field": "id"}, {"type": "uint128", "field": "v"}], {"id": 1, "v": 1},
     "row column 'v': unknown Connect type 'uint128'"),
])
def test_values_that_do_not_match_their_envelope_name_the_column(fields, after, reason):
    with pytest.raises(DebeziumEventError) as raised:
        parse_event(TOPIC, KafkaMessage(0, 5, 0, key_envelope(1), envelope("c", after, lsn=5, fields=fields)))
    assert f"topic {TOPIC!r} partition 0 offset 5: " in str(raised.value) and reason in str(raised.value)


def test_events_without_an_lsn_are_positioned_by_their_offset():
    assert parse_event(TOPIC, message(event("c", {"id": 1}, lsn=None), offset=12)).position == 12


def test_tombstones_truncates_and_messages_are_skipped_not_applied():
    parsed = parse_events(TOPIC, [message(None), message(event("t", None)), message({"op": "m", "message": {}}),
                                  message(event("r", {"id": 1}))])
    assert parsed.skipped == 3 and [e.op for e in parsed.events] == ["r"]


@pytest.mark.parametrize(("value", "key", "reason"), [
    (b"not json", b'{"id": 1}', "partition 0 offset 5: the value is not JSON"),
    (b'{"after": {}}', b'{"id": 1}', 'not a Debezium change event (no "op" field)'),
    (b'{"op": "c", "after": null}', b'{"id": 1}', "a 'c' event needs an \"after\" object"),
    (b'{"op": "c", "after": {"id": 1}}', None, "the message key must be the row's primary key"),
    (b'{"op": "u", "after": {"name": "x"}}', b'{"id": 1}', "key column(s) ['id'] are missing"),
    (b'{"op": "u", "after": {"id": 1}, "source": {"lsn": "0/16"}}', b'{"id": 1}', "source.lsn must be an integer"),
])
def test_bad_events_name_topic_partition_offset_and_reason(value, key, reason):
    with pytest.raises(DebeziumEventError) as raised:
        parse_event(TOPIC, KafkaMessage(0, 5, 0, key, value))
    assert f"topic {TOPIC!r} partition 0 offset 5" in str(raised.value) and reason in str(raised.value)


def test_the_replica_columns_come_from_after_images_and_keys():
    events = parse_events(TOPIC, [message(event("c", {"id": 1, "total": 1.5, "note": None})),
                                  message(event("u", {"id": 1, "total": 2, "note": "x", "paid": True})),
                                  message(event("d", None), key={"id": 2})]).events
    assert implied_columns(events) == {"id": "int64", "total": "float64", "note": "string", "paid": "bool"}
    assert key_columns(events) == ["id"]


def base(**postgres: object) -> dict:
    return {"warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": {"database": "w"}}},
            "sources": {"postgres": {"shop": {"database": "shop", **postgres}},
                        "kafka": {"a": {"bootstrap_servers": "x:1", "topics": []},
                                  "b": {"bootstrap_servers": "y:1", "topics": []}}}}


def test_cdc_with_two_kafka_sources_must_name_one():
    with pytest.raises(ValueError, match="CDC needs cdc_kafka to choose one of the Kafka sources"):
        DataSources.model_validate(base(cdc=True))
    with pytest.raises(ValueError, match="cdc_kafka: 'c' is not a Kafka source"):
        DataSources.model_validate(base(cdc=True, cdc_kafka="c"))
    assert DataSources.model_validate(base(cdc=True, cdc_kafka="b")).cdc_kafka("shop") == "b"


def test_slot_names_must_be_postgres_names():
    with pytest.raises(ValueError, match="cdc_slot"):
        DataSources.model_validate(base(cdc=True, cdc_kafka="a", cdc_slot="Bad-Slot"))


def test_default_slot_publication_and_topic_prefix_are_safe_names_of_the_source():
    from etl_assets.cdc.assets import cdc_names

    settings = DataSources.model_validate(base(cdc=True, cdc_kafka="a")).sources.postgres["shop"]
    names = cdc_names("Shop DB/eu", settings)
    assert (names.slot, names.publication, names.topic_prefix) == ("aietl_shop_db_eu",) * 3
    assert names.topic("public", "orders") == "aietl_shop_db_eu.public.orders"
