"""The code location: every asset, check, job, schedule and sensor, built from config without touching the network."""

from __future__ import annotations

import os

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor, multiprocess_executor

from etl_assets.catalog import SourceTable, load_catalog, source_tables
from etl_assets.cdc.assets import build_cdc_assets
from etl_assets.config.loader import load_datasources
from etl_assets.config.models import DataSources
from etl_assets.ddl.assets import build_ddl_assets
from etl_assets.embeddings.assets import build_embedding_assets
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from etl_assets.profile.assets import build_profile_assets
from etl_assets.proof.assets import build_proof_assets
from etl_assets.raw.assets import build_raw_assets
from etl_assets.raw.partitions import whole_table_selection
from etl_assets.recommend.assets import build_recommendation_assets
from etl_assets.relationships.assets import build_relationship_assets
from etl_assets.reports.assets import build_report_assets
from etl_assets.stream.assets import build_stream_assets
from etl_assets.transform.assets import build_dbt_assets
from etl_assets.wiring import build_resources
from sensors.automation import build_automation_sensor
from sensors.cdc import build_cdc_sensors, build_debezium_topic_sensors
from sensors.drift import build_drift_sensors
from sensors.files import build_file_sensors
from sensors.incremental import build_incremental_sensors
from sensors.kafka import build_kafka_sensors
from sensors.recovery import build_recovery_sensor
from sensors.schedules import build_schedules

MAIN_JOB = "main"


def warehouse_kind(datasources: DataSources) -> str:
    return "clickhouse" if datasources.warehouse in datasources.targets.clickhouse else "postgres"


def build_assets(datasources: DataSources, tables: list[SourceTable]) -> list:
    kind = warehouse_kind(datasources)
    return [
        *build_raw_assets(tables, warehouse_kind=kind, warehouse_name=datasources.warehouse),
        *build_profile_assets(tables, warehouse_kind=kind),
        *build_relationship_assets(tables, warehouse_kind=kind),
        *build_recommendation_assets(tables),
        *build_ddl_assets(tables),
        *build_proof_assets(tables, relationships=True, warehouse_kind=kind),
        *(build_embedding_assets(tables) if datasources.qdrant else []),
        *build_stream_assets(datasources),
        *build_cdc_assets(datasources, tables),
        *build_dbt_assets(owners=datasources.owners, tables=tables),
        *build_report_assets(tables, proofs=True, datasources=datasources),
    ]


def executor():
    """In-process by default: the embedded chdb engine and Qdrant local mode admit one process per data path."""
    return multiprocess_executor if os.environ.get("AIETL_EXECUTOR") == "multiprocess" else in_process_executor


def build_definitions() -> Definitions:
    datasources = load_datasources(DATASOURCES_FILE)
    tables = source_tables(datasources, load_catalog(CATALOG_FILE))
    main_job = define_asset_job(MAIN_JOB, selection=whole_table_selection(AssetSelection.all(), tables),
                                description="The whole asset graph (time-partitioned raw tables load by partition: "
                                            "backfill them, the incremental sensor keeps them current).")
    return Definitions(
        assets=build_assets(datasources, tables),
        jobs=[main_job],
        schedules=build_schedules(datasources, tables),
        sensors=[*build_incremental_sensors(datasources, tables), *build_file_sensors(tables),
                 *build_drift_sensors(datasources, tables), *build_kafka_sensors(datasources),
                 *build_cdc_sensors(datasources, tables), *build_debezium_topic_sensors(datasources),
                 build_recovery_sensor(), build_automation_sensor(datasources)],
        resources=build_resources(datasources),
        executor=executor(),
    )


defs = build_definitions()
