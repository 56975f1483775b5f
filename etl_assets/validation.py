"""Cross-reference checks of the config against itself, the environment, the catalog and pipelines.yaml.

Every check returns problems instead of raising, so that ``aietl validate`` and the code location's load report all
of them at once, each with the file, the key path, the reason and the fix, before Dagster builds any definition.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from etl_assets.config.catalog_file import CatalogFileError, read_catalog_file
from etl_assets.config.loader import ConfigError
from etl_assets.config.models import DataSources, SourceDefaults
from etl_assets.config.suggest import closest
from resources.schema import TableSchema

POSTGRES_IDENTIFIER_BYTES = 63
"""PostgreSQL truncates longer identifiers (NAMEDATALEN - 1), so two columns could become one."""


@dataclass(frozen=True)
class Problem:
    file: str
    key_path: str
    reason: str
    fix: str = ""
    blocking: bool = True
    """False for what only a run needs (a secret may be set only where runs execute): a warning, not a failure."""

    def __str__(self) -> str:
        where = f"{self.file}: {self.key_path}: " if self.key_path else f"{self.file}: "
        return f"{where}{self.reason}" + (f"; fix: {self.fix}" if self.fix else "")


class ConfigProblems(ConfigError):
    """One or more cross-reference problems; ``problems`` holds each of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0]
        self.file, self.key_path, self.reason = first.file, first.key_path, first.reason
        ValueError.__init__(self, "\n".join(str(problem) for problem in problems))


def raise_for_problems(problems: list[Problem]) -> None:
    blocking = [problem for problem in problems if problem.blocking]
    if blocking:
        raise ConfigProblems(blocking)


def check_config(datasources: DataSources, datasources_file: Path, catalog_file: Path,
                 pipelines_file: Path | None = None, environ: Mapping[str, str] | None = None,
                 catalog: dict[str, list[TableSchema]] | None = None) -> list[Problem]:
    """Every problem of the config that Dagster would otherwise report late, or as an internal error.

    ``catalog`` is the catalog when the caller has loaded it already; otherwise the file is read (and a missing,
    truncated or malformed file is itself the problem).
    """
    environ = os.environ if environ is None else environ
    file = str(datasources_file)
    problems = [*_layer_resources(datasources, file), *_secrets(datasources, file, environ),
                *_schedules(datasources, file)]
    if catalog is None:
        try:
            catalog = read_catalog_file(catalog_file)
        except CatalogFileError as error:
            return [*problems, Problem(str(catalog_file), error.key_path, error.reason, error.fix)]
    problems += _catalog_coverage(datasources, file, catalog, str(catalog_file))
    problems += _identifier_lengths(datasources, catalog, str(catalog_file))
    if not any(problem.file == str(catalog_file) for problem in problems):
        problems += _tables_and_pipelines(datasources, file, catalog, pipelines_file)
    return problems


def source_path(kind: str, name: str) -> str:
    return f"sources.{kind}.{name}"


def _layer_resources(datasources: DataSources, file: str) -> Iterator[Problem]:
    """A layer switched on without the resource it needs."""
    warehouse_is_postgres = datasources.warehouse in datasources.targets.postgres
    for name, (kind, settings) in datasources.all_sources().items():
        path = source_path(kind, name)
        if not datasources.qdrant:
            for key in _semantic_search_keys(settings):
                yield Problem(file, f"{path}.{key}", "semantic search is on but no `qdrant:` section is configured",
                              "add `qdrant: {path: .aietl/qdrant}` (local mode) or `qdrant: {url: ...}`, "
                              "or set semantic_search: false")
        if kind == "kafka" and not warehouse_is_postgres:
            yield Problem(file, path, f"Kafka streams land in a PostgreSQL warehouse, but warehouse "
                          f"{datasources.warehouse!r} is a ClickHouse target",
                          "set `warehouse:` to a target under targets.postgres, or remove the Kafka source")
        if getattr(settings, "cdc", False) and not datasources.sources.kafka:
            yield Problem(file, f"{path}.cdc", "CDC is on but no Kafka source is configured to carry its events",
                          "add a source under sources.kafka, or set cdc: false")
        target = settings.target
        if target and target not in {**datasources.targets.postgres, **datasources.targets.clickhouse}:
            yield Problem(file, f"{path}.target", f"target {target!r} is not configured",
                          _suggest(target, [*datasources.targets.postgres, *datasources.targets.clickhouse],
                                   "a name under targets.postgres or targets.clickhouse"))


def _semantic_search_keys(settings: SourceDefaults) -> Iterator[str]:
    if settings.semantic_search:
        yield "semantic_search"
    for table, own in settings.tables.items():
        if own.semantic_search:
            yield f"tables.{table}.semantic_search"


def _secrets(datasources: DataSources, file: str, environ: Mapping[str, str]) -> Iterator[Problem]:
    """Every ``*_env`` key must name a variable that is set and not empty (an unused LLM key excepted)."""
    for path, variable in _env_keys(datasources, ""):
        if not _secret_in_use(datasources, path):
            continue
        value = environ.get(variable)
        if value is None or value == "":
            state = "is not set" if value is None else "is set but empty"
            yield Problem(file, path, f"secret environment variable {variable} {state}",
                          f"export {variable}=... before starting (or remove {path.rsplit('.', 1)[-1]} if the "
                          f"server needs no secret)", blocking=False)


def _secret_in_use(datasources: DataSources, path: str) -> bool:
    """Endpoint keys are asked for only when their endpoint is configured (the LLM, a remote embedder)."""
    if path == "llm.api_key_env":
        return bool(datasources.llm.base_url)
    if path == "embedder.api_key_env":
        embedder = datasources.embedder
        return getattr(embedder, "model", "") == "openai" and bool(getattr(embedder, "base_url", None))
    return True


def _env_keys(model: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(model, BaseModel):
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            key = f"{path}.{info.alias or name}" if path else (info.alias or name)
            if name.endswith("_env") and isinstance(value, str) and value:
                yield key, value
            else:
                yield from _env_keys(value, key)
    elif isinstance(model, dict):
        for name, value in model.items():
            yield from _env_keys(value, f"{path}.{name}")


def _schedules(datasources: DataSources, file: str) -> Iterator[Problem]:
    from dagster._utils.schedules import is_valid_cron_string

    for name, (kind, settings) in datasources.all_sources().items():
        if settings.schedule and not is_valid_cron_string(settings.schedule):
            yield Problem(file, f"{source_path(kind, name)}.schedule",
                          f"{settings.schedule!r} is not a valid cron expression",
                          "use five fields: minute hour day-of-month month day-of-week, e.g. '0 * * * *'")


def _catalog_coverage(datasources: DataSources, file: str, catalog: dict[str, list[TableSchema]],
                      catalog_name: str) -> Iterator[Problem]:
    """Configured sources and tables that the catalog lacks, and catalog sources that are no longer configured."""
    configured = datasources.all_sources()
    for name, (kind, settings) in configured.items():
        if kind == "kafka":
            continue
        path = source_path(kind, name)
        if name not in catalog:
            yield Problem(file, path, f"source {name!r} is not in the catalog {catalog_name}",
                          f"run `aietl discover --source {name}`")
            continue
        known = [table.name for table in catalog[name]]
        for table in settings.tables:
            if table not in known:
                yield Problem(file, f"{path}.tables.{table}", f"table {table!r} is not in the catalog {catalog_name}",
                              _suggest(table, known, f"run `aietl discover --source {name}` if it is new"))
        if kind == "files" and any(own.file for own in settings.tables.values()):
            for table in known:
                if table not in settings.tables:
                    yield Problem(catalog_name, f"sources.{name}.{table}",
                                  f"table {table!r} is in the catalog but not under {path}.tables",
                                  f"add it to {path}.tables, or run `aietl discover --source {name}` to drop it")
    for name in catalog:
        if name not in configured:
            yield Problem(catalog_name, f"sources.{name}", f"source {name!r} is in the catalog but not in {file}",
                          _suggest(name, list(configured), "run `aietl discover` to drop it"))


def _identifier_lengths(datasources: DataSources, catalog: dict[str, list[TableSchema]],
                        catalog_name: str) -> Iterator[Problem]:
    """Names PostgreSQL would truncate: the column would land under a cut name (and a twin would collide)."""
    sources = datasources.all_sources()
    for source, tables in catalog.items():
        if source not in sources:
            continue
        target = sources[source][1].target or datasources.warehouse
        if target not in datasources.targets.postgres:
            continue
        for index, table in enumerate(tables):
            names = [("table", table.name), *(("column", column.name) for column in table.columns)]
            for what, name in names:
                size = len(name.encode("utf-8"))
                if size > POSTGRES_IDENTIFIER_BYTES:
                    yield Problem(catalog_name, f"sources.{source}[{index}]({table.name})",
                                  f"{what} name {name[:40]!r}... is {size} bytes; PostgreSQL (target {target!r}) "
                                  f"keeps only {POSTGRES_IDENTIFIER_BYTES}",
                                  "rename it at the source (the file's header) or land the source in ClickHouse")


def _tables_and_pipelines(datasources: DataSources, file: str, catalog: dict[str, list[TableSchema]],
                          pipelines_file: Path | None) -> list[Problem]:
    from etl_assets.catalog import PartitionError, source_tables

    try:
        tables = source_tables(datasources, catalog)
    except PartitionError as error:
        return [Problem(file, f"{source_path(error.kind, error.source)}.tables.{error.table}.{error.key}",
                        error.reason, "see docs/datasources.md (partition)")]
    except ValueError as error:
        return [Problem(file, "sources", str(error), "fix the table's settings or run `aietl discover`")]
    problems = list(_embedding_documents(tables, file))
    if pipelines_file is None or not pipelines_file.is_file():
        return problems
    from etl_assets.transform.spec.resolver import PipelineSpecError, load_pipelines

    try:
        load_pipelines(pipelines_file, tables)
    except PipelineSpecError as error:
        return [*problems, *(_pipeline_problem(str(pipelines_file), problem) for problem in error.problems)]
    except ConfigError as error:
        return [*problems, Problem(str(pipelines_file), error.key_path, error.reason)]
    return problems


def _embedding_documents(tables: list, file: str) -> Iterator[Problem]:
    """A row template or text columns of a searchable table that do not fit its columns."""
    from etl_assets.embeddings.assets import text_columns

    for table in tables:
        if not table.semantic_search:
            continue
        try:
            text_columns(table)
        except ValueError as error:
            key = "text_template" if table.text_template is not None else "text_columns"
            yield Problem(file, f"{source_path(table.kind, table.source)}.tables.{table.name}.{key}",
                          str(error).removeprefix(f"{table.source}.{table.name}: "),
                          "use the table's column names (`aietl discover` refreshes them)")


def _pipeline_problem(file: str, problem: str) -> Problem:
    key_path, _, reason = problem.partition(": ")
    fix = "use a table of `aietl validate`'s catalog (source.table) or run `aietl discover`" \
        if "is neither a catalog table" in reason else ""
    return Problem(file, key_path, reason, fix)


def _suggest(name: str, known: list[str], otherwise: str) -> str:
    match = closest(name, known)
    return f"did you mean {match!r}? (else {otherwise})" if match else otherwise
