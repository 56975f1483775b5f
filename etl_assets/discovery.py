"""Discovery: ask each source for its tables and store them as the catalog (config/catalog.json).

One failing source, or one bad file of a files source, never stops the others: it is reported as a problem naming
the source, the table and the file, and the catalog keeps what it knew of it before.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dagster import build_resources

from etl_assets.catalog import save_catalog
from etl_assets.config.catalog_file import CatalogFileError, read_catalog_file
from etl_assets.config.loader import ConfigError, load_datasources
from etl_assets.config.suggest import did_you_mean
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from etl_assets.wiring import source_resource
from resources.protocol import error_text
from resources.schema import TableSchema


def discover_sources(
    only: tuple[str, ...] = (), datasources_file: Path = DATASOURCES_FILE, catalog_file: Path = CATALOG_FILE,
    on_source: Callable[[str, int, int, str], None] | None = None,
) -> tuple[dict[str, list[TableSchema]], list[str]]:
    """Discover the sources (all, or those named), keep the stored catalog for the others; returns problems too.

    ``on_source(source, done, total, outcome)`` is called as each source is done (for progress).
    """
    datasources = load_datasources(datasources_file)
    configured = datasources.all_sources()
    _check_named(only, configured, datasources_file)
    catalog = _stored_catalog(catalog_file, whole=not only)
    problems = []
    wanted = [(source, kind, settings) for source, (kind, settings) in configured.items()
              if kind != "kafka" and (not only or source in only)]
    report = on_source or (lambda *_: None)
    for done, (source, kind, settings) in enumerate(wanted, start=1):
        try:
            tables, failed = discover_one(kind, settings, source)
        except Exception as error:  # one unreachable source must not stop the others
            problems.append(f"{source}: {error_text(error)}")
            report(source, done, len(wanted), "failed")
            continue
        report(source, done, len(wanted), f"{len(tables)} tables")
        before = {table.name: table for table in catalog.get(source, [])}
        kept = [before[name] for name in failed if name in before]
        catalog[source] = [*tables, *kept]
        problems += [f"{source}.{name}: {reason}" + ("" if name in before else " (not in the catalog yet)")
                     for name, reason in failed.items()]
    catalog = {source: tables for source, tables in catalog.items() if source in configured}
    save_catalog(catalog_file, catalog)
    return catalog, problems


def _check_named(only: tuple[str, ...], configured: dict, datasources_file: Path) -> None:
    for name in only:
        if name in configured:
            continue
        raise ConfigError(datasources_file, "sources", f"no source named {name!r} (sources: "
                          f"{', '.join(sorted(configured)) or 'none'}){did_you_mean(name, configured)}")


def _stored_catalog(catalog_file: Path, whole: bool) -> dict[str, list[TableSchema]]:
    """The stored catalog; when every source is being discovered again, a broken file is simply rewritten."""
    if not catalog_file.exists():
        return {}
    try:
        return read_catalog_file(catalog_file)
    except CatalogFileError:
        if whole:
            return {}
        raise


def discover_one(kind: str, settings, source: str) -> tuple[list[TableSchema], dict[str, str]]:
    """The tables of one source, and the tables that failed with the reason (files sources fail per table)."""
    with build_resources({"source": source_resource(kind, settings, source)}) as initialized:
        if kind == "files":
            return initialized.source.discover_tables()
        return initialized.source.discover(), {}
