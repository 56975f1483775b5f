"""An apply run killed mid-batch: ``dagster asset materialize`` of a replica asset, in its own process group on a
persistent Dagster instance (the project's dagster.yaml: pool limit 1), SIGKILLed while it applies a large batch of
Debezium events from the real broker into the real PostgreSQL. The batch in flight leaves nothing; the next run
(once the recovery sensor has failed the dead run and freed its pool slot) leaves the replica equal to the events,
none lost, none applied twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from etl_assets.cdc.assets import replica_key
from sensors.recovery import build_recovery_sensor
from tests.integration.test_cdc import BUS, debezium_event, produce_raw, rows

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]
EVENTS, KEYS = 60_000, 12_000
"""Three micro-batches of 20,000 events over 12,000 keys (creates, updates and deletes)."""
RUN_TIMEOUT_S = 180

DEFINITIONS = """
from dagster import Definitions
from etl_assets.cdc.assets import build_cdc_assets
from etl_assets.config.models import DataSources
from resources.kafka import KafkaResource
from resources.postgres import PostgresResource
from sensors.recovery import build_recovery_sensor

BOOTSTRAP, WAREHOUSE, TOPIC = {bootstrap!r}, {warehouse!r}, {topic!r}
datasources = DataSources.model_validate({{
    "warehouse": "wh", "metadata": "wh", "targets": {{"postgres": {{"wh": {{"database": "unused"}}}}}},
    "sources": {{"kafka": {{"bus": {{"bootstrap_servers": BOOTSTRAP, "topics": [], "debezium_topics": [TOPIC]}}}}}}}})
defs = Definitions(assets=build_cdc_assets(datasources, []), sensors=[build_recovery_sensor(with_metadata=False)],
                   resources={{"source_bus": KafkaResource(bootstrap_servers=BOOTSTRAP, source_name="bus"),
                              "warehouse": PostgresResource.from_dsn(WAREHOUSE)}})
"""


def change(n: int) -> tuple[str, int, dict[str, Any] | None]:
    """Event ``n``: its operation, key and after image (the first pass over the keys creates, later ones update,
    every seventh event of a later pass deletes)."""
    row_id = n % KEYS
    if n < KEYS:
        return "c", row_id, {"id": row_id, "version": n, "label": f"row {row_id}"}
    if n % 7 == 0:
        return "d", row_id, None
    return "u", row_id, {"id": row_id, "version": n, "label": f"row {row_id} v{n}"}


def expected_rows(applied: int) -> list[tuple]:
    """The replica after the first ``applied`` events, by brute force: the last event of each key wins."""
    last: dict[int, dict | None] = {}
    for n in range(applied):
        _, row_id, after = change(n)
        last[row_id] = after
    return sorted((row["id"], row["version"], row["label"]) for row in last.values() if row is not None)


def produce_changes(bootstrap: str, topic: str) -> None:
    messages = []
    for n in range(EVENTS):
        op, row_id, after = change(n)
        messages.append((json.dumps({"id": row_id}).encode(), debezium_event(op, {"id": row_id}, after, 1000 + n)))
    produce_raw(bootstrap, topic, messages)


def materialize_in_subprocess(home: Path, definitions: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", str(definitions),
               "--select", replica_key(BUS, "orders").to_user_string()]
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def applied_offsets(dsn: str, topic: str) -> int:
    """Events applied (the offsets stored with the replica's rows; 0 before the first batch commits)."""
    with psycopg.connect(dsn, connect_timeout=10) as connection:
        if connection.execute("SELECT to_regclass('aietl_meta.kafka_offsets')").fetchone()[0] is None:
            return 0
        return int(connection.execute("SELECT coalesce(sum(next_offset), 0) FROM aietl_meta.kafka_offsets WHERE "
                                      "source = %s AND topic = %s AND consumer = 'cdc'", (BUS, topic)).fetchone()[0])


def busy_backends(dsn: str) -> int:
    """Other sessions of the warehouse database inside a transaction (the apply's)."""
    return rows(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")[0][0]


def wait_for(condition: Any, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_an_apply_killed_mid_batch_loses_and_repeats_nothing_and_the_next_run_is_not_blocked(
        pg_server, kafka_bootstrap, tmp_path):
    name = f"t_cdc_kill_{uuid.uuid4().hex[:8]}"
    warehouse = pg_server.create_database(name)
    try:
        topic = f"erp{uuid.uuid4().hex[:6]}.public.orders"
        produce_changes(kafka_bootstrap, topic)
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
        definitions = tmp_path / "cdc_defs.py"
        definitions.write_text(DEFINITIONS.format(bootstrap=kafka_bootstrap, warehouse=warehouse, topic=topic))

        killed = materialize_in_subprocess(home, definitions)
        try:  # kill once a batch was committed and the next one is in its transaction
            wait_for(lambda: killed.poll() is None and applied_offsets(warehouse, topic) > 0
                     and busy_backends(warehouse) > 0, "a committed batch and one in flight", RUN_TIMEOUT_S)
        finally:
            os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        wait_for(lambda: busy_backends(warehouse) == 0, "the killed run's transaction to end")

        applied = applied_offsets(warehouse, topic)
        assert 0 < applied < EVENTS and applied % 20_000 == 0, applied
        replica = "SELECT id, version, label FROM cdc_bus.orders ORDER BY id"
        assert rows(warehouse, replica) == expected_rows(applied), "the batch in flight left nothing behind"

        with DagsterInstance.from_config(str(home)) as instance:
            [dead] = instance.get_runs()
            assert dead.status == DagsterRunStatus.STARTED  # nothing told Dagster the process died
            # it still holds the pool cdc_bus's one slot: until it is freed every CDC step of the source would wait
            assert instance.event_log_storage.get_concurrency_run_ids() == {dead.run_id}
            sensor = build_recovery_sensor(with_metadata=False)
            with build_sensor_context(instance=instance) as context:
                summary = sensor.evaluate_tick(context).skip_message
            assert f"failed 1 run(s) whose process is gone ['{dead.run_id}']" in summary
            assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
            assert not instance.event_log_storage.get_concurrency_run_ids()  # the pool slot is free

        again = materialize_in_subprocess(home, definitions)
        output = again.communicate(timeout=RUN_TIMEOUT_S)[0].decode(errors="replace")
        assert again.returncode == 0, output[-3000:]
        assert applied_offsets(warehouse, topic) == EVENTS
        assert rows(warehouse, replica) == expected_rows(EVENTS)
        with DagsterInstance.from_config(str(home)) as instance:
            event = instance.get_latest_materialization_event(replica_key(BUS, "orders"))
            applied_again = event.asset_materialization.metadata["events_applied"].value
        assert applied_again == EVENTS - applied, "the next run applied exactly the events the killed one had not"
    finally:
        pg_server.drop_database(name)
