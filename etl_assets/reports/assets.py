"""Report assets ``reports/analysis``, ``reports/quality``, ``reports/pipeline`` and ``reports/health`` (group
``reports``).

Each writes ``<name>.html``, ``.md``, ``.json`` and ``.pdf`` to ``<state dir>/reports`` (or the directory in its
run config) and records the paths, a Markdown preview and its counts as materialization metadata.

- analysis reads the ``profile/S/T`` and ``recommendation/S/T`` assets, and the ``proof/S/T`` assets when built with
  ``proofs=True``;
- quality reads the profiles, the latest results of the asset checks on every ``*/S/T`` asset, and quarantine counts
  from the ingestion log (``metadata`` resource);
- pipeline depends on the ``raw/S/T`` assets and reads the ingestion log;
- health has no upstream assets: it probes the sources, reads the ingestion log, the Kafka offsets, the latest check
  results and the warehouse and Qdrant sizes (:mod:`etl_assets.reports.health_probes`).

(No ``from __future__ import annotations`` here: Dagster reads the config class from the asset function's
annotations at definition time.)
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field as ConfigField

from etl_assets.catalog import SourceTable
from etl_assets.conventions import catalog_owners, code_reference
from etl_assets.config.models import DataSources
from etl_assets.keys import (
    ANALYSIS_REPORT,
    HEALTH_REPORT,
    PIPELINE_REPORT,
    PROOF,
    QUALITY_REPORT,
    RAW,
    STREAM,
    asset_key,
    key_component,
    report_key,
    source_resource_key,
)
from etl_assets.inputs import OPTIONAL_INPUT_KEY
from etl_assets.paths import reports_dir, resolve
from etl_assets.profile.model import TableProfile
from etl_assets.proof.model import Proof
from etl_assets.raw.partitions import eager_condition
from etl_assets.recommend.model import Recommendation
from etl_assets.reports.analysis import build_analysis_report
from etl_assets.reports.common import IngestionLog
from etl_assets.reports.health_probes import (
    PROBE_TIMEOUT_S,
    collect_health,
    latest_check_outcomes,
    recent_check_keys,
)
from etl_assets.reports.health_report import build_health_report
from etl_assets.reports.model import Issue, Report
from etl_assets.reports.pipeline import build_pipeline_report
from etl_assets.reports.quality import CheckOutcome, TableRules, build_quality_report
from etl_assets.reports.render import FORMATS, render_markdown, write_report

GROUP = "reports"
KINDS = {"html", "markdown", "pdf"}
METADATA_KEY = "metadata"
INGESTION_HISTORY_LIMIT = 50


class ReportConfig(dg.Config):
    output_dir: str = ConfigField(
        default="", description="Directory for the report files (relative: under the project directory); "
                                "empty: <AIETL_HOME>/reports.")
    formats: list[str] = ConfigField(default=list(FORMATS), description=f"Any of {', '.join(FORMATS)}.")


class HealthReportConfig(ReportConfig):
    probe_timeout_s: float = ConfigField(default=PROBE_TIMEOUT_S, gt=0, description=(
        "Seconds each probe (a source, a topic's offsets, the warehouse and Qdrant sizes) may take before it is "
        "reported as not answering."))


def build_report_assets(tables: list[SourceTable], *, ingestion_log: bool = True, proofs: bool = False,
                        datasources: DataSources | None = None) -> list[dg.AssetsDefinition]:
    """The three report assets over ``tables``, and ``reports/health`` when ``datasources`` is given.

    With ``ingestion_log=False`` the assets do not require the ``metadata`` resource and say in the reports that the
    ingestion log is not configured. With ``proofs=True`` the analysis report also reads the ``proof/S/T`` assets
    (build them with ``etl_assets.proof.assets.build_proof_assets``); without, it renders without measurements.
    """
    resource_keys = {METADATA_KEY} if ingestion_log else set()
    health = [build_health_asset(datasources, tables, ingestion_log=ingestion_log)] if datasources else []
    return [_analysis_asset(tables, proofs), _quality_asset(tables, resource_keys),
            _pipeline_asset(tables, resource_keys), *health]


def build_health_asset(datasources: DataSources, tables: list[SourceTable], *,
                       ingestion_log: bool = True) -> dg.AssetsDefinition:
    """``reports/health``: it asks the systems themselves when it runs (on its schedule, see sensors/schedules.py,
    or on demand). Its deps on the raw and stream assets are lineage, and order it after the loads in a run of the
    whole graph."""
    resource_keys = {"warehouse", *(source_resource_key(name) for name in datasources.all_sources())}
    if ingestion_log:
        resource_keys.add(METADATA_KEY)
    if datasources.qdrant:
        resource_keys.add("qdrant")

    @dg.asset(
        key=report_key(HEALTH_REPORT), group_name=GROUP, kinds=KINDS,
        owners=catalog_owners(tables), metadata=code_reference(build_report_assets),
        required_resource_keys=resource_keys,
        deps=[*(asset_key(RAW, t.source, t.name) for t in tables),
              *(asset_key(STREAM, source, topic) for source, settings in datasources.sources.kafka.items()
                for topic in settings.topics)],
        description="System health: each source reachable or not (probes bounded by a timeout), per table the last "
                    "successful sync against its schedule, rows landed over time, Kafka lag per topic, failing "
                    "checks, warehouse schema and Qdrant collection sizes. HTML, Markdown, JSON and PDF.",
    )
    def health_report(context: dg.AssetExecutionContext, config: HealthReportConfig) -> dg.MaterializeResult:
        inputs = collect_health(datasources, tables, context.resources, context.instance,
                                _evaluated_check_keys(context), config.probe_timeout_s)
        for probe in inputs.probes:
            if not probe.reachable:
                context.log.warning(f"source {probe.source} ({probe.kind}) is unreachable: {probe.detail}")
        return _publish(context, config, build_health_report(inputs))

    return health_report


def _analysis_asset(tables: list[SourceTable], proofs: bool) -> dg.AssetsDefinition:
    proof_ins = {name: dg.AssetIn(key=asset_in.key, input_manager_key=OPTIONAL_INPUT_KEY)
                 for name, asset_in in _ins(PROOF, tables).items()} if proofs else {}

    @dg.asset(
        key=report_key(ANALYSIS_REPORT), group_name=GROUP, kinds=KINDS,
        owners=catalog_owners(tables), metadata=code_reference(build_report_assets),
        ins={**_ins("profile", tables), **_ins("recommendation", tables), **proof_ins},
        automation_condition=dg.AutomationCondition.eager(),
        description="Per table: profile highlights, semantic types, the storage recommendation with its reasons, "
                    "the DDL target and the proof by measurement. HTML, Markdown, JSON and PDF.",
    )
    def analysis_report(context: dg.AssetExecutionContext, config: ReportConfig, **inputs: Any) -> dg.MaterializeResult:
        profiles, missing_profiles = _inputs(inputs, "profile", tables, TableProfile)
        recommendations, _ = _inputs(inputs, "recommendation", tables, Recommendation)
        measured, missing_proofs = _inputs(inputs, PROOF, tables, Proof) if proofs else ([], [])
        report = build_analysis_report(profiles, recommendations, proofs=measured,
                                       notes=[*missing_profiles, *missing_proofs])
        return _publish(context, config, report)

    return analysis_report


def _quality_asset(tables: list[SourceTable], resource_keys: set[str]) -> dg.AssetsDefinition:
    @dg.asset(
        key=report_key(QUALITY_REPORT), group_name=GROUP, kinds=KINDS,
        owners=catalog_owners(tables), metadata=code_reference(build_report_assets),
        ins=_ins("profile", tables),
        required_resource_keys=resource_keys, automation_condition=dg.AutomationCondition.eager(),
        description="Per table: NULL shares against the configured limits, key uniqueness, asset check outcomes "
                    "and quarantined rows. HTML, Markdown, JSON and PDF.",
    )
    def quality_report(context: dg.AssetExecutionContext, config: ReportConfig, **inputs: Any) -> dg.MaterializeResult:
        profiles, missing_profiles = _inputs(inputs, "profile", tables, TableProfile)
        ingestion, log_notes = _read_ingestion_log(context, tables)
        report = build_quality_report(profiles, rules=_rules(tables), checks=_latest_check_outcomes(context, tables),
                                      ingestion=ingestion, notes=[*missing_profiles, *log_notes])
        return _publish(context, config, report)

    return quality_report


def _pipeline_asset(tables: list[SourceTable], resource_keys: set[str]) -> dg.AssetsDefinition:
    @dg.asset(
        key=report_key(PIPELINE_REPORT), group_name=GROUP, kinds=KINDS,
        owners=catalog_owners(tables), metadata=code_reference(build_report_assets),
        deps=[asset_key(RAW, t.source, t.name) for t in tables],
        required_resource_keys=resource_keys,
        automation_condition=eager_condition(tables, dg.AutomationCondition.eager()),
        description="Per table: the ingestion log: loads, rows, durations, throughput and failures. HTML, Markdown, "
                    "JSON and PDF.",
    )
    def pipeline_report(context: dg.AssetExecutionContext, config: ReportConfig) -> dg.MaterializeResult:
        ingestion, notes = _read_ingestion_log(context, tables)
        report = build_pipeline_report([(t.source, t.name) for t in tables], ingestion, notes=notes)
        return _publish(context, config, report)

    return pipeline_report


def _ins(layer: str, tables: Sequence[SourceTable]) -> dict[str, dg.AssetIn]:
    """Inputs named ``<layer>_<i>`` (source and table names need not be Python identifiers)."""
    return {f"{layer}_{i}": dg.AssetIn(key=asset_key(layer, t.source, t.name)) for i, t in enumerate(tables)}


def _inputs(inputs: dict[str, Any], layer: str, tables: Sequence[SourceTable], kind: type) -> tuple[list, list[Issue]]:
    """The upstream values in table order, and a note for each upstream asset that gave None.

    Dicts (from a JSON IO manager) are turned back into ``kind``; any other type is an error naming the asset.
    """
    values, missing = [], []
    for i, table in enumerate(tables):
        value = inputs[f"{layer}_{i}"]
        if value is None:
            missing.append(f"{layer}/{table.source}/{table.name}")
            continue
        if isinstance(value, dict):
            value = kind.from_dict(value)
        if not isinstance(value, kind):
            raise TypeError(f"{layer}/{table.source}/{table.name} gave a {type(value).__name__}, "
                            f"expected a {kind.__name__}")
        values.append(value)
    notes = [Issue("warn", f"no {layer} yet (the asset gave None): {', '.join(missing)}")] if missing else []
    return values, notes


def _rules(tables: Sequence[SourceTable]) -> dict[tuple[str, str], TableRules]:
    return {
        (t.source, t.name): TableRules(primary_key=tuple(t.schema.primary_key),
                                       max_null_share=dict(t.checks.max_null_share), blocking=t.checks.blocking)
        for t in tables
    }


def _read_ingestion_log(
    context: dg.AssetExecutionContext, tables: Sequence[SourceTable]
) -> tuple[IngestionLog | None, list[Issue]]:
    """The ingestion history of every table, or None and a note saying why it could not be read."""
    metadata = getattr(context.resources, METADATA_KEY, None)
    history = getattr(metadata, "ingestion_history", None)
    if history is None:
        message = (f"the ingestion log is not configured: no '{METADATA_KEY}' resource with ingestion_history() "
                   "(resources.metadata.MetadataResource); load counts and quarantined rows are unknown")
        context.log.warning(message)
        return None, [Issue("warn", message)]
    log: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for table in tables:
        try:
            log[(table.source, table.name)] = list(history(table.source, table.name, limit=INGESTION_HISTORY_LIMIT))
        except Exception as error:  # any failure of the store makes the log unavailable, not the report
            reason = " ".join(str(error).split())[:300]
            message = f"the ingestion log could not be read ({type(error).__name__}: {reason})"
            context.log.warning(f"{message} while reading {table.source}.{table.name}")
            return None, [Issue("warn", message)]
    return log, []


def _latest_check_outcomes(context: dg.AssetExecutionContext, tables: Sequence[SourceTable]) -> list[CheckOutcome]:
    """The last completed result of every asset check on a ``<layer>/S/T`` asset of one of ``tables``."""
    wanted = [(key_component(t.source), key_component(t.name)) for t in tables]
    return latest_check_outcomes(context.instance, list(_asset_graph(context).asset_check_keys), wanted)


def _evaluated_check_keys(context: dg.AssetExecutionContext) -> list[dg.AssetCheckKey]:
    """The checks with results on the instance, less those the code location no longer defines (unknown in
    ``materialize()`` runs, whose graph holds only the selected assets)."""
    evaluated = recent_check_keys(context.instance)
    try:
        defined = context.repository_def.asset_graph.asset_check_keys
    except Exception:
        return evaluated
    return [key for key in evaluated if key in defined]


def _asset_graph(context: dg.AssetExecutionContext) -> Any:
    """The repository's asset graph; ``materialize()`` runs have no repository, so fall back to the job's graph."""
    try:
        return context.repository_def.asset_graph
    except Exception:
        return context.job_def.asset_layer.asset_graph


def _output_dir(config: ReportConfig) -> Path:
    return resolve(config.output_dir) if config.output_dir else reports_dir()


def _publish(context: dg.AssetExecutionContext, config: ReportConfig, report: Report) -> dg.MaterializeResult:
    files = write_report(report, _output_dir(config), config.formats)
    context.log.info(f"reports/{report.name}: health {report.health}; wrote "
                     f"{', '.join(str(path) for path in files.paths.values())}")
    metadata: dict[str, Any] = {
        "health": report.health,
        **report.counts,
        **{f"path_{fmt}": dg.MetadataValue.path(str(path)) for fmt, path in files.paths.items()},
        "preview": dg.MetadataValue.md(render_markdown(report, preview=True)),
    }
    if files.pdf_pages is not None:
        metadata["pdf_pages"] = files.pdf_pages
    return dg.MaterializeResult(metadata=metadata)
