"""Scheduled refreshes: a job and a cron schedule per source that sets ``schedule`` in datasources.yaml, and the
system-health report's schedule (its job also runs it on demand: ``dagster job launch -j reports_health``)."""

from __future__ import annotations

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

from etl_assets.catalog import SourceTable
from etl_assets.config.models import DataSources
from etl_assets.keys import definition_name, group_name, report_key
from etl_assets.raw.partitions import whole_table_selection

HEALTH_JOB = "reports_health"
HEALTH_CRON = "5 * * * *"
"""Hourly, a few minutes after the hourly source refreshes start."""


def build_schedules(datasources: DataSources, tables: list[SourceTable]) -> list[ScheduleDefinition]:
    schedules = [health_schedule(datasources.timezone)]
    for source, (_kind, settings) in datasources.all_sources().items():
        if not settings.schedule:
            continue
        job = define_asset_job(
            definition_name("refresh", source),
            selection=whole_table_selection(AssetSelection.groups(group_name(source)).downstream(), tables),
            description=f"Reload {source} and everything built from it.",
        )
        schedules.append(ScheduleDefinition(
            name=f"{definition_name('refresh', source)}_schedule", job=job, cron_schedule=settings.schedule,
            execution_timezone=settings.timezone or datasources.timezone, default_status=DefaultScheduleStatus.STOPPED,
        ))
    return schedules


def health_schedule(timezone: str = "UTC") -> ScheduleDefinition:
    """Runs by default: the report only reads, and each of its probes is bounded by a timeout."""
    job = define_asset_job(HEALTH_JOB, selection=AssetSelection.assets(report_key("health")),
                           description="Probe every source and write the system-health report.")
    return ScheduleDefinition(name=f"{HEALTH_JOB}_schedule", job=job, cron_schedule=HEALTH_CRON,
                              execution_timezone=timezone, default_status=DefaultScheduleStatus.RUNNING)
