"""Scheduled refreshes: a job and a cron schedule per source that sets ``schedule`` in datasources.yaml."""

from __future__ import annotations

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

from etl_assets.catalog import SourceTable
from etl_assets.config.models import DataSources
from etl_assets.keys import definition_name, group_name


def build_schedules(datasources: DataSources, tables: list[SourceTable]) -> list[ScheduleDefinition]:
    schedules = []
    for source, (_kind, settings) in datasources.all_sources().items():
        if not settings.schedule:
            continue
        job = define_asset_job(
            definition_name("refresh", source), selection=AssetSelection.groups(group_name(source)).downstream(),
            description=f"Reload {source} and everything built from it.",
        )
        schedules.append(ScheduleDefinition(
            name=f"{definition_name('refresh', source)}_schedule", job=job, cron_schedule=settings.schedule,
            default_status=DefaultScheduleStatus.STOPPED,
        ))
    return schedules
