"""The sensor ``run_recovery``: runs whose process died are failed, their pool slots freed, their loads closed.

Dagster's run monitoring (dagster.yaml ``run_monitoring``) asks the run launcher whether a run worker is alive; the
default launcher cannot tell, and a ``dagster asset materialize`` run has no launcher at all. Such a run, once its
process is SIGKILLed, stays STARTED and keeps its slot in the pool ``source_<name>``, so every later load of that
source waits. Each tick (bounded: a few storage reads per in-progress run) this sensor:

1. fails every STARTED run whose process is gone. The pid is the one Dagster records in the run's first engine
   event ("Executing steps in process (pid: N)", "Started process for run (pid: N)"); it is only checked when the
   instance's storage is local (SQLite), i.e. every run of the instance ran on this host;
2. frees the concurrency slots still held by ended runs (what ``free_slots_after_run_end_seconds`` does when the
   daemon's monitoring loop runs);
3. closes the ingestion-log entries left ``running`` by ended runs as ``failed``, with the run's failure message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.events import DagsterEventType, JobFailureData, RunFailureReason
from dagster._core.storage.dagster_run import FINISHED_STATUSES, RunRecord

from resources.metadata.recovery import close_loads_of_runs, open_run_ids

RECOVERY_SENSOR = "run_recovery"
TICK_INTERVAL_S = 30
PID_EVENTS_SCANNED = 20
START_SLACK_S = 2.0
"""A process that started more than this after its run started is another process that reuses the pid."""


@dataclass
class Recovery:
    failed_runs: list[str] = field(default_factory=list)
    freed_runs: list[str] = field(default_factory=list)
    closed_loads: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        if not (self.failed_runs or self.freed_runs or self.closed_loads):
            return "no dead runs, no slots held by ended runs, no loads left running"
        loads = ", ".join(f"{row['source']}.{row['table_name']} (run {row['run_id'][:8]})" for row in self.closed_loads)
        return (f"failed {len(self.failed_runs)} run(s) whose process is gone {self.failed_runs}; freed the pool "
                f"slots of {len(self.freed_runs)} ended run(s); closed {len(self.closed_loads)} load(s) left running"
                + (f": {loads}" if loads else ""))


def recover(instance: DagsterInstance, metadata: Any | None) -> Recovery:
    """One pass of the three steps above; safe to repeat (each acts only on what is still left over)."""
    recovery = Recovery(failed_runs=fail_dead_runs(instance))
    recovery.freed_runs = free_slots_of_ended_runs(instance)
    if metadata is not None:
        recovery.closed_loads = close_loads_of_ended_runs(instance, metadata)
    return recovery


def fail_dead_runs(instance: DagsterInstance) -> list[str]:
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage  # not needed at load

    if instance.run_launcher.supports_check_run_worker_health or not isinstance(instance.run_storage,
                                                                                SqliteRunStorage):
        return []
    failed = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        pid = run_pid(instance, record.dagster_run.run_id)
        if pid is None or process_alive(pid, record.start_time):
            continue
        message = (f"The run's process (pid {pid}) is gone: it was killed or crashed without reporting an end. "
                   f"Marked failed by the sensor {RECOVERY_SENSOR}; its pool slots are freed.")
        instance.report_run_failed(record.dagster_run, message,
                                   JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION))
        failed.append(record.dagster_run.run_id)
    return failed


def free_slots_of_ended_runs(instance: DagsterInstance) -> list[str]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = storage.get_concurrency_run_ids()
    if not holders:
        return []
    ended = instance.get_run_records(filters=RunsFilter(run_ids=list(holders), statuses=FINISHED_STATUSES))
    for record in ended:
        storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
    return [record.dagster_run.run_id for record in ended]


def close_loads_of_ended_runs(instance: DagsterInstance, metadata: Any) -> list[dict[str, Any]]:
    reasons = []
    for run_id in open_run_ids(metadata):
        record = instance.get_run_record_by_id(run_id)
        if record is not None and record.dagster_run.is_finished:
            reasons.append((run_id, _load_failure_reason(instance, record)))
    return close_loads_of_runs(metadata, reasons) if reasons else []


def run_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid of the process that orchestrates the run, from its first run-level engine event that names one."""
    events = instance.event_log_storage.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=PID_EVENTS_SCANNED).records
    for event in events:
        dagster_event = event.event_log_entry.dagster_event
        if dagster_event is None or dagster_event.step_key is not None:
            continue
        pid = (getattr(dagster_event.event_specific_data, "metadata", None) or {}).get("pid")
        if pid is not None and str(pid.value).isdigit():
            return int(pid.value)
    return None


def process_alive(pid: int, run_started_at: float | None) -> bool:
    """Whether ``pid`` is a live (not zombie) process that may be the run's: one started after the run is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, started_at = stat
    if state in ("Z", "X"):
        return False
    return run_started_at is None or started_at is None or started_at <= run_started_at + START_SLACK_S


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """(state, start time as a Unix timestamp) from /proc; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _load_failure_reason(instance: DagsterInstance, record: RunRecord) -> str:
    run = record.dagster_run
    last = instance.event_log_storage.get_records_for_run(
        run.run_id, of_type={DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED}, limit=1,
        ascending=False).records
    said = last[0].event_log_entry.dagster_event.message if last and last[0].event_log_entry.dagster_event else None
    return (f"run {run.run_id} ended {run.status.value} without closing this load"
            + (f": {' '.join(said.split())[:500]}" if said else ""))


def build_recovery_sensor(with_metadata: bool = True) -> dg.SensorDefinition:
    """The sensor; ``with_metadata`` when the code location has the resource ``metadata`` (the ingestion log)."""

    @dg.sensor(
        name=RECOVERY_SENSOR,
        description="Fails runs whose process died, frees their pool slots and closes the loads they left running.",
        minimum_interval_seconds=TICK_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"metadata"} if with_metadata else set(),
    )
    def run_recovery(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        metadata = context.resources.metadata if with_metadata else None
        summary = recover(context.instance, metadata).summary()
        context.log.info(summary)
        return dg.SkipReason(summary)

    return run_recovery
