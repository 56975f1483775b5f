"""Dead letters, offsets that go backwards, a 10 MB message and a deleted topic, through the stream asset on the real
Tansu broker and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
import uuid
import warnings

import pytest
from dagster import DagsterInstance, materialize

from etl_assets.config.models import DataSources
from etl_assets.stream.assets import build_stream_assets, stream_key
from resources.kafka import KafkaResource
from tests.integration.test_kafka_sensor import SensorHarness
from tests.integration.test_stream_assets import SOURCE, click, metadata_resource, produce, query, warehouse_resource

pytestmark = pytest.mark.integration


def datasources(bootstrap: str, topic: str, **settings: object) -> DataSources:
    return DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": {"database": "unused"}}},
        "sources": {"kafka": {SOURCE: {"bootstrap_servers": bootstrap, "topics": [topic], **settings}}}})


def run(bootstrap: str, dsn: str, topic: str, client: str = "kafka-python", request_timeout_ms: int = 30_000,
        **settings: object):
    warehouse = warehouse_resource(dsn)
    kafka = KafkaResource(bootstrap_servers=bootstrap, client=client, request_timeout_ms=request_timeout_ms,
                          source_name=SOURCE)
    return materialize(build_stream_assets(datasources(bootstrap, topic, **settings)), raise_on_error=False,
                       resources={f"source_{SOURCE}": kafka,
                                  "warehouse": warehouse, "metadata": metadata_resource(warehouse)})


def stream_metadata(result, topic: str) -> dict:
    [materialization] = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
                         if e.event_specific_data.materialization.asset_key == stream_key(SOURCE, topic)]
    return {name: value.value for name, value in materialization.metadata.items()}


def read_all(bootstrap: str, topic: str) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        kafka = KafkaResource(bootstrap_servers=bootstrap)
        return kafka.read_batch(topic, {}, max_messages=100, max_seconds=10).messages


def test_undecodable_messages_go_to_the_dead_letter_topic_and_quarantine_once(kafka_bootstrap: str, pg_dsn: str,
                                                                             kafka_client: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    bad = [b"not json", b'["wrong", "shape"]', json.dumps({"event_id": "x" * 64, "ts": 1}).encode()]
    produce(kafka_bootstrap, topic, [click(1, "view", "2026-11-01T10:00:00Z"), *bad,
                                     click(2, "buy", "2026-11-01T10:00:01Z")], partitions=1)
    first = run(kafka_bootstrap, pg_dsn, topic, kafka_client, dead_letter_topic="dlq_{topic}")
    assert first.success
    meta = stream_metadata(first, topic)
    assert (meta["rows_written"], meta["rows_quarantined"], meta["dead_lettered"]) == (3, 2, 2)

    letters = read_all(kafka_bootstrap, f"dlq_{topic}")
    assert [m.value for m in letters] == bad[:2]
    assert [m.key for m in letters] == [f"{topic}/0/1".encode(), f"{topic}/0/2".encode()]
    quarantined = query(pg_dsn, 'SELECT "offset", reason, dead_lettered_at IS NOT NULL FROM stream_events._quarantine '
                                'ORDER BY 1')
    assert [(o, sent) for o, _, sent in quarantined] == [(1, True), (2, True)]
    assert quarantined[0][1].startswith("not valid JSON") and quarantined[1][1] == "expected a JSON object, got list"

    produce(kafka_bootstrap, topic, [b"{broken"], partitions=1)
    second = run(kafka_bootstrap, pg_dsn, topic, kafka_client, dead_letter_topic="dlq_{topic}")
    assert stream_metadata(second, topic)["dead_lettered"] == 1
    assert len(read_all(kafka_bootstrap, f"dlq_{topic}")) == 3, "a rerun never sends a dead letter twice"


def test_dead_letters_left_unsent_by_a_failed_publish_are_sent_by_the_next_run(kafka_bootstrap: str,
                                                                             pg_dsn: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [b"nope", click(1, "view", "2026-11-01T10:00:00Z")], partitions=1)
    assert run(kafka_bootstrap, pg_dsn, topic, dead_letter_topic=None).success
    assert query(pg_dsn, "SELECT count(*) FROM stream_events._quarantine WHERE dead_lettered_at IS NULL") == [(1,)]
    again = run(kafka_bootstrap, pg_dsn, topic, dead_letter_topic="{topic}.dead_letters")
    assert stream_metadata(again, topic)["dead_lettered"] == 1
    assert [m.value for m in read_all(kafka_bootstrap, f"{topic}.dead_letters")] == [b"nope"]


def delete_topic(kafka: KafkaResource, topic: str) -> None:
    admin = kafka.admin()
    try:
        admin.delete_topics([topic], timeout_ms=10_000)
    finally:
        admin.close()


def recreate(bootstrap: str, topic: str, partitions: int = 1) -> None:
    kafka = KafkaResource(bootstrap_servers=bootstrap)
    delete_topic(kafka, topic)
    deadline = time.monotonic() + 20
    while True:
        try:
            kafka.ensure_topic(topic, partitions=partitions)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_offsets_past_the_end_of_a_recreated_topic_fail_or_restart_by_policy(kafka_bootstrap: str, pg_dsn: str,
                                                                            kafka_client: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [click(i, "view", "2026-11-01T10:00:00Z") for i in range(30)], partitions=1)
    assert run(kafka_bootstrap, pg_dsn, topic, kafka_client).success
    recreate(kafka_bootstrap, topic)
    produce(kafka_bootstrap, topic, [click(100 + i, "buy", "2026-11-01T11:00:00Z") for i in range(10)], partitions=1)

    with DagsterInstance.ephemeral() as instance:
        tick = SensorHarness(kafka_bootstrap, pg_dsn, topic, instance).tick()
    assert len(tick.run_requests) == 1 and tick.run_requests[0].tags["aietl/offsets"] == "behind-end"

    failed = run(kafka_bootstrap, pg_dsn, topic, kafka_client, on_offsets_reset="fail")
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert re.search(r"partition 0 ends at offset \d+ .*but offsets up to 30 were landed", message), message
    assert "on_offsets_reset: restart" in message
    retries = [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert not retries, "a run that cannot pass is not retried"
    assert query(pg_dsn, f'SELECT count(*) FROM stream_events."{topic}"') == [(30,)]

    restarted = run(kafka_bootstrap, pg_dsn, topic, kafka_client, on_offsets_reset="restart")
    assert restarted.success
    meta = stream_metadata(restarted, topic)
    assert (meta["rows_written"], meta["rows_moved_aside"]) == (10, 30)
    assert query(pg_dsn, f'SELECT min(event_id), count(*) FROM stream_events."{topic}"') == [(100, 10)]
    assert query(pg_dsn, f'SELECT count(*) FROM stream_events."{topic}__before_reset"') == [(30,)]
    again = run(kafka_bootstrap, pg_dsn, topic, kafka_client, on_offsets_reset="fail")
    assert stream_metadata(again, topic)["rows_written"] == 0


def test_a_10_mb_message_lands_whole_with_either_client(kafka_bootstrap: str, pg_dsn: str, kafka_client: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    big = json.dumps({"event_id": 2, "note": "x" * (10 << 20)}).encode()
    kafka = KafkaResource(bootstrap_servers=kafka_bootstrap)
    kafka.ensure_topic(topic, partitions=1)
    producer = kafka.producer(max_request_size=16 << 20)
    try:
        for value in (json.dumps({"event_id": 1, "note": "small"}).encode(), big,
                      json.dumps({"event_id": 3, "note": "after"}).encode()):
            producer.send(topic, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)
    result = run(kafka_bootstrap, pg_dsn, topic, kafka_client)
    assert result.success
    assert stream_metadata(result, topic)["rows_written"] == 3
    assert query(pg_dsn, f'SELECT event_id, length(note) FROM stream_events."{topic}" ORDER BY 1') == [
        (1, 5), (2, 10 << 20), (3, 5)]


def test_a_topic_deleted_after_landing_fails_the_run_naming_it_and_keeps_what_landed(kafka_bootstrap: str,
                                                                                     pg_dsn: str) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [click(i, "view", "2026-11-01T10:00:00Z") for i in range(20)], partitions=1)
    assert run(kafka_bootstrap, pg_dsn, topic).success
    delete_topic(KafkaResource(bootstrap_servers=kafka_bootstrap), topic)

    failed = run(kafka_bootstrap, pg_dsn, topic, request_timeout_ms=2000, retry={"max_retries": 0})
    assert not failed.success
    error = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error
    assert f"Kafka source 'events' ({kafka_bootstrap}): topic {topic!r} does not exist" in error.cause.message, error
    assert query(pg_dsn, f'SELECT count(*) FROM stream_events."{topic}"') == [(20,)]
    assert query(pg_dsn, "SELECT sum(next_offset) FROM aietl_meta.kafka_offsets "
                         f"WHERE topic = '{topic}' AND consumer = 'stream'") == [(20,)]
