"""Publish the bundled sample events (data/sample/clicks.ndjson) to a Kafka topic for the demo."""

from __future__ import annotations

import json
from pathlib import Path

from resources.kafka import KafkaResource

SAMPLE_PARTITIONS = 3
FLUSH_TIMEOUT_S = 30


def produce_sample_events(kafka: KafkaResource, topic: str, ndjson_path: Path | str,
                          partitions: int = SAMPLE_PARTITIONS) -> int:
    """Send every non-blank line of ``ndjson_path`` as one message (keyed by ``customer_id`` when present, so a
    customer's events keep their order); creates the topic when missing. Returns the number of messages sent."""
    kafka.ensure_topic(topic, partitions=partitions)
    producer = kafka.producer(linger_ms=5)
    try:
        with open(ndjson_path, "rb") as lines:
            sends = [producer.send(topic, key=_key(value), value=value)
                     for value in (line.strip() for line in lines) if value]
        producer.flush(timeout=FLUSH_TIMEOUT_S)
    finally:
        producer.close(timeout=FLUSH_TIMEOUT_S)
    failed = [send for send in sends if send.failed()]
    if failed:
        raise RuntimeError(f"{kafka.label}: {len(failed)} of {len(sends)} sample events from {ndjson_path} were not "
                           f"delivered to topic {topic!r}: {failed[0].exception}")
    return len(sends)


def _key(value: bytes) -> bytes | None:
    """The message key: the event's customer_id, or none for lines that are not JSON objects with one."""
    try:
        document = json.loads(value)
    except ValueError:
        return None
    customer = document.get("customer_id") if isinstance(document, dict) else None
    return None if customer is None else str(customer).encode()
