"""KafkaResource against the real Tansu broker: topics, the sample loader, bounded micro-batches, resuming."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from etl_assets.stream.sample import produce_sample_events
from resources.embedded.kafka import free_port
from resources.kafka import KafkaResource
from resources.kafka.confluent import consumer_config
from resources.protocol import SourceUnavailableError

pytestmark = pytest.mark.integration


def new_topic() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def produce(kafka: KafkaResource, topic: str, values: list[bytes]) -> None:
    producer = kafka.producer()
    try:
        for value in values:
            producer.send(topic, value=value)
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=10)


def test_sample_events_are_published_and_read_back_completely(kafka_bootstrap: str, sample_dir: Path,
                                                              kafka_client: str) -> None:
    kafka = KafkaResource(bootstrap_servers=kafka_bootstrap, client=kafka_client, source_name="events")
    topic = new_topic()
    sent = produce_sample_events(kafka, topic, sample_dir / "clicks.ndjson")
    lines = [line for line in (sample_dir / "clicks.ndjson").read_text().splitlines() if line.strip()]
    assert sent == len(lines) == 2000

    batch = kafka.read_batch(topic, {}, max_messages=10_000, max_seconds=30)

    assert batch.drained
    assert len(batch.messages) == sent
    assert sorted(json.loads(m.value)["event_id"] for m in batch.messages) == list(range(1, 2001))
    assert sorted(batch.next_offsets) == [0, 1, 2]
    assert sum(batch.next_offsets.values()) == sent
    by_customer: dict[bytes, set[int]] = {}
    for message in batch.messages:
        by_customer.setdefault(message.key, set()).add(message.partition)
    assert all(len(partitions) == 1 for partitions in by_customer.values()), "a customer's events share a partition"


def test_micro_batches_are_bounded_and_resume_where_the_last_one_ended(kafka_bootstrap: str, kafka_client: str) -> None:
    kafka = KafkaResource(bootstrap_servers=kafka_bootstrap, client=kafka_client)
    topic = new_topic()
    kafka.ensure_topic(topic, partitions=2)
    produce(kafka, topic, [json.dumps({"n": n}).encode() for n in range(250)])

    first = kafka.read_batch(topic, {}, max_messages=100)
    second = kafka.read_batch(topic, first.next_offsets, max_messages=100)
    third = kafka.read_batch(topic, second.next_offsets, max_messages=100)
    fourth = kafka.read_batch(topic, third.next_offsets, max_messages=100)

    assert [len(b.messages) for b in (first, second, third, fourth)] == [100, 100, 50, 0]
    assert not first.drained and third.drained and fourth.drained
    seen = [json.loads(m.value)["n"] for b in (first, second, third) for m in b.messages]
    assert sorted(seen) == list(range(250))
    assert fourth.next_offsets == third.next_offsets
    assert second.start_offsets == first.next_offsets


def test_ensure_topic_is_idempotent_and_end_offsets_count_messages(kafka_bootstrap: str) -> None:
    kafka = KafkaResource(bootstrap_servers=kafka_bootstrap)
    topic = new_topic()
    assert kafka.ensure_topic(topic, partitions=1) is True
    assert kafka.ensure_topic(topic, partitions=1) is False
    produce(kafka, topic, [b'{"a": 1}'] * 5)
    ends = kafka.end_offsets(topic)
    assert list(ends) == [0]
    assert 0 < ends[0] <= 5, "Tansu may under-report end offsets, never over-report"


def test_a_missing_topic_is_named_in_the_error(kafka_bootstrap: str, kafka_client: str) -> None:
    kafka = KafkaResource(bootstrap_servers=kafka_bootstrap, request_timeout_ms=2000, client=kafka_client,
                          source_name="events")
    with pytest.raises(SourceUnavailableError, match=r"Kafka source 'events'.*topic 'no_such_topic_x'"):
        kafka.read_batch("no_such_topic_x", {}, max_messages=10, max_seconds=2)


def test_an_unreachable_broker_fails_fast_with_the_source_named() -> None:
    kafka = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=2000, source_name="events")
    with pytest.raises(SourceUnavailableError, match=r"Kafka source 'events' \(127\.0\.0\.1:\d+\): cannot connect"):
        kafka.consumer()


def test_sasl_ssl_settings_reach_the_confluent_client_config_too() -> None:
    kafka = KafkaResource(bootstrap_servers="b1:9093,b2:9093", security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                          sasl_username="etl", sasl_password="s3cret", ssl_cafile="/etc/ca.pem",
                          client="confluent-kafka")
    config = consumer_config(kafka, 1 << 20, 1 << 20, True)
    assert (config["security.protocol"], config["sasl.mechanism"], config["sasl.username"]) == (
        "SASL_SSL", "PLAIN", "etl")
    assert config["ssl.ca.location"] == "/etc/ca.pem" and config["socket.timeout.ms"] == 30_000
    assert not config["enable.auto.commit"] and "ssl.key.location" not in config


def test_sasl_ssl_settings_reach_the_client_config() -> None:
    kafka = KafkaResource(bootstrap_servers="b1:9093, b2:9093", security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                          sasl_username="etl", sasl_password="s3cret", ssl_cafile="/etc/ca.pem")
    config = kafka.connection_config()
    assert config["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert (config["security_protocol"], config["sasl_mechanism"], config["sasl_plain_username"]) == (
        "SASL_SSL", "PLAIN", "etl")
    assert config["ssl_cafile"] == "/etc/ca.pem" and config["request_timeout_ms"] == 30_000
    assert "sasl_mechanism" not in KafkaResource(bootstrap_servers="b:9092").connection_config()


def test_incomplete_security_settings_are_refused_without_showing_the_secret() -> None:
    with pytest.raises(ValueError, match="SASL_PLAINTEXT needs sasl_mechanism, sasl_username") as refused:
        KafkaResource(bootstrap_servers="b:9092", security_protocol="SASL_PLAINTEXT", sasl_password="s3cret",
                      source_name="events").consumer()
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ValueError, match="both ssl_certfile and ssl_keyfile"):
        KafkaResource(bootstrap_servers="b:9092", security_protocol="SSL", ssl_certfile="/c.pem").producer()


@pytest.mark.skipif(not os.environ.get("AIETL_TEST_KAFKA_SASL_BOOTSTRAP"),
                    reason="set AIETL_TEST_KAFKA_SASL_BOOTSTRAP (+ _USERNAME, _PASSWORD, _MECHANISM, _PROTOCOL, "
                           "_CAFILE) to test against a SASL-secured Kafka; the Tansu broker here is plaintext only")
def test_a_sasl_secured_broker_round_trip() -> None:
    prefix = "AIETL_TEST_KAFKA_SASL_"
    kafka = KafkaResource(
        bootstrap_servers=os.environ[f"{prefix}BOOTSTRAP"],
        security_protocol=os.environ.get(f"{prefix}PROTOCOL", "SASL_PLAINTEXT"),
        sasl_mechanism=os.environ.get(f"{prefix}MECHANISM", "PLAIN"), sasl_username=os.environ[f"{prefix}USERNAME"],
        sasl_password=os.environ[f"{prefix}PASSWORD"], ssl_cafile=os.environ.get(f"{prefix}CAFILE"))
    topic = new_topic()
    kafka.ensure_topic(topic)
    produce(kafka, topic, [b'{"ok": true}'])
    assert [m.value for m in kafka.read_batch(topic, {}, max_messages=10).messages] == [b'{"ok": true}']
