"""The ``relationships/catalog`` asset: exact candidate keys and foreign-key candidates across every landed table.

It runs after the raw and profile assets, pushes discovery down to the warehouse (``discover.py``), writes
``relationships.json`` under the state directory (``aietl generate-dbt`` turns its clean references into dbt
``relationships`` tests offline) and shows what it found as a table, with ready-to-paste ``joins:`` entries for
config/pipelines.yaml.

(No ``from __future__ import annotations``: Dagster reads the context annotation at definition time.)
"""

from pathlib import Path

import dagster as dg
import yaml

from etl_assets.catalog import SourceTable
from etl_assets.conventions import catalog_owners, code_reference
from etl_assets.keys import PROFILE, RAW, RELATIONSHIPS, asset_key, relationships_key
from etl_assets.profile.assets import read_profile
from etl_assets.relationships.discover import TableSpec, discover
from etl_assets.relationships.model import Relationship, Relationships
from etl_assets.relationships.store import write_relationships

WAREHOUSE_KEY = "warehouse"


def table_specs(tables: list[SourceTable]) -> list[TableSpec]:
    """What discovery needs per table, with the exact distinct counts of its last profile (so none is recounted)."""
    specs = []
    for t in tables:
        profile = read_profile(t.source, t.name)
        specs.append(TableSpec(
            t.source, t.name, t.raw_namespace, tuple(t.schema.primary_key),
            {c.name: c.logical_type for c in t.schema.columns}, t.sync.mode,
            {c.name: c.distinct_count for c in profile.columns} if profile else {},
            profile.row_count if profile else None))
    return specs


def build_relationship_assets(tables: list[SourceTable], warehouse_kind: str = "postgres"
                              ) -> list[dg.AssetsDefinition]:
    deps = [asset_key(layer, t.source, t.name) for t in tables for layer in (RAW, PROFILE)]

    @dg.asset(
        key=relationships_key(), deps=deps, group_name=RELATIONSHIPS, required_resource_keys={WAREHOUSE_KEY},
        tags={"aietl/layer": "relationships"}, kinds={warehouse_kind, "sql"}, owners=catalog_owners(tables),
        metadata=code_reference(build_relationship_assets),
        description="Exact candidate keys of every landed table and the foreign-key candidates between them "
                    "(values of a column set contained in another table's key, with the share that matches), "
                    "computed in the warehouse.",
    )
    def relationships_catalog(context: dg.AssetExecutionContext) -> dg.Output:
        found = discover(getattr(context.resources, WAREHOUSE_KEY), table_specs(tables))
        path = write_relationships(found)
        for note in found.notes:
            context.log.info(note)
        return dg.Output(found, metadata=relationships_metadata(found, path))

    return [relationships_catalog]


def join_entry(relationship: Relationship) -> dict:
    """A pipelines.yaml ``joins:`` entry from the referencing table (alias ``f``) to the referenced one (``d``)."""
    on = [f"f.{mine} = d.{theirs}" for mine, theirs in zip(relationship.columns, relationship.ref_columns)]
    kind = "inner" if relationship.clean else "left"
    return {"table": str(relationship.ref_table), "alias": "d", "type": kind, "on": on}


def relationships_metadata(found: Relationships, path: Path) -> dict:
    rows = [dg.TableRecord({
        "table": str(r.table), "columns": ", ".join(r.columns), "references": str(r.ref_table),
        "key": ", ".join(r.ref_columns), "match_share": r.match_share, "orphans": r.orphans,
        "distinct_values": r.distinct_values, "clean": r.clean, "evidence": r.evidence,
    }) for r in found.relationships]
    schema = dg.TableSchema(columns=[
        dg.TableColumn("table", "string"), dg.TableColumn("columns", "string"), dg.TableColumn("references", "string"),
        dg.TableColumn("key", "string"), dg.TableColumn("match_share", "float"), dg.TableColumn("orphans", "int"),
        dg.TableColumn("distinct_values", "int"), dg.TableColumn("clean", "bool"), dg.TableColumn("evidence", "string"),
    ])
    joins = {f"{r.table} -> {r.ref_table}": [join_entry(r)] for r in found.relationships}
    keys_by_table: dict[str, list[list[str]]] = {}
    for key in found.keys:
        keys_by_table.setdefault(str(key.table), []).append(list(key.columns))
    return {
        "relationships": dg.MetadataValue.table(rows, schema=schema),
        "candidate_keys": dg.MetadataValue.json(keys_by_table),
        "suggested_joins": dg.MetadataValue.md("```yaml\n" + yaml.safe_dump(joins, sort_keys=False, width=120)
                                               + "```"),
        "relationships_json": dg.MetadataValue.path(str(path)),
        "clean_relationships": sum(r.clean for r in found.relationships),
        "partial_relationships": sum(not r.clean for r in found.relationships),
        "notes": dg.MetadataValue.json(found.notes),
    }
