"""The confluent-kafka reader: the micro-batches, offsets and resets of :class:`resources.kafka.TopicReader`, read by
librdkafka's C client instead of kafka-python (several times faster per message). A source chooses it with
``client: confluent-kafka``; creating topics, dead letters and the sensors' end offsets stay with kafka-python,
whose admin API the rest of the connector uses.

As with kafka-python, no consumer group is joined: partitions are ``assign()``-ed at the offsets the caller keeps
(librdkafka needs a ``group.id`` even then; nothing is committed under it), and the end of a partition is found by
reading until nothing arrives for the empty-poll time, because some brokers (Tansu) under-report end offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from resources.kafka.client import KafkaSettings, check_security
from resources.kafka.messages import KafkaMessage, MicroBatch, OffsetReset
from resources.protocol import SourceUnavailableError, redact

CONSUME_WAIT_S = 0.1
"""librdkafka's ``consume(n)`` waits for all n messages or this long: short, so a partial batch is not held back."""
UNUSED_GROUP = "aietl-assigned-partitions"
log = logging.getLogger("aietl.kafka.confluent")


def connection_config(settings: KafkaSettings) -> dict[str, Any]:
    """librdkafka's names for the connector's security and timeout settings (consumer and admin client alike)."""
    check_security(settings)
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers, "security.protocol": settings.security_protocol,
        "socket.timeout.ms": settings.request_timeout_ms,
        "socket.connection.setup.timeout.ms": min(settings.request_timeout_ms, 10_000),
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        config.update({name: value for name, value in (
            ("ssl.ca.location", settings.ssl_cafile), ("ssl.certificate.location", settings.ssl_certfile),
            ("ssl.key.location", settings.ssl_keyfile)) if value})
    if settings.security_protocol.startswith("SASL"):
        config.update({"sasl.mechanism": settings.sasl_mechanism, "sasl.username": settings.sasl_username,
                       "sasl.password": settings.sasl_password})
    return config


def consumer_config(settings: KafkaSettings, fetch_max_bytes: int, partition_fetch_max_bytes: int,
                    check_crcs: bool) -> dict[str, Any]:
    return {**connection_config(settings), "group.id": UNUSED_GROUP, "enable.auto.commit": False,
            "enable.auto.offset.store": False, "auto.offset.reset": "earliest", "fetch.max.bytes": fetch_max_bytes,
            "max.partition.fetch.bytes": partition_fetch_max_bytes,
            "receive.message.max.bytes": fetch_max_bytes + (1 << 20), "check.crcs": check_crcs}


@contextmanager
def open_confluent_reader(settings: KafkaSettings, topic: str, start_offsets: dict[int, int], *, empty_poll_ms: int,
                          fetch_max_bytes: int, partition_fetch_max_bytes: int,
                          check_crcs: bool) -> Iterator[ConfluentReader]:
    config = consumer_config(settings, fetch_max_bytes, partition_fetch_max_bytes, check_crcs)
    try:
        consumer = Consumer(config, logger=log)
        admin = AdminClient(connection_config(settings), logger=log)
    except KafkaException as error:
        raise SourceUnavailableError(f"{settings.label}: cannot connect: {_reason(error, settings)}") from None
    try:
        yield ConfluentReader(consumer, admin, config, settings, topic, start_offsets, empty_poll_ms)
    finally:
        consumer.close()


class ConfluentReader:
    """confluent-kafka's :class:`~resources.kafka.messages.TopicReader`, from one open librdkafka consumer."""

    def __init__(self, consumer: Consumer, admin: AdminClient, config: dict[str, Any], settings: KafkaSettings,
                 topic: str, start_offsets: dict[int, int], empty_poll_ms: int):
        self.consumer, self.admin, self.config, self.settings, self.topic = consumer, admin, config, settings, topic
        self.timeout_s, self.empty_poll_s = settings.request_timeout_ms / 1000, empty_poll_ms / 1000
        self.stored = dict(start_offsets)
        self.partitions = self._partitions()
        beginnings = {p: low for p, (low, _) in self._watermarks().items()}
        self.positions = {p: max(start_offsets.get(p, 0), beginnings[p]) for p in self.partitions}
        self._assign()

    def offset_resets(self) -> list[OffsetReset]:
        """Partitions whose stored offset is past their end, checked by reading (end offsets alone may
        under-report): the message just before the stored offset must still be there."""
        marks = self._watermarks()
        resets = [OffsetReset(p, stored, 0, None) for p, stored in self.stored.items() if p not in marks]
        for partition, stored in sorted(self.stored.items()):
            if partition in marks:
                low, high = marks[partition]
                if stored > high and not self._holds(partition, stored - 1):
                    resets.append(OffsetReset(partition, stored, low, high))
        return resets

    def restart(self, partitions: list[int]) -> dict[int, int]:
        """Start ``partitions`` again at their beginning; returns the new start offsets."""
        marks = self._watermarks()
        for partition in partitions:
            if partition in self.positions:
                self.positions[partition] = marks[partition][0]
        self._assign()
        return {p: self.positions[p] for p in partitions if p in self.positions}

    def read(self, max_messages: int, deadline: float, with_end_offsets: bool = True) -> MicroBatch:
        """Up to ``max_messages`` from the current positions, stopping at ``deadline`` or once nothing has arrived
        for the empty-poll time (``with_end_offsets`` as kafka-python's reader)."""
        batch = MicroBatch(topic=self.topic, start_offsets=dict(self.positions))
        messages, positions, idle_since = batch.messages, self.positions, None
        while len(messages) < max_messages:
            now = time.monotonic()
            waiting = idle_since is not None or not messages
            if now >= deadline and not waiting:
                break
            # As a kafka-python poll does, a wait for messages runs its whole empty-poll time, past the deadline if
            # need be: an empty batch waits for its first message, and the end of the topic is told apart from a
            # pause at the deadline.
            wait = CONSUME_WAIT_S if waiting else max(0.001, min(CONSUME_WAIT_S, deadline - now))
            try:
                consumed = self.consumer.consume(max_messages - len(messages), timeout=wait)
            except KafkaException as error:
                raise SourceUnavailableError(f"{self.settings.label}: topic {self.topic!r}: "
                                             f"{_reason(error, self.settings)}") from None
            if not consumed:
                idle_since = idle_since or now
                if time.monotonic() - idle_since >= self.empty_poll_s:
                    batch.drained, batch.drained_at = True, idle_since
                    break
                continue
            idle_since = None
            for message in consumed:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise SourceUnavailableError(f"{self.settings.label}: topic {self.topic!r} partition "
                                                 f"{message.partition()}: {error.str()}")
                partition, offset = message.partition(), message.offset()
                messages.append(KafkaMessage(partition, offset, message.timestamp()[1], message.key(),
                                             message.value()))
                positions[partition] = offset + 1
        batch.next_offsets = dict(positions)
        if with_end_offsets:
            batch.end_offsets = self.end_offsets()
        return batch

    def end_offsets(self) -> dict[int, int]:
        """The broker-reported end offset per partition (may under-report on some brokers, e.g. Tansu)."""
        return {p: high for p, (_, high) in self._watermarks().items()}

    def _partitions(self) -> list[int]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                found = self.consumer.list_topics(self.topic, timeout=self.timeout_s).topics.get(self.topic)
            except KafkaException as error:
                raise SourceUnavailableError(f"{self.settings.label}: cannot read the metadata of topic "
                                             f"{self.topic!r}: {_reason(error, self.settings)}") from None
            if found is not None and found.error is None and found.partitions:
                return sorted(found.partitions)
            if time.monotonic() > deadline:
                raise SourceUnavailableError(f"{self.settings.label}: topic {self.topic!r} does not exist or has no "
                                             "partitions")
            time.sleep(0.1)

    def _watermarks(self) -> dict[int, tuple[int, int]]:
        """(first offset, end offset) of every partition the topic has now, in one request of each kind (the
        consumer's per-partition watermark query takes ~0.5 s a partition on Tansu)."""
        try:
            partitions = self.admin.list_topics(self.topic, timeout=self.timeout_s).topics[self.topic].partitions
            marks = [self._offsets(sorted(partitions), spec) for spec in (OffsetSpec.earliest(), OffsetSpec.latest())]
        except (KafkaException, KeyError, TimeoutError) as error:
            raise SourceUnavailableError(f"{self.settings.label}: cannot read the offsets of topic {self.topic!r}: "
                                         f"{_reason(error, self.settings)}") from None
        return {p: (marks[0][p], marks[1][p]) for p in sorted(partitions)}

    def _offsets(self, partitions: list[int], spec: OffsetSpec) -> dict[int, int]:
        futures = self.admin.list_offsets({TopicPartition(self.topic, p): spec for p in partitions},
                                          request_timeout=self.timeout_s)
        return {tp.partition: future.result(timeout=self.timeout_s).offset for tp, future in futures.items()}

    def _assign(self) -> None:
        self.consumer.assign([TopicPartition(self.topic, p, offset) for p, offset in self.positions.items()])

    def _holds(self, partition: int, offset: int) -> bool:
        """Whether ``offset`` of ``partition`` can be read, by a consumer of its own (this one stays where it is)."""
        probe = Consumer(self.config, logger=log)
        try:
            probe.assign([TopicPartition(self.topic, partition, offset)])
            deadline = time.monotonic() + self.empty_poll_s
            while time.monotonic() < deadline:
                message = probe.poll(CONSUME_WAIT_S)
                if message is not None and message.error() is None:
                    return message.offset() == offset
            return False
        finally:
            probe.close()


def _reason(error: BaseException, settings: KafkaSettings) -> str:
    return redact(f"{type(error).__name__}: {error}", settings.sasl_password or "")
