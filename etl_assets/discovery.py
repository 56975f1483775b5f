"""Discovery: ask each source for its tables and store them as the catalog (config/catalog.json)."""

from __future__ import annotations

from pathlib import Path

from dagster import build_resources

from etl_assets.catalog import load_catalog, save_catalog
from etl_assets.config.loader import load_datasources
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from etl_assets.wiring import source_resource
from resources.schema import TableSchema


def discover_sources(
    only: tuple[str, ...] = (), datasources_file: Path = DATASOURCES_FILE, catalog_file: Path = CATALOG_FILE
) -> tuple[dict[str, list[TableSchema]], list[str]]:
    """Discover the sources (all, or those named), keep the stored catalog for the others; returns problems too."""
    datasources = load_datasources(datasources_file)
    catalog = load_catalog(catalog_file)
    problems = []
    for source, (kind, settings) in datasources.all_sources().items():
        if kind == "kafka" or (only and source not in only):
            continue
        try:
            catalog[source] = discover_one(kind, settings, source)
        except Exception as error:  # one unreachable source must not stop the others
            problems.append(f"{source}: {error}")
    configured = set(datasources.all_sources())
    catalog = {source: tables for source, tables in catalog.items() if source in configured}
    save_catalog(catalog_file, catalog)
    return catalog, problems


def discover_one(kind: str, settings, source: str) -> list[TableSchema]:
    with build_resources({"source": source_resource(kind, settings, source)}) as initialized:
        return initialized.source.discover()
