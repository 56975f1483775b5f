"""Turning CDC off: the replication slot and publication of every PostgreSQL source with ``cdc: false`` are dropped
(a slot nobody reads makes the server keep WAL forever), and Debezium's stored offsets are removed, so turning CDC
on again starts with a fresh snapshot."""

from __future__ import annotations

import shutil

from dagster import build_resources

from etl_assets.cdc.assets import cdc_names, offsets_file
from etl_assets.config.models import DataSources
from etl_assets.wiring import postgres_resource
from resources.debezium.capture import drop


def drop_disabled_captures(datasources: DataSources, only: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Source -> what was dropped, for the PostgreSQL sources whose CDC is off (all of them, or ``only``)."""
    dropped = {}
    for source, settings in datasources.sources.postgres.items():
        if settings.cdc or (only and source not in only):
            continue
        with build_resources({"source": postgres_resource(settings, source)}) as initialized, \
                initialized.source.connect(autocommit=True) as connection:
            gone = drop(connection, cdc_names(source, settings))
        state = offsets_file(source).parent
        if state.exists():
            shutil.rmtree(state)
            gone.append(f"stored offsets {state}")
        dropped[source] = gone
    return dropped
