"""dbt models as Dagster assets: ``dbt/<model>``, wired to the ``raw/<source>/<table>`` assets they read.

dbt tests become asset checks (dagster-dbt's default, kept on explicitly). The manifest is built by ``prepare()``
(``aietl generate-dbt``) with its config fingerprint (:mod:`etl_assets.transform.fingerprint`); without it, or when
it was built for another pipelines.yaml/catalog, ``build_dbt_assets()`` returns no assets and says how to make it,
so the code location still loads and shows no models of another config. (No ``from __future__ import annotations``
here: Dagster reads the ``context`` annotation of the decorated function at definition time.)
"""

import contextlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Backoff, Output, RetryPolicy
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from etl_assets.catalog import SourceTable, load_catalog, source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.keys import dbt_key
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE, DBT_PROJECT_DIR, PIPELINES_FILE
from etl_assets.transform.fingerprint import config_fingerprint, manifest_state, write_fingerprint
from etl_assets.transform.generate import RAW_GROUP_META, GeneratedProject, generate
from etl_assets.transform.project import DBT_PROJECT, dbt_resource
from etl_assets.transform.spec.resolver import load_pipelines

log = logging.getLogger(__name__)
MARTS_GROUP = "marts"
VERBOSE_ENV = "AIETL_DBT_VERBOSE"
"""Set to 1 to see dbt's own output on the terminal (default: it goes to the run's logs at DEBUG)."""


class _LinesToLog(io.TextIOBase):
    """A text stream handing each complete line to ``emit``: dagster-dbt writes dbt's output to ``sys.stdout``."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit, self._pending = emit, ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            if line.strip():
                self._emit(line)
        return len(text)


def dbt_output_to_log(context: AssetExecutionContext) -> contextlib.AbstractContextManager:
    """dbt's output as DEBUG lines of the run's log, unless ``AIETL_DBT_VERBOSE=1`` asks for the terminal."""
    if os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
        return contextlib.nullcontext()
    return contextlib.redirect_stdout(_LinesToLog(context.log.debug))


class AietlDbtTranslator(DagsterDbtTranslator):
    """Models are ``dbt/<name>``; staging models sit in their source's group, everything else in ``marts``."""

    def __init__(self, owners: Sequence[str] = ()) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True))
        self._owners = list(owners)

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dbt_key(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        return dbt_resource_props.get("meta", {}).get(RAW_GROUP_META) or MARTS_GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return super().get_owners(dbt_resource_props) or self._owners or None


TABLE_MATERIALIZATIONS = ("table", "incremental")


def table_relations(manifest_path: Path, translator: DagsterDbtTranslator) -> dict[AssetKey, tuple[str, str]]:
    """Asset key -> (schema, table) of each model dbt materializes as a table (views hold no rows of their own)."""
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return {translator.get_asset_key(node): (node["schema"], node["alias"]) for node in nodes
            if node["resource_type"] == "model" and node["config"].get("materialized") in TABLE_MATERIALIZATIONS}


def with_row_count(context: AssetExecutionContext, event: Any, relations: Mapping[AssetKey, tuple[str, str]]) -> Any:
    """A model's output with ``dagster/row_count`` (the rows its table holds after the run) when it is a table."""
    if not isinstance(event, Output):
        return event
    relation = relations.get(context.asset_key_for_output(event.output_name))
    if relation is None:
        return event
    try:
        rows = context.resources.warehouse.row_count(*relation)
    except Exception as error:  # noqa: BLE001 - a count that fails leaves the model's materialization as it is
        context.log.debug(f"no row count for {'.'.join(relation)}: {error}")
        return event
    return event if rows is None else event.with_metadata({**event.metadata, "dagster/row_count": rows})


def build_dbt_assets(project: DbtProject = DBT_PROJECT, owners: Sequence[str] = (),
                     tables: Sequence[SourceTable] | None = None, pipelines_file: Path = PIPELINES_FILE) -> list:
    """The ``@dbt_assets`` definition of every model of the project (needs resource key ``dbt``); ``owners`` for
    the models whose dbt ``meta`` names none. Given ``tables``, a manifest built for another pipelines.yaml or
    catalog is not loaded."""
    if not project.manifest_path.is_file():
        log.warning("dbt manifest %s is missing, so no dbt assets are loaded; run `aietl generate-dbt` to build it",
                    project.manifest_path)
        return []
    if tables is not None and manifest_state(project.manifest_path, pipelines_file, tables).stale:
        log.warning("dbt manifest %s was built for another pipelines.yaml/catalog, so no dbt assets are loaded; "
                    "run `aietl generate-dbt` (make demo and make ui do it)", project.manifest_path)
        return []

    translator = AietlDbtTranslator(owners)
    relations = table_relations(project.manifest_path, translator)

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=translator,
                name="dbt_models", retry_policy=RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL),
                required_resource_keys={"dbt", "warehouse"})
    def dbt_models(context: AssetExecutionContext) -> Iterator[Any]:
        dbt: DbtCliResource = context.resources.dbt
        with dbt_output_to_log(context):
            for event in dbt.cli(["build"], context=context).stream():
                yield with_row_count(context, event, relations)

    return [dbt_models]


def load_tables(datasources_file: Path = DATASOURCES_FILE, catalog_file: Path = CATALOG_FILE) -> list[SourceTable]:
    return source_tables(load_datasources(datasources_file), load_catalog(catalog_file))


def prepare(project_dir: Path = DBT_PROJECT_DIR, pipelines_file: Path = PIPELINES_FILE,
            tables: list[SourceTable] | None = None, target: str | None = None) -> GeneratedProject:
    """Validate pipelines.yaml, write models/generated/, then ``dbt parse`` to build target/manifest.json and
    record the config's fingerprint beside it.

    A spec error (PipelineSpecError) is raised before any dbt command runs.
    """
    tables = load_tables() if tables is None else tables
    pipelines = load_pipelines(pipelines_file, tables)
    generated = generate(project_dir, tables, pipelines)
    dbt_resource(project_dir, target).cli(["parse", "--quiet"], target_path=Path("target")).wait()
    write_fingerprint(project_dir / "target" / "manifest.json", config_fingerprint(pipelines_file, tables),
                      pipelines_file)
    return generated
