"""A time-bounded join of two topics' events, materialized by Dagster on the real Tansu broker and PostgreSQL and
checked against a brute-force pairing of the landed rows."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dagster import materialize

from etl_assets.config.models import DataSources
from etl_assets.keys import STREAM, asset_key
from etl_assets.stream.assets import build_stream_assets, stream_key
from resources.kafka import KafkaResource
from tests.integration.test_stream_assets import SOURCE, metadata_resource, produce, query, warehouse_resource
from tests.integration.test_stream_dead_letters import recreate

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
WITHIN = timedelta(minutes=2)


def run(bootstrap: str, dsn: str, orders: str, payments: str, **settings: object) -> dict:
    datasources = DataSources.model_validate({
        "warehouse": "wh", "metadata": "wh", "targets": {"postgres": {"wh": {"database": "unused"}}},
        "sources": {"kafka": {SOURCE: {"bootstrap_servers": bootstrap, "topics": [orders, payments], "joins": [
            {"name": "paid", "within": "2m", "left": {"topic": orders, "key": "customer", "event_time": "ts"},
             "right": {"topic": payments, "key": "payer", "event_time": "paid_at"}}], **settings}}}})
    wanted = {stream_key(SOURCE, orders), stream_key(SOURCE, payments), asset_key(STREAM, SOURCE, "paid")}
    warehouse = warehouse_resource(dsn)
    result = materialize(
        [a for a in build_stream_assets(datasources) if a.key in wanted],
        resources={f"source_{SOURCE}": KafkaResource(bootstrap_servers=bootstrap, source_name=SOURCE),
                   "warehouse": warehouse, "metadata": metadata_resource(warehouse)})
    assert result.success
    events = {e.event_specific_data.materialization.asset_key: e.event_specific_data.materialization.metadata
              for e in result.get_asset_materialization_events()}
    return {name: value.value for name, value in events[asset_key(STREAM, SOURCE, "paid")].items()}


def events(rng: random.Random, count: int, first_id: int, minutes: tuple[int, int], key: str, time: str) -> list:
    return [json.dumps({"id": first_id + i, key: rng.choice([1, 2, 3, None]), time: (
        START + timedelta(seconds=rng.randint(minutes[0] * 60, minutes[1] * 60))).isoformat()}).encode()
        for i in range(count)]


def brute_force_pairs(dsn: str, orders: str, payments: str) -> set:
    left = query(dsn, f'SELECT _partition, _offset, customer, ts FROM stream_events."{orders}"')
    right = query(dsn, f'SELECT _partition, _offset, payer, paid_at FROM stream_events."{payments}"')
    return {(lp, lo, rp, ro) for lp, lo, lk, lt in left for rp, ro, rk, rt in right
            if lk is not None and lk == rk and abs(lt - rt) <= WITHIN}


def test_pairs_within_the_interval_match_a_brute_force_pairing_across_batches(kafka_bootstrap: str,
                                                                              pg_dsn: str) -> None:
    orders, payments = f"orders_{uuid.uuid4().hex[:8]}", f"payments_{uuid.uuid4().hex[:8]}"
    rng = random.Random(4)
    produce(kafka_bootstrap, orders, events(rng, 40, 0, (0, 20), "customer", "ts"), partitions=2)
    KafkaResource(bootstrap_servers=kafka_bootstrap).ensure_topic(payments, partitions=1)
    first = run(kafka_bootstrap, pg_dsn, orders, payments)
    produce(kafka_bootstrap, payments, events(rng, 30, 100, (0, 25), "payer", "paid_at"), partitions=1)
    second = run(kafka_bootstrap, pg_dsn, orders, payments)
    produce(kafka_bootstrap, orders, events(rng, 20, 40, (15, 30), "customer", "ts"), partitions=2)
    produce(kafka_bootstrap, payments, events(rng, 10, 130, (20, 30), "payer", "paid_at"), partitions=1)
    third = run(kafka_bootstrap, pg_dsn, orders, payments)
    again = run(kafka_bootstrap, pg_dsn, orders, payments)

    expected = brute_force_pairs(pg_dsn, orders, payments)
    joined = query(pg_dsn, 'SELECT left_partition, left_offset, right_partition, right_offset, key, '
                           "left_row->>'id', right_row->>'id' FROM stream_events.paid")
    assert {row[:4] for row in joined} == expected and len(joined) == len(expected) > 20
    assert all(key in ("1", "2", "3") for _, _, _, _, key, _, _ in joined)
    assert (first["new_left_rows"], first["new_right_rows"], first["pairs_added"]) == (0, 0, 0), \
        "nothing is joined (nor marked joined) while a side has landed nothing"
    assert (second["new_left_rows"], second["new_right_rows"]) == (40, 30)
    assert (third["new_left_rows"], third["new_right_rows"]) == (20, 10)
    assert first["pairs_added"] + second["pairs_added"] + third["pairs_added"] == len(expected)
    assert (again["new_left_rows"], again["new_right_rows"], again["pairs_added"]) == (0, 0, 0)


def test_a_recreated_topic_is_joined_again_without_its_earlier_pairs(kafka_bootstrap: str, pg_dsn: str) -> None:
    orders, payments = f"orders_{uuid.uuid4().hex[:8]}", f"payments_{uuid.uuid4().hex[:8]}"
    rng = random.Random(8)
    produce(kafka_bootstrap, orders, events(rng, 30, 0, (0, 20), "customer", "ts"), partitions=1)
    produce(kafka_bootstrap, payments, events(rng, 30, 100, (0, 20), "payer", "paid_at"), partitions=1)
    run(kafka_bootstrap, pg_dsn, orders, payments)
    recreate(kafka_bootstrap, orders)
    produce(kafka_bootstrap, orders, events(rng, 10, 200, (5, 15), "customer", "ts"), partitions=1)
    restarted = run(kafka_bootstrap, pg_dsn, orders, payments, on_offsets_reset="restart")

    expected = brute_force_pairs(pg_dsn, orders, payments)
    joined = query(pg_dsn, "SELECT left_partition, left_offset, right_partition, right_offset, "
                           "(left_row->>'id')::int FROM stream_events.paid")
    assert {row[:4] for row in joined} == expected and expected
    assert all(order_id >= 200 for *_, order_id in joined), "pairs of the topic's earlier life are gone"
    assert restarted["new_left_rows"] == 10
