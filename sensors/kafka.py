"""Kafka sensors: one per Kafka source, asking for a stream run when messages wait past the landed offsets.

A tick reads the broker's end offsets (one metadata round trip per topic, bounded by the resource's timeouts) and
the offsets stored in the warehouse, never messages. Some brokers (Tansu) under-report end offsets, so any end
beyond the stored offset counts as new. The cursor keeps, per topic, the end and landed offsets seen when a run was
last requested: a waiting backlog is requested once rather than on every tick, and again as soon as more messages
arrive or a run has landed part of it (a backlog larger than one micro-batch takes several runs).
"""

from __future__ import annotations

import json
from typing import Any

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from etl_assets.config.models import DataSources
from etl_assets.stream.assets import per_minute_key, stream_key
from etl_assets.stream.store import read_offsets

TICK_INTERVAL_S = 30

Offsets = dict[int, int]


def build_kafka_sensors(datasources: DataSources) -> list[SensorDefinition]:
    return [_source_sensor(source, settings.topics) for source, settings in datasources.sources.kafka.items()]


def waiting_partitions(end_offsets: Offsets, stored_offsets: Offsets) -> Offsets:
    """Partition -> messages waiting (by the broker's end offsets) for every partition that has any."""
    return {partition: end - stored_offsets.get(partition, 0) for partition, end in end_offsets.items()
            if end > stored_offsets.get(partition, 0)}


def decode_cursor(cursor: str | None) -> dict[str, dict[str, Offsets]]:
    """Topic -> {"ends": end offsets, "landed": stored offsets} as seen when a run was last requested."""
    document = json.loads(cursor) if cursor else {}
    return {topic: {part: {int(p): int(o) for p, o in offsets.items()} for part, offsets in seen.items()}
            for topic, seen in document.items()}


def encode_cursor(requested: dict[str, dict[str, Offsets]]) -> str:
    return json.dumps({topic: {part: {str(p): o for p, o in sorted(offsets.items())} for part, offsets in seen.items()}
                       for topic, seen in requested.items()}, sort_keys=True)


def _source_sensor(source: str, topics: list[str]) -> SensorDefinition:
    keys = [key for topic in topics for key in (stream_key(source, topic), per_minute_key(source, topic))]

    @sensor(
        name=f"kafka_{source}",
        description=f"Lands new messages of Kafka source {source} ({', '.join(topics)}) when they wait past the "
                    f"stored offsets.",
        minimum_interval_seconds=TICK_INTERVAL_S,
        required_resource_keys={f"source_{source}", "warehouse"},
        asset_selection=AssetSelection.assets(*keys),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def kafka_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        kafka = getattr(context.resources, f"source_{source}")
        try:
            ends = {topic: kafka.end_offsets(topic) for topic in topics}
            stored = _stored_offsets(context.resources.warehouse, source, topics)
        except Exception as error:  # a broker or warehouse that is down must not stop the daemon
            return SkipReason(f"Kafka source {source}: cannot read offsets: {type(error).__name__}: {error}")
        requested = decode_cursor(context.cursor)
        requests, reasons = [], []
        for topic in topics:
            seen = {"ends": ends[topic], "landed": stored[topic]}
            waiting = waiting_partitions(ends[topic], stored[topic])
            if not waiting:
                reasons.append(f"{topic}: no new messages (end offsets {ends[topic]}, landed up to {stored[topic]})")
            elif requested.get(topic) == seen:
                reasons.append(f"{topic}: a run was already requested for end offsets {ends[topic]} and has not "
                               f"landed anything yet")
            else:
                requests.append(_run_request(source, topic, seen, sum(waiting.values())))
                requested[topic] = seen
        if not requests:
            return SkipReason(f"Kafka source {source}: " + "; ".join(reasons))
        return SensorResult(run_requests=requests, cursor=encode_cursor(requested))

    return kafka_sensor


def _stored_offsets(warehouse: Any, source: str, topics: list[str]) -> dict[str, Offsets]:
    with warehouse.connect() as connection:
        return {topic: read_offsets(connection, source, topic) for topic in topics}


def _run_request(source: str, topic: str, seen: dict[str, Offsets], waiting: int) -> RunRequest:
    return RunRequest(
        run_key=f"{source}.{topic}@{encode_cursor({topic: seen})}",
        asset_selection=[stream_key(source, topic), per_minute_key(source, topic)],
        tags={"aietl/trigger": "kafka", "aietl/topic": f"{source}.{topic}", "aietl/waiting": str(waiting)},
    )
