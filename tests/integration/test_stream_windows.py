"""Event-time windows landed by the stream asset, on the real Tansu broker and PostgreSQL, checked against a
brute-force recomputation over the landed events."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dagster import materialize

from etl_assets.config.models import DataSources, StreamWindow
from etl_assets.stream.assets import build_stream_assets, stream_key
from etl_assets.stream.parse import parse_messages
from etl_assets.stream.store import land_batch
from etl_assets.stream.windows import Event, micros, moment
from resources.kafka import KafkaMessage, KafkaResource, MicroBatch
from resources.postgres.stream_store import ConcurrentLandingError, open_stream_store
from tests.integration.test_stream_assets import SOURCE, metadata_resource, produce, query, warehouse_resource
from tests.integration.test_stream_dead_letters import recreate
from tests.support.windows import brute_force

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
WINDOWS = [
    {"name": "per_5m", "event_time": "ts", "kind": "tumbling", "size": "5m", "allowed_lateness": "1m",
     "group_by": ["customer"], "aggregates": {"orders": "count", "revenue": "sum(amount)",
                                              "avg_amount": "avg(amount)", "top": "max(amount)",
                                              "products": "count_distinct(product)"}},
    {"name": "sessions", "event_time": "ts", "kind": "session", "gap": "2m", "allowed_lateness": "30s",
     "group_by": ["customer"], "aggregates": {"orders": "count", "revenue": "sum(amount)"}},
    {"name": "hop_10m", "event_time": "ts", "kind": "hop", "size": "10m", "slide": "5m",
     "aggregates": {"orders": "count", "low": "min(amount)"}},
]


def datasources(bootstrap: str, topic: str, windows: list[dict], **settings: object) -> DataSources:
    return DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": {"database": "unused"}}},
        "sources": {"kafka": {SOURCE: {"bootstrap_servers": bootstrap, "topics": [topic],
                                       "windows": {topic: windows}, **settings}}}})


def parsed_window(spec: dict) -> StreamWindow:
    return StreamWindow.model_validate(spec)


def run(bootstrap: str, dsn: str, topic: str, windows: list[dict] = WINDOWS, **settings: object) -> dict:
    warehouse = warehouse_resource(dsn)
    result = materialize(
        [a for a in build_stream_assets(datasources(bootstrap, topic, windows, **settings))
         if a.key == stream_key(SOURCE, topic)],
        resources={f"source_{SOURCE}": KafkaResource(bootstrap_servers=bootstrap, source_name=SOURCE),
                   "warehouse": warehouse, "metadata": metadata_resource(warehouse)},
        raise_on_error=False)
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {name: value.value for name, value in event.event_specific_data.materialization.metadata.items()}


def order(rng: random.Random, index: int, minutes_from: int, minutes_to: int) -> dict:
    ts = START + timedelta(seconds=rng.randint(minutes_from * 60, minutes_to * 60))
    return {"order_id": index, "customer": rng.choice(["ann", "bob", "cy", None]), "amount": rng.randint(1, 90),
            "product": rng.choice("pqrs"), "ts": ts.isoformat()}


def landed_events(dsn: str, topic: str) -> tuple[list[Event], set[int]]:
    """The landed rows in arrival order (one partition: offset order) as events, and the offsets of events
    without a usable time (no time, or more than max_ahead past their Kafka timestamp)."""
    rows = query(dsn, f'SELECT "_offset", customer, amount, product, ts, "_timestamp" FROM stream_events."{topic}" '
                      'ORDER BY "_offset"')
    events, unusable = [], set()
    for offset, customer, amount, product, ts, received in rows:
        if ts is None or ts > received + timedelta(days=1):
            unusable.add(offset)
            continue
        events.append(Event(key=(customer,), time=micros(ts), position=offset,
                            values={"amount": amount, "product": product}))
    return events, unusable


def window_table(dsn: str, topic: str, spec: dict) -> dict:
    keys = spec.get("group_by", [])
    columns = ", ".join(f'"{c}"' for c in [*keys, "window_start", "window_end", *spec["aggregates"], "final"])
    table = {}
    for row in query(dsn, f'SELECT {columns} FROM stream_events."{topic}__{spec["name"]}"'):
        key, (start, end, *aggregates, final) = tuple(row[:len(keys)]), row[len(keys):]
        table[(key, micros(start))] = (micros(end), dict(zip(spec["aggregates"], aggregates, strict=True)), final)
    return table


def late_offsets(dsn: str, topic: str, window: str) -> dict[int, str]:
    return dict(query(dsn, f'SELECT "offset", reason FROM stream_events."{topic}__late_events" '
                           f"WHERE \"window\" = '{window}'"))


def assert_window_table_is_recomputed(dsn: str, topic: str, spec: dict, events: list[Event]) -> set:
    """Compare the window table with the brute force over ``events``; return the late positions it expects."""
    window = parsed_window(spec)
    keyed = [Event(key=(e.key if window.group_by else ()), time=e.time, values=e.values, position=e.position)
             for e in events]
    expected, expected_late = brute_force(window, keyed)
    table = window_table(dsn, topic, spec)
    assert table.keys() == expected.keys(), spec["name"]
    for position, (end, aggregates, final) in expected.items():
        assert table[position][0] == end and table[position][2] == final, (spec["name"], position)
        assert table[position][1] == pytest.approx(aggregates), (spec["name"], position)
    return expected_late


def test_windows_of_two_out_of_order_batches_match_a_brute_force_recomputation(kafka_bootstrap: str,
                                                                                pg_dsn: str) -> None:
    topic = f"orders_{uuid.uuid4().hex[:8]}"
    rng = random.Random(10)
    first = [order(rng, i, 0, 30) for i in range(80)]
    produce(kafka_bootstrap, topic, [json.dumps(o).encode() for o in first], partitions=1)
    first_run = run(kafka_bootstrap, pg_dsn, topic)

    second = [order(rng, 80 + i, 20, 50) for i in range(80)]
    second[10]["ts"] = (START + timedelta(minutes=1)).isoformat()  # long after its window closed
    second[20] = {"order_id": 200, "customer": "ann", "amount": 5, "product": "p"}  # no event time
    second[30]["ts"] = "2030-01-01T00:00:00+00:00"  # far ahead of its Kafka timestamp
    produce(kafka_bootstrap, topic, [json.dumps(o).encode() for o in second], partitions=1)
    second_run = run(kafka_bootstrap, pg_dsn, topic)

    events, unusable = landed_events(pg_dsn, topic)
    assert len(events) + len(unusable) == 160 and unusable == {100, 110}
    for spec in WINDOWS:
        window = parsed_window(spec)
        expected_late = assert_window_table_is_recomputed(pg_dsn, topic, spec, events)
        late = late_offsets(pg_dsn, topic, spec["name"])
        assert set(late) == expected_late | unusable, spec["name"]
        assert "no event time in field 'ts'" in late[100] and "ahead of the message's timestamp" in late[110]
    assert 90 in late_offsets(pg_dsn, topic, "per_5m")
    assert "already closed by the watermark" in late_offsets(pg_dsn, topic, "per_5m")[90]
    assert first_run["windows"]["per_5m"]["rows_upserted"] > 0 and second_run["windows"]["per_5m"]["late_events"] >= 3
    assert second_run["windows"]["per_5m"]["watermark"] == moment(max(e.time for e in events) - 60_000_000).isoformat()

    before = {spec["name"]: window_table(pg_dsn, topic, spec) for spec in WINDOWS}
    again = run(kafka_bootstrap, pg_dsn, topic)
    assert again["rows_written"] == 0 and again["windows"] == {}
    assert {spec["name"]: window_table(pg_dsn, topic, spec) for spec in WINDOWS} == before


def test_a_batch_landed_twice_does_not_count_its_events_twice(pg_dsn: str, kafka_bootstrap: str) -> None:
    topic = f"orders_{uuid.uuid4().hex[:8]}"
    [window] = datasources(kafka_bootstrap, topic, WINDOWS[:1]).sources.kafka[SOURCE].windows[topic]
    messages = [KafkaMessage(partition=0, offset=i, timestamp_ms=0, key=None, value=json.dumps(
        {"customer": "ann", "amount": 10, "product": "p", "ts": "1970-01-01T00:00:0%dZ" % i}).encode())
        for i in range(3)]
    batch = MicroBatch(topic=topic, messages=messages, start_offsets={0: 0}, next_offsets={0: 3})
    with open_stream_store(warehouse_resource(pg_dsn), SOURCE) as store:
        store.ensure_offsets_table()
        landed = land_batch(store, batch, parse_messages(batch.messages), [window])
        with pytest.raises(ConcurrentLandingError):
            land_batch(store, batch, parse_messages(batch.messages), [window])
    assert landed.windows["per_5m"].rows_upserted == 1
    assert query(pg_dsn, f'SELECT customer, orders, revenue, final FROM stream_events."{topic}__per_5m"') == [
        ("ann", 3, 30.0, False)]


def test_a_changed_window_definition_is_rebuilt_from_the_landed_rows(kafka_bootstrap: str, pg_dsn: str) -> None:
    topic = f"orders_{uuid.uuid4().hex[:8]}"
    rng = random.Random(3)
    produce(kafka_bootstrap, topic, [json.dumps(order(rng, i, 0, 20)).encode() for i in range(40)], partitions=1)
    run(kafka_bootstrap, pg_dsn, topic, WINDOWS[:1])
    produce(kafka_bootstrap, topic, [json.dumps(order(rng, 40 + i, 10, 30)).encode() for i in range(20)],
            partitions=1)
    changed = {**WINDOWS[0], "size": "10m", "aggregates": {"orders": "count", "low": "min(amount)"}}
    second = run(kafka_bootstrap, pg_dsn, topic, [changed])

    events, _ = landed_events(pg_dsn, topic)
    assert len(events) == 60
    expected_late = assert_window_table_is_recomputed(pg_dsn, topic, changed, events)
    assert set(late_offsets(pg_dsn, topic, "per_5m")) == expected_late
    assert second["rows_written"] == 20 and second["windows"]["per_5m"]["late_events"] == len(expected_late)


def test_windows_are_rebuilt_when_a_recreated_topic_lands_again(kafka_bootstrap: str, pg_dsn: str) -> None:
    topic = f"orders_{uuid.uuid4().hex[:8]}"
    rng = random.Random(5)
    produce(kafka_bootstrap, topic, [json.dumps(order(rng, i, 0, 20)).encode() for i in range(30)], partitions=1)
    run(kafka_bootstrap, pg_dsn, topic)
    recreate(kafka_bootstrap, topic)
    produce(kafka_bootstrap, topic, [json.dumps(order(rng, 100 + i, 30, 40)).encode() for i in range(10)],
            partitions=1)
    restarted = run(kafka_bootstrap, pg_dsn, topic, on_offsets_reset="restart")

    assert (restarted["rows_written"], restarted["rows_moved_aside"]) == (10, 30)
    events, _ = landed_events(pg_dsn, topic)
    for spec in WINDOWS:
        assert_window_table_is_recomputed(pg_dsn, topic, spec, events)
    assert query(pg_dsn, f'SELECT min(window_start) FROM stream_events."{topic}__per_5m"') == [
        (START + timedelta(minutes=30),)], "windows of the topic's previous life are gone"


def test_a_window_added_to_a_topic_covers_the_rows_landed_before(kafka_bootstrap: str, pg_dsn: str) -> None:
    topic = f"orders_{uuid.uuid4().hex[:8]}"
    rng = random.Random(6)
    produce(kafka_bootstrap, topic, [json.dumps(order(rng, i, 0, 20)).encode() for i in range(40)], partitions=1)
    run(kafka_bootstrap, pg_dsn, topic, [])
    produce(kafka_bootstrap, topic, [json.dumps(order(rng, 40 + i, 15, 25)).encode() for i in range(10)],
            partitions=1)
    added = run(kafka_bootstrap, pg_dsn, topic, WINDOWS[1:])

    events, _ = landed_events(pg_dsn, topic)
    assert len(events) == 50 and added["rows_written"] == 10
    for spec in WINDOWS[1:]:
        expected_late = assert_window_table_is_recomputed(pg_dsn, topic, spec, events)
        assert set(late_offsets(pg_dsn, topic, spec["name"])) == expected_late
    [(counted,)] = query(pg_dsn, f'SELECT sum(orders)::int FROM stream_events."{topic}__sessions"')
    assert counted + len(late_offsets(pg_dsn, topic, "sessions")) == 50, "each event is counted once or is late"
