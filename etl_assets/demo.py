"""`aietl demo`: start the embedded default, load the sample, materialize the whole graph, summarize, stop."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl_assets.paths import SAMPLE_DIR, state_dir
from resources.embedded.lock import StateDirectoryInUseError
from resources.embedded.stack import EmbeddedStack, PortInUseError, run_clickhouse_file, run_sql_file

SAMPLE_TOPIC = "clicks"
PROGRESS_EVERY_S = 15.0


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
        with exported(stack.environment()):
            yield stack
    finally:
        stack.stop()


@contextmanager
def exported(variables: dict[str, str]) -> Iterator[None]:
    """``variables`` in the process environment (for the config's ``${VAR}``s and child processes), the previous
    values back on the way out."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
    rows: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    """Landed table -> (rows it holds, rows this run wrote), each None when the asset did not say."""
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    checks: dict[tuple[bool, str], int] = field(default_factory=dict)
    """(passed, severity) -> number of asset check evaluations of the run."""
    report_files: dict[str, list[str]] = field(default_factory=dict)
    """Report asset -> the files it wrote."""
    run_id: str = ""

    def lines(self) -> list[str]:
        status = "succeeded" if self.success else "FAILED"
        lines = [f"Run {self.run_id} {status} in {self.seconds:.1f} s: {len(self.materialized)} assets materialized."]
        lines += [_size_line(key, *sizes) for key, sizes in sorted(self.rows.items())]
        lines.append(self.checks_line())
        lines += [f"  failed check: {check}" for check in self.failed_checks]
        lines += [f"  failed step: {step}" for step in self.failed_steps]
        return lines + self.report_lines()

    def report_lines(self) -> list[str]:
        """The report files, by name under their one directory (else by full path)."""
        paths = [Path(file) for files in self.report_files.values() for file in files]
        directories = {path.parent for path in paths}
        if not paths:
            return ["Reports: none written."]
        single = len(directories) == 1
        lines = [f"Reports written to {directories.pop()}:" if single else "Reports written:"]
        for key, files in sorted(self.report_files.items()):
            shown = [Path(file).name if single else file for file in files]
            lines.append(f"  {key:<20} {', '.join(shown)}")
        return lines

    def checks_line(self) -> str:
        if not self.checks:
            return "Checks: none evaluated."
        per_severity = []
        for severity in sorted({severity for _, severity in self.checks}):
            passed, failed = self.checks.get((True, severity), 0), self.checks.get((False, severity), 0)
            per_severity.append(f"{severity} {passed} passed, {failed} failed")
        return "Checks: " + "; ".join(per_severity) + "."


def table_size(metadata: dict[str, Any]) -> tuple[int | None, int | None]:
    """(rows the table holds: ``dagster/row_count``, rows this run wrote: ``rows_written``)."""
    def number(name: str) -> int | None:
        entry = metadata.get(name)
        return None if entry is None or entry.value is None else int(entry.value)
    return number("dagster/row_count"), number("rows_written")


def _size_line(key: str, held: int | None, written: int | None) -> str:
    size = f"{held:>8} rows" if held is not None else f"{'?':>8} rows"
    return f"  {key:<45} {size}" + (f"  ({written} written by this run)" if written is not None else "")


def release_dead_runs(instance: Any, resources: dict[str, Any]) -> str:
    """What the sensor run_recovery does, once: a demo killed earlier must not leave the pools blocked."""
    from dagster import build_resources

    from sensors.recovery import recover

    if "metadata" not in resources:
        return recover(instance, None).summary()
    with build_resources({"metadata": resources["metadata"]}) as built:
        return recover(instance, built.metadata).summary()


class StepEvents(logging.Handler):
    """Hands each Dagster event of a run to ``on_event`` as it happens: a run's loggers see every event, so
    progress needs no polling of the event log."""

    def __init__(self, on_event: Callable[[Any], None]) -> None:
        super().__init__(logging.DEBUG)
        self.on_event = on_event

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001 - a progress display that fails must not fail the run
            self.handleError(record)


class PeriodicProgress:
    """Counts finished steps and prints a line at most every ``every_s`` seconds, so that a run of minutes with the
    console at WARNING is not silent."""

    def __init__(self, total: int, echo: Callable[[str], None], every_s: float = PROGRESS_EVERY_S) -> None:
        self.total, self.echo, self.every_s = total, echo, every_s
        self.done, self.started = 0, time.monotonic()
        self.printed = self.started

    def __call__(self, event: Any) -> None:
        if not (event.is_step_success or event.is_step_failure):
            return
        self.done += 1
        now = time.monotonic()
        if now - self.printed >= self.every_s:
            self.printed = now
            self.echo(f"  ... {self.done} of {self.total} steps done after {now - self.started:.0f} s "
                      f"(last: {event.step_key})")


def with_step_events(job: Any, on_event: Callable[[Any], None], log_level: str = "WARNING"
                     ) -> tuple[Any, dict[str, Any]]:
    """The job with a ``progress`` logger beside its console logger, handing every event to ``on_event``, and run
    config keeping the console at ``log_level``."""
    from dagster import logger

    handler = StepEvents(on_event)

    @logger(description="Reports the run's progress as its steps finish.")
    def progress(_context: Any) -> logging.Logger:
        progress_log = logging.Logger("aietl.progress", logging.DEBUG)
        progress_log.addHandler(handler)
        return progress_log

    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}, "progress": {}}}
    return job.with_logger_defs({**job.loggers, "progress": progress}), run_config


def run_main_job(echo: Callable[[str], None] | None = print, asset_selection: list | None = None,
                 tags: dict[str, str] | None = None, log_level: str = "WARNING",
                 on_event: Callable[[Any], None] | None = None) -> RunSummary:
    """The job ``main`` on the persistent instance (the UI shows the run): the whole graph, or ``asset_selection``;
    Dagster's console shows events of ``log_level`` and above. Each event goes to ``on_event`` when given, else
    ``echo`` (when given) gets a progress line every few seconds."""
    from dagster import DagsterInstance

    from etl_assets.definitions import MAIN_JOB, defs

    started = time.monotonic()
    instance = DagsterInstance.get()
    release_dead_runs(instance, dict(defs.resources or {}))
    job = defs.resolve_job_def(MAIN_JOB)
    if on_event is None and echo is not None:
        on_event = PeriodicProgress(len(job.graph.nodes), echo)
    if on_event is None:
        run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    else:
        job, run_config = with_step_events(job, on_event, log_level=log_level)
    result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False,
                                    asset_selection=asset_selection, tags=tags)
    summary = RunSummary(success=result.success, seconds=time.monotonic() - started, run_id=result.run_id)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        key = materialization.asset_key.to_user_string()
        summary.materialized.append(key)
        if key.startswith(("raw/", "stream/")):
            summary.rows[key] = table_size(materialization.metadata)
        if key.startswith("reports/"):
            summary.report_files[key] = [str(entry.value) for name, entry in materialization.metadata.items()
                                         if name.startswith("path_")]
    summary.failed_steps = [event.step_key for event in result.all_events if event.is_step_failure]
    for evaluation in result.get_asset_check_evaluations():
        severity = evaluation.severity.value
        summary.checks[(evaluation.passed, severity)] = summary.checks.get((evaluation.passed, severity), 0) + 1
        if not evaluation.passed:
            summary.failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} "
                                         f"({severity})")
    return summary
