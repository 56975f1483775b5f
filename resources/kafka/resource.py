"""The KafkaResource: one cluster, topics, and bounded micro-batch reads.

Consumption never joins a consumer group: partitions are ``assign()``-ed and sought to offsets the caller keeps
(in the warehouse, in the same transaction as the rows), which is fast and gives exactly-once landing. The end of a
partition is found by reading until a poll comes back empty, because some brokers (Tansu) under-report
``end_offsets``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from operator import attrgetter
from typing import Any, Literal

from dagster import ConfigurableResource
from pydantic import Field

from resources.kafka import client
from resources.kafka.confluent import open_confluent_reader
from resources.kafka.messages import KafkaMessage, MicroBatch, OffsetReset, TopicReader
from resources.protocol import SourceUnavailableError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaClient = Literal["kafka-python", "confluent-kafka"]
EMPTY_POLL_MS = 1000
"""A poll that waits this long and returns nothing means the partitions are drained (for now)."""
FETCH_MAX_BYTES = 64 << 20
PARTITION_FETCH_MAX_BYTES = 16 << 20
"""Large fetches: a micro-batch arrives in a few broker round trips instead of one per MiB per partition."""
READER_MAX_POLL_RECORDS = 5000


class KafkaResource(ConfigurableResource):
    """One Kafka cluster. Every client made here has request, connection and bootstrap timeouts."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, description="Pass as EnvVar; never logged.")
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    request_timeout_ms: int = 30_000
    check_crcs: bool = Field(default=True, description=(
        "Verify the CRC32C of fetched record batches. kafka-python computes it in pure Python (about half of a "
        "micro-batch's read time) unless the PyPI package crc32c is installed; turn off only on trusted networks."))
    client: KafkaClient = Field(default="kafka-python", description=(
        "The client that reads micro-batches: kafka-python, or confluent-kafka (librdkafka, several times faster "
        "per message); the same offsets, exactly-once landing and resets either way."))
    source_name: str = ""

    @property
    def label(self) -> str:
        return f"Kafka source {self.source_name!r} ({self.bootstrap_servers})" if self.source_name \
            else f"Kafka at {self.bootstrap_servers}"

    def connection_config(self) -> dict[str, Any]:
        """Settings shared by consumers, producers and admin clients (security and timeouts)."""
        return client.connection_config(self)

    def consumer(self, **overrides: Any) -> KafkaConsumer:
        """A consumer outside any group, auto-commit off; ``overrides`` are kafka-python consumer settings."""
        return client.consumer(self, **overrides)

    def producer(self, **overrides: Any) -> KafkaProducer:
        return client.producer(self, **overrides)

    def admin(self) -> KafkaAdminClient:
        return client.admin(self)

    @contextmanager
    def open_consumer(self, **overrides: Any) -> Iterator[KafkaConsumer]:
        consumer = self.consumer(**overrides)
        try:
            yield consumer
        finally:
            consumer.close(autocommit=False)

    def ensure_topic(self, topic: str, partitions: int = 1, replication_factor: int = 1) -> bool:
        """Create ``topic`` unless it exists; True when it was created."""
        admin = self.admin()
        try:
            if topic in admin.list_topics():
                return False
            admin.create_topics([NewTopic(topic, partitions, replication_factor)], timeout_ms=self.request_timeout_ms)
            return True
        except TopicAlreadyExistsError:
            return False
        finally:
            admin.close()

    def publish_dead_letters(self, dead_letter_topic: str, topic: str,
                             entries: list[tuple[int, int, str, str]]) -> None:
        """Send quarantined messages ``(partition, offset, reason, raw)`` of ``topic`` to ``dead_letter_topic``,
        keyed ``<topic>/<partition>/<offset>`` with the origin and reason in headers; waits for every ack."""
        if not entries:
            return
        self.ensure_topic(dead_letter_topic)
        producer = self.producer(linger_ms=5, max_request_size=FETCH_MAX_BYTES)
        try:
            sends = [producer.send(dead_letter_topic, key=f"{topic}/{partition}/{offset}".encode(),
                                   value=raw.encode("utf-8", errors="replace"),
                                   headers=[("aietl.topic", topic.encode()),
                                            ("aietl.partition", str(partition).encode()),
                                            ("aietl.offset", str(offset).encode()),
                                            ("aietl.reason", reason.encode("utf-8", errors="replace")[:4096])])
                     for partition, offset, reason, raw in entries]
            producer.flush(timeout=self.request_timeout_ms / 1000)
        finally:
            producer.close(timeout=self.request_timeout_ms / 1000)
        failed = [send for send in sends if not send.succeeded()]
        if failed:
            raise SourceUnavailableError(f"{self.label}: {len(failed)} of {len(sends)} dead letters of topic "
                                         f"{topic!r} were not delivered to {dead_letter_topic!r}: "
                                         f"{failed[0].exception}")

    def partitions(self, consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
        """The topic's partitions, waiting up to the request timeout for metadata to arrive."""
        deadline = time.monotonic() + self.request_timeout_ms / 1000
        while True:
            partition_ids = consumer.partitions_for_topic(topic)
            if partition_ids:
                return [TopicPartition(topic, partition) for partition in sorted(partition_ids)]
            if time.monotonic() > deadline:
                raise SourceUnavailableError(f"{self.label}: topic {topic!r} does not exist or has no partitions")
            consumer.poll(timeout_ms=100)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """The broker-reported end offset per partition (cheap; may under-report on some brokers, e.g. Tansu)."""
        with self.open_consumer() as consumer:
            partitions = self.partitions(consumer, topic)
            ends = consumer.end_offsets(partitions)
            return {tp.partition: offset for tp, offset in ends.items()}

    def read_batch(self, topic: str, start_offsets: dict[int, int], max_messages: int = 5000,
                   max_seconds: float = 30.0) -> MicroBatch:
        """Read up to ``max_messages`` (or for up to ``max_seconds``) from every partition of ``topic``.

        Partitions missing from ``start_offsets`` start at their beginning. Reading stops early once a poll
        returns nothing, so the batch ends where the topic ends.
        """
        with self.open_reader(topic, start_offsets) as reader:
            return reader.read(max_messages, time.monotonic() + max_seconds)

    def offset_resets(self, topic: str, stored_offsets: dict[int, int]) -> list[OffsetReset]:
        """The partitions of ``topic`` whose ``stored_offsets`` lie past what the topic now holds (checked by reading
        the message before each stored offset, as end offsets may under-report)."""
        with self.open_reader(topic, stored_offsets) as reader:
            return reader.offset_resets()

    @contextmanager
    def open_reader(self, topic: str, start_offsets: dict[int, int]) -> Iterator[TopicReader]:
        """One consumer assigned to every partition of ``topic`` at ``start_offsets``, for several micro-batches in a
        row (closed on exit, so nothing of it outlives the run), read by the resource's ``client``."""
        if self.client == "confluent-kafka":
            with open_confluent_reader(self, topic, start_offsets, empty_poll_ms=EMPTY_POLL_MS,
                                       fetch_max_bytes=FETCH_MAX_BYTES,
                                       partition_fetch_max_bytes=PARTITION_FETCH_MAX_BYTES,
                                       check_crcs=self.check_crcs) as confluent_reader:
                yield confluent_reader
            return
        fetch = {"max_poll_records": READER_MAX_POLL_RECORDS, "fetch_max_bytes": FETCH_MAX_BYTES,
                 "max_partition_fetch_bytes": PARTITION_FETCH_MAX_BYTES, "check_crcs": self.check_crcs}
        with self.open_consumer(**fetch) as consumer:
            yield KafkaPythonReader(consumer, topic, self.partitions(consumer, topic), start_offsets)


class KafkaPythonReader:
    """kafka-python's :class:`~resources.kafka.messages.TopicReader`."""

    def __init__(self, consumer: KafkaConsumer, topic: str, partitions: list[TopicPartition],
                 start_offsets: dict[int, int]):
        self.consumer, self.topic, self.partitions = consumer, topic, partitions
        self.stored = dict(start_offsets)
        consumer.assign(partitions)
        self.positions = _seek(consumer, partitions, start_offsets)

    def offset_resets(self) -> list[OffsetReset]:
        """Partitions whose stored offset is past their end, checked by reading (end offsets alone may
        under-report): the message just before the stored offset must still be there."""
        present = {tp.partition: tp for tp in self.partitions}
        ends = self.end_offsets()
        beginnings = {tp.partition: b for tp, b in self.consumer.beginning_offsets(self.partitions).items()}
        resets = [OffsetReset(p, stored, 0, None) for p, stored in self.stored.items() if p not in present]
        for partition, stored in sorted(self.stored.items()):
            if partition in present and stored > ends[partition] and not self._holds(present[partition], stored - 1):
                resets.append(OffsetReset(partition, stored, beginnings[partition], ends[partition]))
        return resets

    def restart(self, partitions: list[int]) -> dict[int, int]:
        """Seek ``partitions`` to their beginning; returns the new start offsets."""
        chosen = [tp for tp in self.partitions if tp.partition in partitions]
        for tp, beginning in self.consumer.beginning_offsets(chosen).items():
            self.consumer.seek(tp, beginning)
            self.positions[tp.partition] = beginning
        return {p: self.positions[p] for p in partitions if p in self.positions}

    def _holds(self, tp: TopicPartition, offset: int) -> bool:
        """Whether ``offset`` of ``tp`` can be read (the consumer is put back where it was)."""
        self.consumer.pause(*[other for other in self.partitions if other != tp])
        self.consumer.seek(tp, offset)
        try:
            deadline = time.monotonic() + EMPTY_POLL_MS / 1000
            while time.monotonic() < deadline:
                records = self.consumer.poll(timeout_ms=EMPTY_POLL_MS, max_records=1, update_offsets=False)
                found = [r.offset for r in records.get(tp, [])]
                if found:
                    return found[0] == offset
            return False
        finally:
            self.consumer.seek(tp, self.positions[tp.partition])
            self.consumer.resume(*self.partitions)

    def read(self, max_messages: int, deadline: float, with_end_offsets: bool = True) -> MicroBatch:
        """Up to ``max_messages`` from the current positions, stopping at ``deadline`` or on an empty poll.

        ``with_end_offsets=False`` spares a broker round trip per batch (the batch's ``end_offsets`` stay empty):
        for callers that read many batches in a row and need the lag of the last one only."""
        batch = MicroBatch(topic=self.topic, start_offsets=dict(self.positions))
        _poll_into(self.consumer, batch, max_messages, deadline)
        self.positions = {tp.partition: self.consumer.position(tp) for tp in self.partitions}
        batch.next_offsets = dict(self.positions)
        if with_end_offsets:
            batch.end_offsets = self.end_offsets()
        return batch

    def end_offsets(self) -> dict[int, int]:
        """The broker-reported end offset per partition (may under-report on some brokers, e.g. Tansu)."""
        return {tp.partition: end for tp, end in self.consumer.end_offsets(self.partitions).items()}


def _seek(consumer: KafkaConsumer, partitions: list[TopicPartition], offsets: dict[int, int]) -> dict[int, int]:
    unknown = [tp for tp in partitions if tp.partition not in offsets]
    beginnings = consumer.beginning_offsets(unknown) if unknown else {}
    starts = {}
    for tp in partitions:
        starts[tp.partition] = max(offsets.get(tp.partition, 0), beginnings.get(tp, 0))
        consumer.seek(tp, starts[tp.partition])
    return starts


_MESSAGE_FIELDS = attrgetter("partition", "offset", "timestamp", "key", "value")
_new_message = partial(tuple.__new__, KafkaMessage)
"""A KafkaMessage from those fields without the Python-level ``__new__`` of a named tuple (5x faster per record)."""


def _poll_into(consumer: KafkaConsumer, batch: MicroBatch, max_messages: int, deadline: float) -> None:
    messages = batch.messages
    while len(messages) < max_messages and time.monotonic() < deadline:
        wanted, polled = max_messages - len(messages), time.monotonic()
        records = consumer.poll(timeout_ms=EMPTY_POLL_MS, max_records=wanted, update_offsets=True)
        if not any(records.values()):
            batch.drained, batch.drained_at = True, polled
            return
        for partition_records in records.values():
            messages.extend(map(_new_message, map(_MESSAGE_FIELDS, partition_records)))
