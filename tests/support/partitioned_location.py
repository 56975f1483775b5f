"""A code location with one daily-partitioned raw table, for backfills run by Dagster's own backfill machinery in
tests (the source, warehouse and metadata are the PostgreSQL database named by ``AIETL_TEST_PARTITION_DSN``)."""

import os
from datetime import date

import dagster as dg

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, PartitionSettings, SyncSettings
from etl_assets.raw.assets import build_raw_assets
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema

DSN = os.environ.get("AIETL_TEST_PARTITION_DSN", "")
EVENTS = TableSchema("shop", "events", [Column("id", "int64", False), Column("at", "timestamptz", False),
                                        Column("kind", "text")], primary_key=["id"], cursor_column="at",
                     namespace="public")
TABLE = SourceTable(kind="postgres", schema=EVENTS, sync=SyncSettings(mode="incremental", cursor="at"),
                    batch_size=1000, semantic_search=False, text_columns=(), checks=CheckSettings(),
                    target="warehouse", partition=PartitionSettings(grain="daily", start=date(2026, 1, 1), column="at"))
warehouse = PostgresResource.from_dsn(DSN) if DSN else PostgresResource(host="127.0.0.1", database="unset")
defs = dg.Definitions(
    assets=build_raw_assets([TABLE], retry_policy=None), executor=dg.in_process_executor,
    resources={"source_shop": PostgresResource.from_dsn(DSN, source_name="shop") if DSN else warehouse,
               "warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse)},
)
