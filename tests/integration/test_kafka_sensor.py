"""The Kafka sensor ticked by Dagster with a cursor, against the real Tansu broker and PostgreSQL warehouse."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from dagster import DagsterInstance, Definitions, build_sensor_context, materialize
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.storage.tags import RUN_KEY_TAG

from etl_assets.stream.assets import build_stream_assets, per_minute_key, stream_key
from resources.embedded.kafka import free_port
from resources.kafka import KafkaResource
from resources.postgres import PostgresResource
from sensors.kafka import build_kafka_sensors, decode_cursor
from tests.integration.test_stream_assets import SOURCE, datasources, metadata_resource, produce, warehouse_resource

pytestmark = pytest.mark.integration


class SensorHarness:
    """Ticks the source's sensor the way the daemon does: the cursor of one tick goes into the next."""

    def __init__(self, bootstrap: str, dsn: str, topic: str, instance: DagsterInstance):
        self.topic, self.instance, self.cursor = topic, instance, None
        config = datasources(bootstrap, topic)
        warehouse = warehouse_resource(dsn)
        self.resources: dict[str, Any] = {
            f"source_{SOURCE}": KafkaResource(bootstrap_servers=bootstrap, source_name=SOURCE,
                                              request_timeout_ms=5000),
            "warehouse": warehouse, "metadata": metadata_resource(warehouse)}
        self.assets = build_stream_assets(config)
        self.definitions = Definitions(assets=self.assets, sensors=build_kafka_sensors(config),
                                       resources=self.resources)
        self.sensor = self.definitions.resolve_sensor_def(f"kafka_{SOURCE}")

    def tick(self) -> SensorExecutionData:
        with build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources,
                                  definitions=self.definitions) as context:
            result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor if result.cursor is not None else self.cursor
        return result

    def land(self) -> None:
        assert materialize(self.assets, resources=self.resources, instance=self.instance).success


def event(n: int) -> bytes:
    return json.dumps({"event_id": n, "event_type": "view", "ts": "2026-11-01T10:00:00Z"}).encode()


@pytest.fixture
def instance() -> Any:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def test_the_sensor_requests_a_run_only_when_messages_wait(kafka_bootstrap: str, pg_dsn: str,
                                                           instance: DagsterInstance) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    KafkaResource(bootstrap_servers=kafka_bootstrap).ensure_topic(topic, partitions=2)
    harness = SensorHarness(kafka_bootstrap, pg_dsn, topic, instance)

    empty = harness.tick()
    assert not empty.run_requests and "no new messages" in empty.skip_message

    produce(kafka_bootstrap, topic, [event(n) for n in range(40)], partitions=2)
    first = harness.tick()
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert set(request.asset_selection) == {stream_key(SOURCE, topic), per_minute_key(SOURCE, topic)}
    assert request.tags["aietl/trigger"] == "kafka" and int(request.tags["aietl/waiting"]) > 0
    assert sum(decode_cursor(harness.cursor)[topic]["ends"].values()) > 0

    repeated = harness.tick()
    assert not repeated.run_requests and "already requested" in repeated.skip_message

    harness.land()
    landed = harness.tick()
    assert not landed.run_requests and "no new messages" in landed.skip_message

    produce(kafka_bootstrap, topic, [event(n) for n in range(40, 50)], partitions=2)
    more = harness.tick()
    assert len(more.run_requests) == 1 and more.run_requests[0].run_key != request.run_key


def test_a_partly_landed_backlog_is_requested_again(kafka_bootstrap: str, pg_dsn: str,
                                                    instance: DagsterInstance) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [event(n) for n in range(300)], partitions=1)
    harness = SensorHarness(kafka_bootstrap, pg_dsn, topic, instance)
    assert len(harness.tick().run_requests) == 1
    partly = materialize(harness.assets, resources=harness.resources, instance=instance,
                         run_config={"ops": {f"stream__{SOURCE}__{topic}": {"config": {"max_messages": 100}}}})
    assert partly.success

    again = harness.tick()
    assert len(again.run_requests) == 1, "100 of 300 landed: the rest must be asked for without new messages"


def test_an_unreachable_broker_is_a_skip_not_a_crash(pg_dsn: str, instance: DagsterInstance) -> None:
    harness = SensorHarness(f"127.0.0.1:{free_port()}", pg_dsn, "clicks", instance)
    harness.resources[f"source_{SOURCE}"] = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}",
                                                          request_timeout_ms=2000, source_name=SOURCE)
    result = harness.tick()
    assert not result.run_requests
    assert "Kafka source events: cannot read offsets" in result.skip_message


def fail_run_for(harness: SensorHarness, request: Any) -> None:
    """What the daemon does with a request whose run then fails: a real run carrying the request's run key."""
    broken = {**harness.resources, "warehouse": PostgresResource(port=free_port(), connect_timeout_s=2)}
    per_minute = [a for a in harness.assets if a.key == per_minute_key(SOURCE, harness.topic)]
    result = materialize(per_minute, resources=broken, instance=harness.instance, raise_on_error=False,
                         tags={RUN_KEY_TAG: request.run_key})
    assert not result.success


def test_a_failed_run_is_requested_again_with_backoff_until_the_messages_land(
        kafka_bootstrap: str, pg_dsn: str, instance: DagsterInstance) -> None:
    topic = f"clicks_{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [event(n) for n in range(30)], partitions=1)
    harness = SensorHarness(kafka_bootstrap, pg_dsn, topic, instance)
    [first] = harness.tick().run_requests
    assert "already requested" in harness.tick().skip_message

    fail_run_for(harness, first)
    [second] = harness.tick().run_requests
    assert second.run_key != first.run_key and second.tags["aietl/attempt"] == "2"
    assert "already requested" in harness.tick().skip_message

    fail_run_for(harness, second)
    waiting = harness.tick()
    assert not waiting.run_requests and "trying again in 1 tick(s)" in waiting.skip_message
    [third] = harness.tick().run_requests
    assert third.tags["aietl/attempt"] == "3" and len({first.run_key, second.run_key, third.run_key}) == 3

    harness.land()
    assert "no new messages" in harness.tick().skip_message
