"""``ddl/<source>/<table>`` assets: CREATE TABLE for six dialects from each table's recommendation.

Each dialect's script is written to ``<state dir>/ddl/<source>/<table>/<dialect>.sql`` and shown in the asset's
metadata. With ``apply: true`` in the run config, the script for the recommended target store is run on the
warehouse when the warehouse is that kind of store (its statements are idempotent, so reruns change nothing).
"""

from pathlib import Path

import dagster as dg

from etl_assets.catalog import SourceTable
from etl_assets.conventions import code_reference
from etl_assets.ddl.build import Ddl, apply_ddl, build_all
from etl_assets.keys import DDL, PROFILE, RECOMMENDATION, asset_key, group_name
from etl_assets.paths import state_dir
from etl_assets.recommend.model import Recommendation

NAMESPACE_PREFIX = "optimized_"
"""The recommended layouts are created beside, not over, the raw tables: schema ``optimized_<source>``."""


class DdlConfig(dg.Config):
    apply: bool = False
    """Run the DDL for the recommended target store on the warehouse (only when the warehouse is that store)."""
    namespace: str = ""
    """Schema (ClickHouse: database) for the tables; empty: optimized_<source>."""


DDL_CONFIG_SCHEMA = DdlConfig.to_config_schema()
"""Built once and shared: inferred from a ``config`` parameter it would be built again for each table's asset."""


def ddl_namespace(config: DdlConfig, source: str) -> str:
    return config.namespace or f"{NAMESPACE_PREFIX}{source}"


def ddl_dir(source: str, table: str) -> Path:
    return state_dir() / "ddl" / source / table


def build_ddl_assets(tables: list[SourceTable]) -> list[dg.AssetsDefinition]:
    return [_ddl_asset(table) for table in tables]


def _ddl_asset(table: SourceTable) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(DDL, table.source, table.name),
        ins={
            "recommendation": dg.AssetIn(key=asset_key(RECOMMENDATION, table.source, table.name)),
            "profile": dg.AssetIn(key=asset_key(PROFILE, table.source, table.name)),
        },
        group_name=group_name(table.source), config_schema=DDL_CONFIG_SCHEMA,
        kinds={"sql"}, owners=list(table.owners), metadata=code_reference(_ddl_asset), tags={"aietl/layer": "ddl"},
        required_resource_keys={"warehouse"},
        description=f"CREATE TABLE for {table.source}.{table.name} in postgres, clickhouse, mysql, redshift, "
                    "snowflake and bigquery, laid out as recommended.",
    )
    def ddl_asset(context: dg.AssetExecutionContext, recommendation, profile):
        """``recommendation``: the table's Recommendation; ``profile``: its TableProfile
        (unannotated: Dagster would resolve their types again for every table's asset at load)."""
        config = DdlConfig(**context.op_config)
        warehouse = context.resources.warehouse
        referenced = {fk.ref_source for fk in recommendation.foreign_keys}
        scripts = build_all(table.schema, recommendation, namespace=ddl_namespace(config, table.source),
                            profile=profile, cluster=getattr(warehouse, "cluster", None),
                            source_namespaces={source: ddl_namespace(config, source) for source in referenced})
        files = write_scripts(scripts, ddl_dir(table.source, table.name))
        metadata = ddl_metadata(scripts, files)
        metadata["applied"] = dg.MetadataValue.text(
            _apply(context, warehouse, scripts, recommendation) if config.apply else "no (apply is off)")
        return dg.Output({dialect: ddl.sql() for dialect, ddl in scripts.items()}, metadata=metadata)

    return ddl_asset


def write_scripts(scripts: dict[str, Ddl], directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for dialect, ddl in scripts.items():
        files[dialect] = directory / f"{dialect}.sql"
        files[dialect].write_text(ddl.sql(), encoding="utf-8")
    return files


def ddl_metadata(scripts: dict[str, Ddl], files: dict[str, Path]) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {"directory": dg.MetadataValue.path(str(next(iter(files.values())).parent))}
    for dialect, ddl in scripts.items():
        metadata[dialect] = dg.MetadataValue.md(f"```sql\n{ddl.sql()}```")
    return metadata


def _apply(context: dg.AssetExecutionContext, warehouse: object, scripts: dict[str, Ddl],
           recommendation: Recommendation) -> str:
    target = recommendation.target_store
    warehouse_dialect = getattr(warehouse, "dialect", None)
    if target != warehouse_dialect:
        message = f"no: the recommended store is {target}, the warehouse is {warehouse_dialect}"
        context.log.info(message)
        return message
    count = apply_ddl(warehouse, scripts[target].sql())  # type: ignore[arg-type]
    return f"yes: {count} statements on the {warehouse_dialect} warehouse"
