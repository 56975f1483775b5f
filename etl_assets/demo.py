"""`aietl demo`: start the embedded default, load the sample, materialize the whole graph, summarize, stop."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

from etl_assets.paths import SAMPLE_DIR, state_dir
from resources.embedded.lock import StateDirectoryInUseError
from resources.embedded.stack import EmbeddedStack, PortInUseError, run_clickhouse_file, run_sql_file

SAMPLE_TOPIC = "clicks"


@contextmanager
def stack_refusal(as_error: Callable[[str], Exception]) -> Iterator[None]:
    """A state directory in use or a busy port, re-raised as ``as_error(message)``: one line, no traceback."""
    try:
        yield
    except (StateDirectoryInUseError, PortInUseError) as error:
        raise as_error(str(error)) from None


@contextmanager
def embedded_stack() -> Iterator[EmbeddedStack]:
    """Start the services and export their addresses for config/datasources.yaml; stop them on the way out."""
    stack = EmbeddedStack(state_dir()).start()
    try:
        with patch.dict(os.environ, stack.environment()):
            yield stack
    finally:
        stack.stop()


@contextmanager
def sample_stack() -> Iterator[EmbeddedStack]:
    """The embedded services with the sample data loaded into them."""
    with embedded_stack() as stack:
        load_sample(stack)
        yield stack


def load_sample(stack: EmbeddedStack) -> None:
    """Seed the sample sources: the shop database, the chdb analytics table and the click events topic."""
    from etl_assets.stream.sample import produce_sample_events
    from resources.clickhouse import ClickHouseResource
    from resources.kafka import KafkaResource

    run_sql_file(stack.postgres.dsn("shop"), SAMPLE_DIR / "shop.sql")
    clickhouse = ClickHouseResource(chdb_path=str(stack.home / "chdb"))
    try:
        run_clickhouse_file(clickhouse.client(), SAMPLE_DIR / "clickhouse.sql")
    finally:
        clickhouse.close()
    produce_sample_events(KafkaResource(bootstrap_servers=stack.kafka.bootstrap), SAMPLE_TOPIC,
                          SAMPLE_DIR / "clicks.ndjson")


@dataclass
class RunSummary:
    success: bool
    seconds: float
    materialized: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    run_id: str = ""

    def lines(self) -> list[str]:
        status = "succeeded" if self.success else "FAILED"
        lines = [f"Run {self.run_id} {status} in {self.seconds:.1f} s: {len(self.materialized)} assets materialized."]
        lines += [f"  {key:<45} {rows:>8} rows" for key, rows in sorted(self.rows.items())]
        lines += [f"  failed step: {step}" for step in self.failed_steps]
        lines += [f"  failed check: {check}" for check in self.failed_checks]
        return lines


def release_dead_runs(instance: Any, resources: dict[str, Any]) -> str:
    """What the sensor run_recovery does, once: a demo killed earlier must not leave the pools blocked."""
    from dagster import build_resources

    from sensors.recovery import recover

    if "metadata" not in resources:
        return recover(instance, None).summary()
    with build_resources({"metadata": resources["metadata"]}) as built:
        return recover(instance, built.metadata).summary()


def run_main_job(asset_selection: list | None = None, tags: dict[str, str] | None = None,
                 run_id: str | None = None, log_level: str = "WARNING") -> RunSummary:
    """The job ``main`` on the persistent instance (the UI shows the run): the whole graph, or ``asset_selection``;
    Dagster's console shows events of ``log_level`` and above."""
    from dagster import DagsterInstance

    from etl_assets.definitions import MAIN_JOB, defs

    started = time.monotonic()
    instance = DagsterInstance.get()
    release_dead_runs(instance, dict(defs.resources or {}))
    quiet = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    job = defs.resolve_job_def(MAIN_JOB)
    result = job.execute_in_process(run_config=quiet, instance=instance, raise_on_error=False,
                                    asset_selection=asset_selection, tags=tags, run_id=run_id)
    summary = RunSummary(success=result.success, seconds=time.monotonic() - started, run_id=result.run_id)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        key = materialization.asset_key.to_user_string()
        summary.materialized.append(key)
        rows = materialization.metadata.get("rows_written") or materialization.metadata.get("dagster/row_count")
        if rows is not None and key.startswith(("raw/", "stream/")):
            summary.rows[key] = int(rows.value)
    summary.failed_steps = [event.step_key for event in result.all_events if event.is_step_failure]
    for event in result.all_events:
        evaluation = event.event_specific_data if event.event_type_value == "ASSET_CHECK_EVALUATION" else None
        if evaluation is not None and not evaluation.passed:
            summary.failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return summary
