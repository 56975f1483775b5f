"""Kafka sensors: one per Kafka source, asking for a stream run when messages wait past the landed offsets.

A tick reads the broker's end offsets (one metadata round trip per topic, bounded by the resource's timeouts) and
the offsets stored in the warehouse, never messages. Some brokers (Tansu) under-report end offsets, so any end
beyond the stored offset counts as new. The cursor keeps, per topic, the end and landed offsets seen when a run was
last requested: a waiting backlog is requested once rather than on every tick, and again as soon as more messages
arrive or a run has landed part of it (a backlog larger than one micro-batch takes several runs).

When nothing moved, the sensor looks the requested run up on the instance (by its run key): once that run has ended
(failed, canceled, or succeeded without landing) and no other run of the topic's stream asset is queued or in
progress, the backlog is requested again under a new run key (the attempt number is part of it), after a number of
idle ticks that doubles with each attempt (0, 1, 3, 7, then every 15), so a broken topic is retried, not flooded.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import RUN_KEY_TAG

from etl_assets.config.models import DataSources
from etl_assets.keys import STREAM, asset_key, definition_name, source_resource_key
from resources.postgres.stream_store import open_stream_store, per_minute_table

TICK_INTERVAL_S = 30
MAX_IDLE_TICKS = 15
"""The longest wait between attempts at a backlog whose runs keep failing (in ticks: ~7.5 minutes)."""
ACTIVE_RUN_STATUSES = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
                       DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
ACTIVE_RUNS_SCANNED = 100

Offsets = dict[int, int]


def build_kafka_sensors(datasources: DataSources) -> list[SensorDefinition]:
    return [_source_sensor(source, settings.topics) for source, settings in datasources.sources.kafka.items()]


def waiting_partitions(end_offsets: Offsets, stored_offsets: Offsets) -> Offsets:
    """Partition -> messages waiting (by the broker's end offsets) for every partition that has any."""
    return {partition: end - stored_offsets.get(partition, 0) for partition, end in end_offsets.items()
            if end > stored_offsets.get(partition, 0)}


def partitions_behind(end_offsets: Offsets, stored_offsets: Offsets) -> Offsets:
    """Partition -> landed offset for every partition whose end lies below it, or that no longer exists: the topic
    was recreated or truncated (or the broker under-reports its end; the stream run checks by reading)."""
    return {partition: stored for partition, stored in stored_offsets.items()
            if partition not in end_offsets or end_offsets[partition] < stored}


def offset_resets(kafka: Any, topic: str, ends: Offsets, stored: Offsets) -> list | None:
    """The partitions whose landed offsets lie past what the topic holds, read only when end offsets suggest it
    (one short fetch per such partition); None when that read fails."""
    if not partitions_behind(ends, stored):
        return []
    try:
        return kafka.offset_resets(topic, stored)
    except Exception:  # a broker that is down must not stop the daemon; the next tick checks again
        return None


def decode_cursor(cursor: str | None) -> dict[str, dict[str, Any]]:
    """Topic -> {"ends": end offsets, "landed": stored offsets} as seen when a run was last requested, plus
    "attempt" (requests made for that state) and "idle" (ticks waited since its last run ended)."""
    document = json.loads(cursor) if cursor else {}
    return {topic: {"ends": _offsets(seen.get("ends", {})), "landed": _offsets(seen.get("landed", {})),
                    "attempt": int(seen.get("attempt", 1)), "idle": int(seen.get("idle", 0))}
            for topic, seen in document.items()}


def _offsets(document: dict[str, Any]) -> Offsets:
    return {int(partition): int(offset) for partition, offset in document.items()}


def encode_cursor(requested: dict[str, dict[str, Any]]) -> str:
    return json.dumps({topic: {part: ({str(p): o for p, o in sorted(value.items())} if isinstance(value, dict)
                                      else value) for part, value in seen.items()}
                       for topic, seen in requested.items()}, sort_keys=True)


def idle_ticks_before(attempt: int) -> int:
    """Ticks to wait, after attempt ``attempt`` ended without landing, before the next one: 0, 1, 3, 7, 15, 15..."""
    return min(2 ** (attempt - 1) - 1, MAX_IDLE_TICKS)


def _source_sensor(source: str, topics: list[str]) -> SensorDefinition:
    keys = [key for topic in topics for key in _stream_keys(source, topic)]

    @sensor(
        name=definition_name("kafka", source),
        description=f"Lands new messages of Kafka source {source} ({', '.join(topics)}) when they wait past the "
                    f"stored offsets; asks again when a run ended without landing them.",
        minimum_interval_seconds=TICK_INTERVAL_S,
        required_resource_keys={source_resource_key(source), "warehouse"},
        asset_selection=AssetSelection.assets(*keys),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def kafka_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        kafka = getattr(context.resources, source_resource_key(source))
        try:
            ends = {topic: kafka.end_offsets(topic) for topic in topics}
            stored = _stored_offsets(context.resources.warehouse, source, topics)
        except Exception as error:  # a broker or warehouse that is down must not stop the daemon
            return SkipReason(f"Kafka source {source}: cannot read offsets: {type(error).__name__}: {error}")
        requested = decode_cursor(context.cursor)
        requests, reasons = [], []
        for topic in topics:
            tick = topic_tick(context, kafka, f"Kafka source {source}, topic {topic}", f"{source}.{topic}", topic,
                              asset_key(STREAM, source, topic), requested.get(topic), ends[topic], stored[topic])
            if tick.state is not None:
                requested[topic] = tick.state
            if tick.reason:
                reasons.append(tick.reason)
            else:
                requests.append(_run_request(source, topic, tick.state, tick.waiting, tick.behind))
        skip = None if requests else f"Kafka source {source}: " + "; ".join(reasons)
        return SensorResult(run_requests=requests, skip_reason=skip, cursor=encode_cursor(requested))

    return kafka_sensor


class TopicTick(NamedTuple):
    state: dict[str, Any] | None
    """The topic's cursor entry after this tick (None: unchanged)."""
    reason: str | None
    """Why no run is requested (None: request one)."""
    waiting: int
    behind: bool
    """Stored offsets lie past what the topic holds (it was recreated or truncated)."""


def topic_tick(context: SensorEvaluationContext, kafka: Any, label: str, name: str, topic: str, asset: AssetKey,
               last: dict[str, Any] | None, ends: Offsets, done: Offsets,
               words: tuple[str, str] = ("messages", "landed")) -> TopicTick:
    """One topic's tick, for the stream sensors here and the Debezium-topic sensors (sensors/cdc.py): nothing new,
    offsets that went backwards (logged under ``label``), or a request as :func:`next_state` decides. ``done`` are
    the offsets landed (or applied); ``words`` name the topic's items and that verb in the reasons."""
    items, verb = words
    waiting = waiting_partitions(ends, done)
    resets = offset_resets(kafka, topic, ends, done)
    if resets is None:
        return TopicTick(None, f"{topic}: cannot check the {verb} offsets against the topic", 0, False)
    if not waiting and not resets:
        return TopicTick(None, f"{topic}: no new {items} (end offsets {ends}, {verb} up to {done})", 0, False)
    if resets:
        context.log.warning(f"{label}: offsets went backwards ({'; '.join(reset.reason for reset in resets)}); "
                            "requesting a run, which follows the source's on_offsets_reset policy")
    state, reason = next_state(context.instance, name, topic, asset, last, ends, done)
    return TopicTick(state, f"{topic}: {reason}" if reason else None, sum(waiting.values()), bool(resets))


def next_state(instance: DagsterInstance, name: str, topic: str, asset: AssetKey, last: dict[str, Any] | None,
               ends: Offsets, landed: Offsets) -> tuple[dict[str, Any], str | None]:
    """The topic's cursor entry after this tick, and why no run is requested (None: request one). ``name``
    (``<source>.<topic>``) starts the run keys; ``asset`` is what processes the topic."""
    if last is None or (last["ends"], last["landed"]) != (ends, landed):
        return {"ends": ends, "landed": landed, "attempt": 1, "idle": 0}, None
    runs = instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: run_key(name, topic, last)}), limit=1)
    if not runs or not runs[0].is_finished:
        return last, f"a run was already requested for end offsets {ends} and has not landed anything yet"
    if asset_run_active(instance, asset):
        return last, f"a run of {asset.to_user_string()} is queued or in progress"
    wait = idle_ticks_before(last["attempt"])
    if last["idle"] < wait:
        return {**last, "idle": last["idle"] + 1}, (
            f"attempt {last['attempt']} ended ({runs[0].status.value}) without landing the waiting messages; "
            f"trying again in {wait - last['idle']} tick(s)")
    return {**last, "attempt": last["attempt"] + 1, "idle": 0}, None


def asset_run_active(instance: DagsterInstance, key: AssetKey) -> bool:
    """Whether any queued or in-progress run (from this sensor, the UI or a schedule) materializes ``key``."""
    active = instance.get_runs(filters=RunsFilter(statuses=ACTIVE_RUN_STATUSES), limit=ACTIVE_RUNS_SCANNED)
    return any(run.asset_selection is None or key in run.asset_selection for run in active)


def _stored_offsets(warehouse: Any, source: str, topics: list[str]) -> dict[str, Offsets]:
    with open_stream_store(warehouse, source) as store:
        return {topic: store.read_offsets(topic) for topic in topics}


def _stream_keys(source: str, topic: str) -> list[AssetKey]:
    """The topic's landed stream and its per-minute aggregate."""
    return [asset_key(STREAM, source, topic), asset_key(STREAM, source, per_minute_table(topic))]


def run_key(name: str, topic: str, state: dict[str, Any]) -> str:
    """Changes with the offsets and with every new attempt at the same offsets."""
    seen = {"ends": state["ends"], "landed": state["landed"]}
    return f"{name}@{encode_cursor({topic: seen})}#{state['attempt']}"


def _run_request(source: str, topic: str, state: dict[str, Any], waiting: int, behind: bool) -> RunRequest:
    tags = {"aietl/trigger": "kafka", "aietl/topic": f"{source}.{topic}", "aietl/waiting": str(waiting),
            "aietl/attempt": str(state["attempt"])}
    if behind:
        tags["aietl/offsets"] = "behind-end"
    return RunRequest(run_key=run_key(f"{source}.{topic}", topic, state), asset_selection=_stream_keys(source, topic),
                      tags=tags)
