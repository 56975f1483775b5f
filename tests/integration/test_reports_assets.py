"""The report assets materialized by real Dagster from small upstream assets, with the ingestion log in a real
PostgreSQL (the platform's MetadataResource)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.reports.assets import build_report_assets
from resources.embedded.kafka import free_port
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema
from tests.support.reports import (
    EVIL,
    sample_customers,
    sample_empty,
    sample_recommendation,
)

pytestmark = pytest.mark.integration
REPORT_OPS = ("reports__analysis", "reports__quality", "reports__pipeline")


def source_table(source: str, name: str, primary_key: list[str], checks: CheckSettings) -> SourceTable:
    schema = TableSchema(source, name, [Column(c, "string") for c in primary_key], primary_key=primary_key)
    return SourceTable(kind="files", schema=schema, sync=SyncSettings(), batch_size=1000, semantic_search=False,
                       text_columns=(), checks=checks, target="warehouse")


TABLES = [
    source_table("shop_files", "customers", ["customer_id"], CheckSettings(max_null_share={"email": 0.0})),
    source_table("shop_db", "empty_table", [], CheckSettings()),
]


def upstream_assets() -> list[Any]:
    """raw, profile (with one failing asset check) and recommendation assets under the layers' keys."""
    customers_profile = ["profile", "shop_files", "customers"]

    @dg.asset(key=customers_profile, check_specs=[dg.AssetCheckSpec("email_not_null", asset=customers_profile)])
    def customers_profile_asset() -> Any:
        yield dg.Output(sample_customers())
        yield dg.AssetCheckResult(check_name="email_not_null", passed=False, description=f"12 NULL emails {EVIL}")

    @dg.asset(key=["profile", "shop_db", "empty_table"])
    def empty_profile() -> Any:
        return sample_empty()

    @dg.asset(key=["recommendation", "shop_files", "customers"])
    def customers_recommendation() -> Any:
        return sample_recommendation()

    @dg.asset(key=["recommendation", "shop_db", "empty_table"])
    def empty_recommendation() -> Any:
        return None

    raw = [dg.AssetSpec(["raw", t.source, t.name]) for t in TABLES]
    return [customers_profile_asset, empty_profile, customers_recommendation, empty_recommendation, *raw]


def report_config(directory: Path, formats: list[str], pdf_for: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run config writing ``formats`` to ``directory``, plus PDF for the ops in ``pdf_for`` (PDFs take seconds)."""
    return {"ops": {op: {"config": {"output_dir": str(directory), "formats": [*formats, *(["pdf"] if op in pdf_for
                                                                                        else [])]}}
                    for op in REPORT_OPS}}


def materialize_reports(resources: dict[str, Any], run_config: dict[str, Any] | None = None,
                        ingestion_log: bool = True) -> dg.ExecuteInProcessResult:
    assets = [*upstream_assets(), *build_report_assets(TABLES, ingestion_log=ingestion_log)]
    return dg.materialize(assets, resources=resources, run_config=run_config or {},
                          selection=dg.AssetSelection.all() - dg.AssetSelection.keys(*[["raw", t.source, t.name]
                                                                                        for t in TABLES]))


def report_metadata(result: dg.ExecuteInProcessResult, op: str) -> dict[str, Any]:
    (materialization,) = result.asset_materializations_for_node(op)
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


def log_loads(metadata: MetadataResource) -> None:
    for rows, quarantined in ((1000, 0), (998, 2)):
        entry = metadata.start_ingestion("shop_files", "customers", "full")
        metadata.finish_ingestion(entry, "success", rows_read=rows + quarantined, rows_written=rows,
                                  rows_quarantined=quarantined)
    entry = metadata.start_ingestion("shop_db", "empty_table", "full")
    metadata.finish_ingestion(entry, "failed", error=f"source unavailable: {EVIL}")


def test_reports_materialize_from_profiles_recommendations_checks_and_the_ingestion_log(
    pg_dsn: str, tmp_path: Path
) -> None:
    metadata = MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))
    log_loads(metadata)
    out = tmp_path / "reports"

    result = materialize_reports({"metadata": metadata},
                                 report_config(out, ["html", "md", "json"], pdf_for=("reports__analysis",)))

    assert result.success
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.{fmt}" for name in ("analysis", "quality", "pipeline") for fmt in ("html", "md", "json")]
        + ["analysis.pdf"])
    for op in REPORT_OPS:
        meta = report_metadata(result, op)
        for fmt in ("html", "md", "json"):
            assert Path(meta[f"path_{fmt}"]) == out / f"{op.split('__')[1]}.{fmt}"
        assert meta["tables"] == 2 and meta["preview"].startswith("# ")
    analysis_meta = report_metadata(result, "reports__analysis")
    assert analysis_meta["pdf_pages"] >= 2 and Path(analysis_meta["path_pdf"]).read_bytes().startswith(b"%PDF-")

    quality = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert quality["counts"]["checks_failed"] == 1 and quality["counts"]["rows_quarantined"] == 2
    assert quality["health"] == "fail"
    customers = quality["sections"][0]
    assert {"level": "fail", "text": f"check email_not_null on profile/shop_files/customers failed: "
                                     f"12 NULL emails {EVIL}"} in customers["issues"]
    assert {"level": "warn", "text": "the last load quarantined 2 rows: see raw_shop_files._quarantine"} in \
        customers["issues"]

    pipeline = report_metadata(result, "reports__pipeline")
    assert pipeline["loads"] == 3 and pipeline["loads_failed"] == 1 and pipeline["rows_written"] == 1998
    assert pipeline["health"] == "fail"
    pipeline_md = (out / "pipeline.md").read_text(encoding="utf-8")
    assert "the last load failed: source unavailable: \\<script\\>" in pipeline_md

    analysis = report_metadata(result, "reports__analysis")
    assert analysis["recommendations"] == 1 and analysis["rows"] == 1000
    analysis_html = (out / "analysis.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in analysis_html and "<script" not in analysis_html
    assert "no storage recommendation yet: materialize recommendation/shop_db/empty_table" in analysis_html


def test_rerun_replaces_the_files_and_reflects_new_loads(pg_dsn: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))
    metadata = MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))
    formats = {"ops": {op: {"config": {"formats": ["md", "json"]}} for op in REPORT_OPS}}

    first = materialize_reports({"metadata": metadata}, formats)
    log_loads(metadata)
    second = materialize_reports({"metadata": metadata}, formats)

    out = tmp_path / "home" / "reports"
    assert first.success and second.success
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{name}.{fmt}" for name in ("analysis", "quality", "pipeline") for fmt in ("md", "json"))
    assert report_metadata(first, "reports__pipeline")["loads"] == 0
    assert report_metadata(second, "reports__pipeline")["loads"] == 3
    assert json.loads((out / "pipeline.json").read_text(encoding="utf-8"))["counts"]["loads"] == 3


def test_an_unreachable_metadata_store_leaves_a_clear_note(tmp_path: Path) -> None:
    closed_port = free_port()
    unreachable = MetadataResource(postgres=PostgresResource(host="127.0.0.1", port=closed_port, database="meta",
                                                             user="aietl", password="s3cret-pw", connect_timeout_s=2))

    result = materialize_reports({"metadata": unreachable}, report_config(tmp_path, ["md", "json"]))

    assert result.success
    pipeline = json.loads((tmp_path / "pipeline.json").read_text(encoding="utf-8"))
    (note,) = pipeline["notes"]
    assert note["level"] == "warn" and note["text"].startswith("the ingestion log could not be read (")
    assert "s3cret-pw" not in (tmp_path / "pipeline.md").read_text(encoding="utf-8")
    assert pipeline["health"] == "unknown"
    quality = json.loads((tmp_path / "quality.json").read_text(encoding="utf-8"))
    assert quality["notes"][0]["text"] == note["text"] and quality["counts"]["checks_failed"] == 1


def test_without_the_ingestion_log_the_reports_say_it_is_not_configured(tmp_path: Path) -> None:
    result = materialize_reports({}, report_config(tmp_path, ["md", "json"]), ingestion_log=False)

    assert result.success
    pipeline = json.loads((tmp_path / "pipeline.json").read_text(encoding="utf-8"))
    assert pipeline["notes"][0]["text"].startswith("the ingestion log is not configured: no 'metadata' resource")
    assert report_metadata(result, "reports__analysis")["tables"] == 2
