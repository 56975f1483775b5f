"""Benchmark: 200,000 JSON messages (~200 bytes, 3 partitions) on the Tansu broker, landed into PostgreSQL by the
stream asset, against the bare consume loop of the same client on the same broker and topic in the same run: with
the default client, kafka-python (bare loop: poll 5,000, ``json.loads``: ``ratio_vs_kafka_python``), and with
``client: confluent-kafka`` (bare loop: consume 5,000, ``json.loads``: ``ratio_vs_confluent``).

Run: ``make bench-stream`` or ``.venv/bin/python bench/stream.py [--messages N] [--repeat 3]``. PostgreSQL is
``AIETL_BENCH_PG_DSN`` when set, else an embedded PostgreSQL started here; the broker is started here.

Each measurement runs in a fresh process. ``msgs_per_s`` is the stream asset's landing throughput (reading, parsing,
COPY and offset commits of every micro-batch, from the asset's own ``landing_seconds``) with kafka-python, and
``confluent_stream_msgs_per_s`` the same with confluent-kafka; the run's overhead (Dagster
start, resource init, the per-minute step) is reported apart as ``run_overhead_s``. Both it and the bare loop leave
out the final empty poll (1 s) that finds the end of the topic (for the asset, the part of it during which no batch
was landing: its ``drain_wait_seconds``). ``peak_mb`` is the asset process's maximum RSS.
Each figure is the median of ``--repeat`` runs.

``p50_s``/``p95_s``: produce-to-landed latency with the Kafka sensor running (ticked back to back in one process,
each requested run materialized there; the daemon would add up to its 30 s tick interval), messages produced at
``--latency-rate`` for ``--latency-seconds``.

``cdc_rows_per_s``: ``--cdc-rows`` rows inserted into a source table, then updated, each batch of changes carried
by CDC into its replica in one Dagster run of ``cdc/<source>/_capture`` (a fresh Debezium engine, JVM start
included) and ``cdc/<source>/<table>``; the median of the two runs' rows / wall seconds. The replica is checked
against the source. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))
RUN_TIMEOUT_S = 900
PARTITIONS = 3

BARE_KAFKA_PYTHON = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from kafka import KafkaConsumer, TopicPartition
import kafka.record.util as crc
boot, topic = sys.argv[1], sys.argv[2]
consumer = KafkaConsumer(bootstrap_servers=boot, group_id=None, enable_auto_commit=False, max_poll_records=5000,
                         fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
consumer.assign(partitions)
consumer.seek_to_beginning(*partitions)
count, start = 0, time.perf_counter()
while True:
    records = consumer.poll(timeout_ms=1000, max_records=5000)
    if not records:
        break
    for batch in records.values():
        for record in batch:
            json.loads(record.value)
            count += 1
seconds = time.perf_counter() - start - 1.0
consumer.close()
print(json.dumps({"messages": count, "seconds": seconds, "c_crc": crc._crc32c is crc.crc32c_c}))
"""

BARE_CONFLUENT = """
import json, sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
boot, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
consumer = Consumer({"bootstrap.servers": boot, "group.id": "bench", "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
count, start = 0, time.perf_counter()
while True:
    messages = consumer.consume(5000, timeout=1.0)
    if not messages:
        break
    for message in messages:
        if message.error() is None:
            json.loads(message.value())
            count += 1
seconds = time.perf_counter() - start - 1.0
consumer.close()
print(json.dumps({"messages": count, "seconds": seconds}))
"""

STREAM_ASSET = """
import json, resource, sys, time
start = time.perf_counter()
from dagster import materialize
from etl_assets.config.models import DataSources
from etl_assets.stream.assets import build_stream_assets, stream_key
from resources.kafka import KafkaResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
boot, dsn, topic, client = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
config = DataSources.model_validate({"warehouse": "wh", "metadata": "wh",
    "targets": {"postgres": {"wh": {"database": "unused"}}},
    "sources": {"kafka": {"bench": {"bootstrap_servers": boot, "topics": [topic], "max_run_seconds": 600,
                                    "client": client}}}})
warehouse = PostgresResource.from_dsn(dsn)
imported = time.perf_counter()
result = materialize(build_stream_assets(config), resources={
    "source_bench": KafkaResource(bootstrap_servers=boot, client=client, source_name="bench"), "warehouse": warehouse,
    "metadata": MetadataResource(postgres=warehouse)})
done = time.perf_counter()
[event] = [e for e in result.get_asset_materialization_events()
           if e.event_specific_data.materialization.asset_key == stream_key("bench", topic)]
meta = {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
print(json.dumps({"messages": meta["messages"], "rows": meta["rows_written"],
                  "seconds": meta["landing_seconds"] - meta["drain_wait_seconds"],
                  "batches": meta["micro_batches"], "run_seconds": done - imported, "import_seconds": imported - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


LATENCY = """
import json, sys, threading, time
from dagster import DagsterInstance, Definitions, build_sensor_context, materialize
from etl_assets.config.models import DataSources
from etl_assets.stream.assets import build_stream_assets
from resources.kafka import KafkaResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from sensors.kafka import build_kafka_sensors
boot, dsn, topic, rate, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
config = DataSources.model_validate({"warehouse": "wh", "metadata": "wh",
    "targets": {"postgres": {"wh": {"database": "unused"}}},
    "sources": {"kafka": {"bench": {"bootstrap_servers": boot, "topics": [topic]}}}})
warehouse = PostgresResource.from_dsn(dsn)
kafka = KafkaResource(bootstrap_servers=boot, source_name="bench")
resources = {"source_bench": kafka, "warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse)}
assets = build_stream_assets(config)
definitions = Definitions(assets=assets, sensors=build_kafka_sensors(config), resources=resources)
sensor = definitions.resolve_sensor_def("kafka_bench")
kafka.ensure_topic(topic, partitions=3)
produced = []

def produce():
    producer = kafka.producer(linger_ms=0)
    start, n = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        producer.send(topic, value=json.dumps({"event_id": n, "event_type": "view",
                                               "ts": "2026-11-01T10:00:00Z"}).encode())
        n += 1
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
    producer.flush(timeout=30)
    producer.close(timeout=30)
    produced.append(n)

producer = threading.Thread(target=produce)
producer.start()
cursor, runs = None, 0
with DagsterInstance.ephemeral() as instance:
    while True:  # ticks back to back (the daemon waits minimum_interval_seconds between them)
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                  definitions=definitions) as context:
            result = sensor.evaluate_tick(context)
        cursor = result.cursor or cursor
        for request in result.run_requests:
            materialize(assets, resources=resources, instance=instance, selection=request.asset_selection,
                        tags={**request.tags, "dagster/run_key": request.run_key})
            runs += 1
        if not producer.is_alive() and not result.run_requests:
            break
producer.join()
import psycopg
with psycopg.connect(dsn, connect_timeout=10) as connection:
    count, p50, p95 = connection.execute(psycopg.sql.SQL(
        "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP "
        "(ORDER BY s) FROM (SELECT extract(epoch FROM _ingested_at - _timestamp)::float8 AS s FROM {}) t").format(
        psycopg.sql.Identifier("stream_bench", topic))).fetchone()
print(json.dumps({"produced": produced[0], "landed": count, "p50_s": p50, "p95_s": p95, "runs": runs}))
"""

CDC_RUN = """
import json, sys, time
from dagster import materialize
from etl_assets.catalog import source_tables
from etl_assets.cdc.assets import build_cdc_assets, capture_key, replica_key
from etl_assets.config.models import DataSources
from resources.kafka import KafkaResource
from resources.postgres import PostgresResource
boot, source_dsn, warehouse_dsn, prefix = sys.argv[1:5]
parts = PostgresResource.from_dsn(source_dsn)
config = DataSources.model_validate({"warehouse": "wh", "metadata": "wh",
    "targets": {"postgres": {"wh": {"database": "unused"}}},
    "sources": {"postgres": {"src": {"host": parts.host, "port": parts.port, "database": parts.database,
                                     "user": parts.user, "password_env": "AIETL_BENCH_CDC_PASSWORD", "cdc": True,
                                     "cdc_topic_prefix": prefix}},
                "kafka": {"bus": {"bootstrap_servers": boot, "topics": []}}}})
source = PostgresResource.from_dsn(source_dsn, source_name="src")
tables = source_tables(config, {"src": source.discover()})
assets = build_cdc_assets(config, tables)
start = time.perf_counter()
result = materialize(assets, resources={"source_src": source, "warehouse": PostgresResource.from_dsn(warehouse_dsn),
                                        "source_bus": KafkaResource(bootstrap_servers=boot, source_name="bus")})
seconds = time.perf_counter() - start
meta = {e.event_specific_data.materialization.asset_key: {k: v.value for k, v in
        e.event_specific_data.materialization.metadata.items()} for e in result.get_asset_materialization_events()}
print(json.dumps({"seconds": seconds, "published": meta[capture_key("src")]["events_published"],
                  "capture_seconds": meta[capture_key("src")]["seconds"],
                  "publish_seconds": meta[capture_key("src")]["publish_seconds"],
                  "applied": meta[replica_key("src", "changes")]["events_applied"]}))
"""


def run_child(script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    completed = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_S, cwd=PROJECT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT), **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def produce(bootstrap: str, topic: str, count: int) -> None:
    from resources.kafka import KafkaResource

    kafka = KafkaResource(bootstrap_servers=bootstrap)
    kafka.ensure_topic(topic, partitions=PARTITIONS)
    producer = kafka.producer(linger_ms=20, batch_size=256 * 1024)
    kinds = ["view", "click", "buy", "cart"]
    try:
        for i in range(count):
            value = json.dumps({"event_id": i, "customer_id": i % 1000, "product_id": i % 5000,
                                "event_type": kinds[i % 4], "ts": f"2026-11-01T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                                "price": round(i * 0.37 % 100, 2), "session": f"s{i % 10000:06d}",
                                "page": f"/product/{i % 5000}"}).encode()
            producer.send(topic, key=str(i % 1000).encode(), value=value)
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=30)


def confluent_available() -> bool:
    return subprocess.run([sys.executable, "-c", "import confluent_kafka"], capture_output=True).returncode == 0


def fresh_database(admin_dsn: str) -> str:
    import psycopg
    from psycopg import sql

    name = f"bench_stream_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)


def median_rate(runs: list[dict]) -> float:
    return statistics.median(run["messages"] / run["seconds"] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cdc-rows", type=int, default=50_000)
    parser.add_argument("--latency-rate", type=float, default=500.0, help="messages/s produced while measuring")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--skip-latency", action="store_true", help="leave out the produce-to-landed latency")
    parser.add_argument("--skip-cdc", action="store_true", help="leave out the CDC throughput")
    args = parser.parse_args()
    from resources.embedded import EmbeddedKafka, EmbeddedPostgres
    from resources.embedded.kafka import free_port

    with tempfile.TemporaryDirectory(prefix="bench_stream_") as work:
        broker = EmbeddedKafka(free_port(), Path(work) / "tansu.log").start()
        postgres = None
        try:
            admin_dsn = os.environ.get("AIETL_BENCH_PG_DSN")
            if not admin_dsn:
                postgres = EmbeddedPostgres(Path(work) / "pg", port=free_port()).start()
                admin_dsn = postgres.dsn()
            results = measure(broker.bootstrap, admin_dsn, args.messages, args.repeat)
            if not args.skip_latency:
                results.update(measure_latency(broker.bootstrap, admin_dsn, args.latency_rate, args.latency_seconds))
            if not args.skip_cdc:
                results.update(measure_cdc(broker.bootstrap, admin_dsn, args.cdc_rows, Path(work)))
        finally:
            broker.stop()
            if postgres is not None:
                postgres.stop()
    print(json.dumps(results))


def measure(bootstrap: str, admin_dsn: str, messages: int, repeat: int) -> dict:
    topic = f"bench_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    produce(bootstrap, topic, messages)
    print(f"produced {messages:,} messages in {time.perf_counter() - started:.1f} s", flush=True)
    bare, ours, confluent, ours_confluent = [], [], [], []
    with_confluent = confluent_available()
    for attempt in range(repeat):
        bare.append(run_child(BARE_KAFKA_PYTHON, bootstrap, topic))
        ours.append(run_child(STREAM_ASSET, bootstrap, fresh_database(admin_dsn), topic, "kafka-python"))
        if with_confluent:
            confluent.append(run_child(BARE_CONFLUENT, bootstrap, topic, str(PARTITIONS)))
            ours_confluent.append(run_child(STREAM_ASSET, bootstrap, fresh_database(admin_dsn), topic,
                                            "confluent-kafka"))
        print(f"run {attempt + 1}: bare kafka-python {bare[-1]}, stream asset {ours[-1]}"
              + (f", bare confluent-kafka {confluent[-1]}, stream asset with confluent-kafka {ours_confluent[-1]}"
                 if confluent else ""), flush=True)
    landed = [run["rows"] for run in ours + ours_confluent]
    if any(rows != messages for rows in landed) or any(run["messages"] != messages for run in bare + confluent):
        raise RuntimeError(f"not every message was read or landed: bare {[r['messages'] for r in bare]}, "
                           f"stream asset {landed} of {messages}")
    ours_rate, bare_rate = median_rate(ours), median_rate(bare)
    confluent_rate = median_rate(confluent) if confluent else None
    ours_confluent_rate = median_rate(ours_confluent) if ours_confluent else None
    return {
        "bench": "stream", "messages": messages, "msgs_per_s": round(ours_rate),
        "ratio_vs_kafka_python": round(ours_rate / bare_rate, 3),
        "ratio_vs_confluent": round(ours_confluent_rate / confluent_rate, 3) if confluent_rate else None,
        "peak_mb": round(statistics.median(run["peak_mb"] for run in ours)),
        "kafka_python_msgs_per_s": round(bare_rate), "kafka_python_c_crc": all(run["c_crc"] for run in bare),
        "confluent_msgs_per_s": round(confluent_rate) if confluent_rate else None,
        "confluent_stream_msgs_per_s": round(ours_confluent_rate) if ours_confluent_rate else None,
        "confluent_stream_peak_mb": round(statistics.median(run["peak_mb"] for run in ours_confluent))
        if ours_confluent else None,
        "micro_batches": ours[0]["batches"],
        "run_overhead_s": round(statistics.median(run["run_seconds"] - run["seconds"] for run in ours), 2),
        "import_s": round(statistics.median(run["import_seconds"] for run in ours), 2),
    }


def measure_latency(bootstrap: str, admin_dsn: str, rate: float, seconds: float) -> dict:
    """Produce-to-landed latency: messages produced at ``rate`` for ``seconds`` while the Kafka sensor ticks back to
    back and each run it requests is materialized; per message, the landing transaction's time minus the Kafka
    record's timestamp (one machine, one clock)."""
    topic = f"latency_{uuid.uuid4().hex[:8]}"
    run = run_child(LATENCY, bootstrap, fresh_database(admin_dsn), topic, str(rate), str(seconds))
    print(f"latency: {run}", flush=True)
    return {"p50_s": round(run["p50_s"], 2), "p95_s": round(run["p95_s"], 2), "latency_runs": run["runs"],
            "latency_messages": run["landed"], "latency_produced": run["produced"]}


def measure_cdc(bootstrap: str, admin_dsn: str, rows: int, work: Path) -> dict:
    """Rows changed in a source table -> applied to its replica, end to end: one Dagster run of the capture (a fresh
    Debezium engine, JVM start included) and the apply. The first run (slot, snapshot of the empty table) is not
    timed; the timed run sees ``rows`` inserts, then ``rows`` updates of the same rows."""
    import psycopg

    source_dsn, warehouse_dsn = fresh_database(admin_dsn), fresh_database(admin_dsn)
    password = psycopg.conninfo.conninfo_to_dict(source_dsn).get("password", "")
    env = {"AIETL_BENCH_CDC_PASSWORD": password, "AIETL_HOME": str(work / "home")}
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    with psycopg.connect(source_dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute("CREATE TABLE changes (id bigint PRIMARY KEY, name text, amount numeric(12, 2), "
                           "qty integer, active boolean)")
    try:
        run_child(CDC_RUN, bootstrap, source_dsn, warehouse_dsn, prefix, env=env)
        figures = []
        for statement in ("INSERT INTO changes SELECT g, 'row ' || g, g * 0.5, g %% 100, g %% 2 = 0 "
                          "FROM generate_series(1, %s) g",
                          "UPDATE changes SET qty = qty + 1, name = name || '!' WHERE id <= %s"):
            with psycopg.connect(source_dsn, autocommit=True, connect_timeout=10) as connection:
                connection.execute(statement, (rows,))
            run = run_child(CDC_RUN, bootstrap, source_dsn, warehouse_dsn, prefix, env=env)
            if run["published"] != rows or run["applied"] != rows:
                raise RuntimeError(f"CDC moved {run['published']} / applied {run['applied']} of {rows} changes")
            figures.append(run)
            print(f"cdc: {rows:,} changes in {run['seconds']:.1f} s ({run['capture_seconds']:.1f} s capture, of which "
                  f"{run['publish_seconds']:.1f} s publishing to Kafka)",
                  flush=True)
        with psycopg.connect(warehouse_dsn, connect_timeout=10) as connection:
            landed = connection.execute("SELECT count(*), sum(qty) FROM cdc_src.changes").fetchone()
        with psycopg.connect(source_dsn, connect_timeout=10) as connection:
            expected = connection.execute("SELECT count(*), sum(qty) FROM changes").fetchone()
        if landed != expected:
            raise RuntimeError(f"the replica {landed} differs from the source {expected}")
    finally:
        with psycopg.connect(source_dsn, autocommit=True, connect_timeout=10) as connection:
            connection.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                               "WHERE database = current_database()")
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as connection:
            for dsn in (source_dsn, warehouse_dsn):
                name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
                connection.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)))
    seconds = statistics.median(run["seconds"] for run in figures)
    return {"cdc_rows_per_s": round(rows / seconds), "cdc_rows": rows,
            "cdc_capture_s": round(statistics.median(run["capture_seconds"] for run in figures), 2),
            "cdc_publish_s": round(statistics.median(run["publish_seconds"] for run in figures), 2),
            "cdc_run_s": round(seconds, 2)}


if __name__ == "__main__":
    main()
