"""Debezium change events parsed from Kafka messages: positions, operations, keys, the schema envelope, the
columns a replica needs, and clear errors naming the message."""

from __future__ import annotations

import json

import pytest

from etl_assets.cdc.events import DebeziumEventError, implied_columns, key_columns, parse_event, parse_events
from etl_assets.config.models import DataSources
from resources.kafka import KafkaMessage

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
    wrapped = {"schema": {"type": "struct"}, "payload": event("d", None, before={"id": 1, "status": "x"})}
    parsed = parse_event(TOPIC, message(wrapped, key={"schema": {}, "payload": {"id": 1}}))
    assert (parsed.op, parsed.key, parsed.after) == ("d", {"id": 1}, None)


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
