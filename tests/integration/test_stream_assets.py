"""The stream assets, materialized by Dagster against the real Tansu broker and a real PostgreSQL warehouse."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster import AssetKey, materialize

from etl_assets.config.models import DataSources
from etl_assets.stream.assets import build_stream_assets, per_minute_key, stream_key
from etl_assets.stream.parse import parse_messages
from etl_assets.stream.store import land_batch
from resources.kafka import KafkaMessage, KafkaResource, MicroBatch
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.postgres.stream_store import ConcurrentLandingError, open_stream_store

pytestmark = pytest.mark.integration
SOURCE = "events"


def warehouse_resource(dsn: str) -> PostgresResource:
    return PostgresResource.from_dsn(dsn)


def metadata_resource(warehouse: PostgresResource) -> MetadataResource:
    return MetadataResource(postgres=warehouse)


def datasources(bootstrap: str, topic: str, batch_size: int = 5000) -> DataSources:
    return DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh",
        "targets": {"postgres": {"wh": {"database": "unused"}}},
        "sources": {"kafka": {SOURCE: {"bootstrap_servers": bootstrap, "topics": [topic], "batch_size": batch_size}}},
    })


def run_stream(bootstrap: str, dsn: str, topic: str, batch_size: int = 5000,
               client: str = "kafka-python") -> dict[AssetKey, dict[str, Any]]:
    warehouse = warehouse_resource(dsn)
    result = materialize(
        build_stream_assets(datasources(bootstrap, topic, batch_size)),
        resources={f"source_{SOURCE}": KafkaResource(bootstrap_servers=bootstrap, client=client, source_name=SOURCE),
                   "warehouse": warehouse, "metadata": metadata_resource(warehouse)},
    )
    assert result.success
    materializations = [event.event_specific_data.materialization
                        for event in result.get_asset_materialization_events()]
    return {m.asset_key: {name: value.value for name, value in m.metadata.items()} for m in materializations}


def produce(bootstrap: str, topic: str, values: list[bytes], partitions: int = 3) -> None:
    kafka = KafkaResource(bootstrap_servers=bootstrap)
    kafka.ensure_topic(topic, partitions=partitions)
    producer = kafka.producer()
    try:
        for index, value in enumerate(values):
            producer.send(topic, key=str(index % 7).encode(), value=value)
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=10)


def click(event_id: int, event_type: str, ts: str) -> bytes:
    return json.dumps({"event_id": event_id, "customer_id": event_id % 5, "event_type": event_type, "ts": ts}).encode()


def query(dsn: str, statement: str) -> list[tuple]:
    with psycopg.connect(dsn, connect_timeout=10) as connection:
        return connection.execute(statement).fetchall()


def test_two_micro_batches_land_every_message_exactly_once(kafka_bootstrap: str, pg_dsn: str, sample_dir: Path,
                                                          kafka_client: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    sample = [json.loads(line) for line in (sample_dir / "clicks.ndjson").read_text().splitlines() if line]
    produce(kafka_bootstrap, topic, [json.dumps(event).encode() for event in sample[:1200]])

    first = run_stream(kafka_bootstrap, pg_dsn, topic, client=kafka_client)[stream_key(SOURCE, topic)]
    produce(kafka_bootstrap, topic, [json.dumps(event).encode() for event in sample[1200:]])
    second = run_stream(kafka_bootstrap, pg_dsn, topic, client=kafka_client)[stream_key(SOURCE, topic)]
    third = run_stream(kafka_bootstrap, pg_dsn, topic, client=kafka_client)[stream_key(SOURCE, topic)]

    assert (first["rows_written"], second["rows_written"], third["rows_written"]) == (1200, 800, 0)
    assert (first["dagster/row_count"], second["dagster/row_count"], third["dagster/row_count"]) == (1200, 2000, 2000)
    assert first["added_columns"] == ["event_id", "customer_id", "product_id", "event_type", "ts"]
    landed = query(pg_dsn, f'SELECT event_id FROM stream_events."{topic}" ORDER BY event_id')
    assert [row[0] for row in landed] == [event["event_id"] for event in sample]
    stored = dict(query(pg_dsn, "SELECT partition, next_offset FROM aietl_meta.kafka_offsets "
                                f"WHERE source = 'events' AND topic = '{topic}' AND consumer = 'stream'"))
    assert sum(stored.values()) == 2000
    assert {int(p): o["to"] for p, o in third["offsets"].items()} == stored
    history = metadata_resource(warehouse_resource(pg_dsn)).ingestion_history(SOURCE, topic)
    assert [(h["mode"], h["status"], h["rows_written"]) for h in history] == [
        ("stream", "success", 0), ("stream", "success", 800), ("stream", "success", 1200)]
    assert history[0]["watermark_from"] == history[0]["watermark_to"] == history[1]["watermark_to"]
    types = dict(query(pg_dsn, "SELECT column_name, data_type FROM information_schema.columns "
                               f"WHERE table_schema = 'stream_events' AND table_name = '{topic}'"))
    assert types["event_id"] == "bigint" and types["ts"] == "timestamp with time zone"


def test_per_minute_windows_match_the_events_and_only_touched_windows_are_recomputed(
        kafka_bootstrap: str, pg_dsn: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    early = [click(i, kind, f"2026-11-01T10:0{minute}:{i % 60:02d}+00:00")
             for i, (minute, kind) in enumerate([(0, "view")] * 5 + [(0, "buy")] * 2 + [(1, "view")] * 3)]
    produce(kafka_bootstrap, topic, early)
    first = run_stream(kafka_bootstrap, pg_dsn, topic)[per_minute_key(SOURCE, topic)]
    late = [click(100, "buy", "2026-11-01T10:01:30+00:00"), click(101, "view", "2026-11-01T10:05:00Z")]
    produce(kafka_bootstrap, topic, late)
    second = run_stream(kafka_bootstrap, pg_dsn, topic)[per_minute_key(SOURCE, topic)]

    assert (first["windows_recomputed"], first["new_rows"], first["time_column"]) == (2, 10, "ts")
    assert (second["windows_recomputed"], second["new_rows"]) == (2, 2)
    counts = query(pg_dsn, f'SELECT window_start, event_type, events FROM stream_events."{topic}_per_minute" '
                           "ORDER BY 1, 2")
    at = lambda minute: datetime(2026, 11, 1, 10, minute, tzinfo=UTC)  # noqa: E731
    assert counts == [(at(0), "buy", 2), (at(0), "view", 5), (at(1), "buy", 1), (at(1), "view", 3),
                      (at(5), "view", 1)]


def test_bad_messages_are_quarantined_with_partition_offset_and_reason(kafka_bootstrap: str, pg_dsn: str,
                                                                       kafka_client: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    good = click(1, "view", "2026-11-01T10:00:00+00:00")
    produce(kafka_bootstrap, topic, [good, b'{"event_id": 2, "event_type": ', b"[1, 2]", b"\xff\xfe"], partitions=1)
    first = run_stream(kafka_bootstrap, pg_dsn, topic, client=kafka_client)[stream_key(SOURCE, topic)]
    produce(kafka_bootstrap, topic, [json.dumps({"event_id": "three", "event_type": "view"}).encode(),
                                     click(4, "buy", "2026-11-01T10:00:10+00:00")], partitions=1)
    second = run_stream(kafka_bootstrap, pg_dsn, topic, client=kafka_client)[stream_key(SOURCE, topic)]

    assert (first["rows_written"], first["rows_quarantined"]) == (1, 3)
    assert (second["rows_written"], second["rows_quarantined"]) == (1, 1)
    quarantined = query(pg_dsn, 'SELECT partition, "offset", reason, raw FROM stream_events._quarantine '
                                f"WHERE topic = '{topic}' ORDER BY \"offset\"")
    assert [(p, o) for p, o, _, _ in quarantined] == [(0, 1), (0, 2), (0, 3), (0, 4)]
    reasons = [reason for _, _, reason, _ in quarantined]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "expected a JSON object, got list"
    assert reasons[2].startswith("not UTF-8 text")
    assert reasons[3] == "field 'event_id': value \"three\" does not fit column type int64"
    assert quarantined[0][3] == '{"event_id": 2, "event_type": '
    assert query(pg_dsn, f'SELECT event_id FROM stream_events."{topic}" ORDER BY 1') == [(1,), (4,)]


def test_a_json_value_postgresql_cannot_hold_is_quarantined_and_the_batch_lands(kafka_bootstrap: str,
                                                                               pg_dsn: str) -> None:
    """A lone surrogate escape (valid JSON, not Unicode) inside an object column would make jsonb refuse the whole
    COPY, and every retry of the batch with it: the message is quarantined instead."""
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [b'{"event_id": 1, "payload": {"a": "ok \\u00e9"}}',
                                     b'{"event_id": 2, "payload": {"a": "\\ud800"}}',
                                     b'{"event_id": 3, "payload": [1, 2]}'], partitions=1)
    landed = run_stream(kafka_bootstrap, pg_dsn, topic)[stream_key(SOURCE, topic)]
    assert (landed["rows_written"], landed["rows_quarantined"]) == (2, 1)
    assert query(pg_dsn, f'SELECT event_id, payload::text FROM stream_events."{topic}" ORDER BY 1') == [
        (1, '{"a": "ok \u00e9"}'), (3, "[1, 2]")]
    [(offset, reason)] = query(pg_dsn, 'SELECT "offset", reason FROM stream_events._quarantine')
    assert offset == 1 and reason.startswith("field 'payload': contains a lone UTF-16 surrogate"), reason


def test_a_backlog_larger_than_a_batch_lands_in_several_micro_batches_of_one_run(kafka_bootstrap: str, pg_dsn: str,
                                                                                  kafka_client: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [click(i, "view", "2026-11-01T10:00:00Z") for i in range(250)])
    first = run_stream(kafka_bootstrap, pg_dsn, topic, batch_size=100, client=kafka_client)[stream_key(SOURCE, topic)]
    again = run_stream(kafka_bootstrap, pg_dsn, topic, batch_size=100, client=kafka_client)[stream_key(SOURCE, topic)]
    assert (first["rows_written"], first["micro_batches"], first["drained"]) == (250, 3, True)
    assert (again["rows_written"], again["micro_batches"]) == (0, 1)
    assert first["landing_seconds"] > 0 and first["step_overhead_seconds"] >= 0
    counts = query(pg_dsn, f'SELECT count(*), count(DISTINCT event_id) FROM stream_events."{topic}"')
    assert counts == [(250, 250)]
    per_minute = query(pg_dsn, f'SELECT events FROM stream_events."{topic}_per_minute"')
    assert per_minute == [(250,)]
    history = metadata_resource(warehouse_resource(pg_dsn)).ingestion_history(SOURCE, topic)
    assert [h["rows_written"] for h in history] == [0, 250]


def test_columns_retyped_in_the_warehouse_keep_landing(kafka_bootstrap: str, pg_dsn: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [click(i, "view", "2026-11-01T10:00:00Z") for i in range(3)], partitions=1)
    run_stream(kafka_bootstrap, pg_dsn, topic)
    with psycopg.connect(pg_dsn, connect_timeout=10) as connection:
        connection.execute(f'ALTER TABLE stream_events."{topic}" ALTER COLUMN customer_id TYPE smallint, '
                           "ALTER COLUMN event_id TYPE real")
    produce(kafka_bootstrap, topic, [click(i, "buy", "2026-11-01T10:01:00Z") for i in range(3, 6)], partitions=1)
    second = run_stream(kafka_bootstrap, pg_dsn, topic)

    assert (second[stream_key(SOURCE, topic)]["rows_written"], second[stream_key(SOURCE, topic)]["added_columns"]) \
        == (3, [])
    assert second[per_minute_key(SOURCE, topic)]["time_column"] == "ts"
    assert query(pg_dsn, f'SELECT event_id, customer_id FROM stream_events."{topic}" ORDER BY 1') == [
        (float(i), i % 5) for i in range(6)]


def test_a_batch_whose_offsets_moved_meanwhile_writes_nothing(pg_dsn: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    message = KafkaMessage(partition=0, offset=0, key=None,
                           value=click(1, "view", "2026-11-01T10:00:00Z"), timestamp_ms=0)
    batch = MicroBatch(topic=topic, messages=[message], start_offsets={0: 0}, next_offsets={0: 1})
    with open_stream_store(warehouse_resource(pg_dsn), SOURCE) as store:
        store.ensure_offsets_table()
        with store.topic_transaction(topic):
            store.store_offsets(topic, {0: 1})
        with pytest.raises(ConcurrentLandingError, match=f"topic {topic} of source {SOURCE}: offsets moved"):
            land_batch(store, batch, parse_messages(batch.messages))
        assert store.read_offsets(topic) == {0: 1}
        assert store.column_types(topic) == {}
