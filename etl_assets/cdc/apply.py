"""Applying one micro-batch of Debezium events to its replica, in one warehouse transaction with the topic's new
offsets (kept as consumer ``cdc`` in ``aietl_meta.kafka_offsets``), so a rerun never applies a message twice and
a crash loses none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg

from etl_assets.cdc.events import key_columns, parse_events, replica_columns, replica_values
from resources.kafka import MicroBatch, TopicReader
from resources.kafka.resets import restart_positions
from resources.postgres.replica_store import ReplicaStore
from resources.postgres.stream_store import ConcurrentLandingError, StreamStore

CDC_CONSUMER = "cdc"


@dataclass
class ApplyResult:
    events: int = 0
    skipped: int = 0
    upserted: int = 0
    deleted: int = 0
    added_columns: list[str] = field(default_factory=list)


def read_offsets(connection: psycopg.Connection, source: str, topic: str) -> dict[int, int]:
    store = StreamStore(connection, source)
    store.ensure_offsets_table()
    return store.read_offsets(topic, CDC_CONSUMER)


def apply_batch(connection: psycopg.Connection, source: str, table: str, batch: MicroBatch,
                known_types: Mapping[str, str] | None = None) -> ApplyResult:
    """Merge the batch's change events into ``cdc_<source>.<table>`` and store the offsets after it.
    ``known_types``: the source catalog's logical types of the table's columns, when the source is known."""
    parsed = parse_events(batch.topic, batch.messages)
    offsets = StreamStore(connection, source)
    result = ApplyResult(events=len(parsed.events), skipped=parsed.skipped)
    with offsets.topic_transaction(f"cdc:{batch.topic}"):
        stored = offsets.read_offsets(batch.topic, CDC_CONSUMER)
        moved = {p: stored[p] for p, start in batch.start_offsets.items() if p in stored and stored[p] != start}
        if moved:
            raise ConcurrentLandingError(f"topic {batch.topic}: another run applied events meanwhile (offsets now "
                                         f"{moved}); nothing was applied, retry the run")
        if parsed.events:
            replica = ReplicaStore(connection, source)
            keys = key_columns(parsed.events)
            types = replica_columns(parsed.events, known_types)
            result.added_columns = replica.ensure_table(table, types, keys)
            counts = replica.apply(table, [(e.position, e.sequence, e.op, e.key, replica_values(e, types))
                                           for e in parsed.events], keys)
            result.upserted, result.deleted = counts.upserted, counts.deleted
        offsets.store_offsets(batch.topic, batch.next_offsets, CDC_CONSUMER)
    return result


def follow_offset_resets(connection: psycopg.Connection, source: str, reader: TopicReader, policy: str) -> list[str]:
    """When applied offsets lie past a partition's end (the topic was recreated or truncated): fail naming the
    partitions, or (``restart``) apply them again from their beginning, which is safe because applying is
    idempotent on each event's LSN. Returns the reasons (empty when nothing went backwards)."""
    resets = reader.offset_resets()
    if not resets:
        return []
    starts = restart_positions(reader, resets, policy, source, ("apply", "applied"))
    store = StreamStore(connection, source)
    with store.topic_transaction(f"cdc:{reader.topic}"):
        store.store_offsets(reader.topic, starts, CDC_CONSUMER)
    return [reset.reason for reset in resets]
