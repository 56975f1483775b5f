"""Measured quality: the golden set of paraphrased queries over the sample data, searched through Qdrant after the
real assets ran, with the default model (asserted) and the hashing fallback (reported beside it); schema search."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, MaterializeResult, MetadataValue, asset, materialize

from etl_assets.catalog import load_catalog, source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.embeddings.assets import build_embedding_assets
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from resources.embedder import EmbedderResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.qdrant import QdrantResource
from resources.search import SemanticSearchResource
from tests.integration.test_embeddings_assets import land_products
from tests.support.golden import golden_set, product_recall, schema_recall

pytestmark = pytest.mark.integration
RECALL_TARGET = 0.8


@asset(key=AssetKey(["golden", "recall"]), deps=[AssetKey(["embeddings", "shop_files", "products"]),
                                                 AssetKey(["embeddings", "catalog"])])
def golden_recall(search: SemanticSearchResource) -> MaterializeResult:
    """An asset of a Dagster run that searches through the resource, as any op or asset check can."""
    products, misses = product_recall(search)
    schema, schema_misses = schema_recall(search)
    return MaterializeResult(metadata={"recall_at_5": MetadataValue.float(products),
                                       "schema_recall_at_5": MetadataValue.float(schema),
                                       "misses": MetadataValue.json(misses + schema_misses)})


def run_golden(pg_dsn: str, qdrant_path: Path, sample_dir: Path, model: str) -> dict[str, object]:
    tables = source_tables(load_datasources(DATASOURCES_FILE), load_catalog(CATALOG_FILE))
    warehouse = PostgresResource.from_dsn(pg_dsn)
    products = next(t for t in tables if (t.source, t.name) == ("shop_files", "products"))
    land_products(sample_dir, warehouse, products)
    metadata = MetadataResource(postgres=warehouse)
    customers = next(t for t in tables if (t.source, t.name) == ("shop_files", "customers"))
    metadata.record_profile("shop_files", "customers", row_count=300, size_bytes=None, duplicate_rows=0,
                            sampled=False, profile={}, columns=[
                                {"name": c.name, "logical_type": c.logical_type,
                                 "semantic_type": {"email": "email", "phone": "phone"}.get(c.name, ""),
                                 "null_share": 0.0, "distinct_count": 300} for c in customers.schema.columns])
    qdrant, embedder = QdrantResource(path=str(qdrant_path)), EmbedderResource(model=model)
    result = materialize([*build_embedding_assets(tables), golden_recall], resources={
        "warehouse": warehouse, "metadata": metadata, "qdrant": qdrant, "embedder": embedder,
        "search": SemanticSearchResource(qdrant=qdrant, embedder=embedder)})
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(["golden", "recall"])]
    return {name: value.value for name, value in event.event_specific_data.materialization.metadata.items()}


def test_the_golden_set_is_large_and_made_of_paraphrases(sample_dir: Path) -> None:
    import json

    golden = golden_set()
    assert len(golden["products"]) + len(golden["schema"]) >= 30 and len(golden["products"]) >= 30
    rows = {row["product_id"]: row for row in json.loads((sample_dir / "files/products.json").read_text())}
    stop = {"a", "an", "the", "for", "to", "of", "in", "on", "that", "with", "and", "at", "you", "your", "into",
            "while", "all", "from", "is", "it", "up", "out", "above", "back"}
    for case in golden["products"]:
        query_words = {w.strip("?,.'s").lower() for w in case["query"].replace("-", " ").split()} - stop
        for product_id in case["relevant"]:
            row = rows[product_id]
            text = f"{row['name']} {row['description']} {row['category']}".lower().replace("-", " ")
            shared = query_words & {w.strip(",.") for w in text.split()}
            assert not shared, f"{case['query']!r} shares {shared} with product {product_id}"


def test_the_default_model_reaches_the_recall_target_and_hashing_is_reported(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    minilm = run_golden(pg_dsn, tmp_path / "minilm", sample_dir, "minilm")
    hashing = run_golden(pg_dsn, tmp_path / "hashing", sample_dir, "hashing")
    with capsys.disabled():
        print(f"\nrecall@5 on the golden set: minilm {minilm['recall_at_5']:.3f} (schema "
              f"{minilm['schema_recall_at_5']:.3f}), hashing {hashing['recall_at_5']:.3f} (schema "
              f"{hashing['schema_recall_at_5']:.3f}); minilm misses: {minilm['misses']}")
    assert minilm["recall_at_5"] >= RECALL_TARGET
    assert minilm["schema_recall_at_5"] >= RECALL_TARGET
    assert minilm["recall_at_5"] > hashing["recall_at_5"]


def test_schema_search_finds_the_table_and_column_of_customer_emails(
        pg_dsn: str, tmp_path: Path, sample_dir: Path) -> None:
    run_golden(pg_dsn, tmp_path / "q", sample_dir, "minilm")
    search = SemanticSearchResource(qdrant=QdrantResource(path=str(tmp_path / "q")), embedder=EmbedderResource())
    hits = search.schema("which table holds customer emails?", limit=3)
    assert hits[0].pk == {"source": "shop_files", "table": "customers", "column": "email"}
    [table] = search.schema("which table holds customer emails?", limit=1, kind="table")
    assert table.pk == {"source": "shop_files", "table": "customers"}


def test_the_cli_prints_ranked_schema_and_row_hits(pg_dsn: str, tmp_path: Path, sample_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from etl_assets.cli import main

    run_golden(pg_dsn, tmp_path / "qdrant", sample_dir, "minilm")
    monkeypatch.setenv("AIETL_HOME", str(tmp_path))
    monkeypatch.setenv("AIETL_EMBEDDER_MODEL", "minilm")
    runner = CliRunner()

    schema = runner.invoke(main, ["search", "which table holds customer emails?", "--schema", "--limit", "3"])
    rows = runner.invoke(main, ["search", "rain-proof sneakers for jogging on mountain paths", "--table",
                                "shop_files.products", "--limit", "2"])
    both = runner.invoke(main, ["search", "x", "--schema", "--table", "shop_files.products"])

    assert schema.exit_code == 0, schema.output
    assert schema.output.splitlines()[0].endswith("column shop_files.customers.email")
    assert rows.exit_code == 0, rows.output
    assert rows.output.startswith("1. ") and "Trail running shoes" in rows.output.splitlines()[1]
    assert both.exit_code != 0 and "exactly one of --table" in both.output
