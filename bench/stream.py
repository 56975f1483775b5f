"""Benchmark: 200,000 JSON messages (~200 bytes, 3 partitions) on the Tansu broker, landed into PostgreSQL by the
stream asset, against the bare consume loop of the same client (kafka-python: poll 5,000, ``json.loads``) on the
same broker and topic in the same run, and confluent-kafka's bare loop when it is importable.

Run: ``make bench-stream`` or ``.venv/bin/python bench/stream.py [--messages N] [--repeat 3]``. PostgreSQL is
``AIETL_BENCH_PG_DSN`` when set, else an embedded PostgreSQL started here; the broker is started here.

Each measurement runs in a fresh process. ``msgs_per_s`` is the stream asset's landing throughput (reading, parsing,
COPY and offset commits of every micro-batch, from the asset's own ``landing_seconds``); the run's overhead (Dagster
start, resource init, the per-minute step) is reported apart as ``run_overhead_s``. ``peak_mb`` is the asset
process's maximum RSS. Each figure is the median of ``--repeat`` runs. The last line is one JSON object.
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
boot, dsn, topic = sys.argv[1], sys.argv[2], sys.argv[3]
config = DataSources.model_validate({"warehouse": "wh", "metadata": "wh",
    "targets": {"postgres": {"wh": {"database": "unused"}}},
    "sources": {"kafka": {"bench": {"bootstrap_servers": boot, "topics": [topic], "max_run_seconds": 600}}}})
warehouse = PostgresResource.from_dsn(dsn)
imported = time.perf_counter()
result = materialize(build_stream_assets(config), resources={
    "source_bench": KafkaResource(bootstrap_servers=boot, source_name="bench"), "warehouse": warehouse,
    "metadata": MetadataResource(postgres=warehouse)})
done = time.perf_counter()
[event] = [e for e in result.get_asset_materialization_events()
           if e.event_specific_data.materialization.asset_key == stream_key("bench", topic)]
meta = {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
print(json.dumps({"messages": meta["messages"], "rows": meta["rows_written"], "seconds": meta["landing_seconds"],
                  "batches": meta["micro_batches"], "run_seconds": done - imported, "import_seconds": imported - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(script: str, *args: str) -> dict:
    completed = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_S, cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)})
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
    bare, ours, confluent = [], [], []
    with_confluent = confluent_available()
    for attempt in range(repeat):
        bare.append(run_child(BARE_KAFKA_PYTHON, bootstrap, topic))
        ours.append(run_child(STREAM_ASSET, bootstrap, fresh_database(admin_dsn), topic))
        if with_confluent:
            confluent.append(run_child(BARE_CONFLUENT, bootstrap, topic, str(PARTITIONS)))
        print(f"run {attempt + 1}: bare kafka-python {bare[-1]}, stream asset {ours[-1]}"
              + (f", bare confluent-kafka {confluent[-1]}" if confluent else ""), flush=True)
    landed = [run["rows"] for run in ours]
    if any(rows != messages for rows in landed) or any(run["messages"] != messages for run in bare):
        raise RuntimeError(f"not every message was read or landed: bare {[r['messages'] for r in bare]}, "
                           f"stream asset {landed} of {messages}")
    ours_rate, bare_rate = median_rate(ours), median_rate(bare)
    confluent_rate = median_rate(confluent) if confluent else None
    return {
        "bench": "stream", "messages": messages, "msgs_per_s": round(ours_rate),
        "ratio_vs_kafka_python": round(ours_rate / bare_rate, 3),
        "ratio_vs_confluent": round(ours_rate / confluent_rate, 3) if confluent_rate else None,
        "p95_s": None, "cdc_rows_per_s": None,
        "peak_mb": round(statistics.median(run["peak_mb"] for run in ours)),
        "kafka_python_msgs_per_s": round(bare_rate), "kafka_python_c_crc": all(run["c_crc"] for run in bare),
        "confluent_msgs_per_s": round(confluent_rate) if confluent_rate else None,
        "micro_batches": ours[0]["batches"],
        "run_overhead_s": round(statistics.median(run["run_seconds"] - run["seconds"] for run in ours), 2),
        "import_s": round(statistics.median(run["import_seconds"] for run in ours), 2),
    }


if __name__ == "__main__":
    main()
