"""The embeddings asset for the sample products: real PostgreSQL (warehouse + metadata), Qdrant local mode, Dagster."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, AssetSelection, materialize

from etl_assets.catalog import SourceTable, load_catalog, source_tables
from etl_assets.config.loader import load_datasources
from etl_assets.embeddings import assets as embedding_assets
from etl_assets.embeddings.assets import build_embedding_assets, read_row_batches, search
from etl_assets.keys import EMBEDDINGS, asset_key
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE
from resources.embedder import EmbedderResource, minilm
from resources.files import FilesResource, FileTable
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.protocol import WriteMode
from resources.qdrant import QdrantResource
from resources.search import SemanticSearchResource

pytestmark = pytest.mark.integration
PRODUCTS = asset_key(EMBEDDINGS, "shop_files", "products")


@pytest.fixture
def products_table() -> SourceTable:
    tables = source_tables(load_datasources(DATASOURCES_FILE), load_catalog(CATALOG_FILE))
    return next(t for t in tables if (t.source, t.name) == ("shop_files", "products"))


def land_products(sample_dir: Path, warehouse: PostgresResource, table: SourceTable) -> int:
    files = FilesResource(path=str(sample_dir / "files"), source_name="shop_files",
                          tables={"products": FileTable(file="products.json", format="json")})
    return warehouse.write(table.raw_namespace, table.schema, files.read(table.schema), WriteMode.REPLACE).rows_written


@pytest.fixture(params=["local", "server"])
def qdrant(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QdrantResource]:
    """Qdrant local mode; and a Qdrant server when AIETL_TEST_QDRANT_URL names one (its products collection is
    dropped before and after), reported as skipped otherwise."""
    if request.param == "local":
        yield QdrantResource(path=str(tmp_path / "qdrant"))
        return
    if not os.environ.get("AIETL_TEST_QDRANT_URL"):
        pytest.skip("set AIETL_TEST_QDRANT_URL (and AIETL_TEST_QDRANT_API_KEY if needed) to run this against a "
                    "Qdrant server; no server binary is installable here")
    server = QdrantResource(url=os.environ["AIETL_TEST_QDRANT_URL"],
                            api_key=os.environ.get("AIETL_TEST_QDRANT_API_KEY", ""), timeout_s=10)
    with server.open() as client:
        client.delete_collection("shop_files__products")
    yield server
    with server.open() as client:
        client.delete_collection("shop_files__products")


class Harness:
    def __init__(self, pg_dsn: str, qdrant: Path | QdrantResource, table: SourceTable, model: str = "hashing"):
        self.warehouse = PostgresResource.from_dsn(pg_dsn)
        self.qdrant = qdrant if isinstance(qdrant, QdrantResource) else QdrantResource(path=str(qdrant))
        self.embedder = EmbedderResource(model=model)
        self.resources = {"warehouse": self.warehouse, "metadata": MetadataResource(postgres=self.warehouse),
                          "qdrant": self.qdrant, "embedder": self.embedder,
                          "search": SemanticSearchResource(qdrant=self.qdrant, embedder=self.embedder)}
        self.assets = [a for a in build_embedding_assets([table]) if PRODUCTS in a.keys or
                       PRODUCTS in {check.asset_key for check in a.check_keys}]

    def materialize(self) -> dict[str, Any]:
        result = materialize(self.assets, resources=self.resources)
        assert result.success
        self.check = {e.check_name: e for e in result.get_asset_check_evaluations()}
        [event] = result.get_asset_materialization_events()
        materialization = event.event_specific_data.materialization
        assert materialization.asset_key == PRODUCTS
        return {name: value.value for name, value in materialization.metadata.items()}

    def sql(self, statement: str, params: Any = None) -> list[tuple]:
        with psycopg.connect(self.warehouse.conninfo()) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []


def test_only_changed_rows_are_embedded_again_and_deleted_rows_leave(
        pg_dsn: str, qdrant: QdrantResource, sample_dir: Path, products_table: SourceTable) -> None:
    harness = Harness(pg_dsn, qdrant, products_table)
    products = land_products(sample_dir, harness.warehouse, products_table)

    first = harness.materialize()
    assert (first["rows_embedded"], first["rows_skipped"], first["rows_deleted"]) == (products, 0, 0)
    assert (first["collection"], first["dimensions"], first["model"]) == ("shop_files__products", 384, "hashing-384")
    hashes_before = dict(harness.sql("SELECT pk->>'product_id', content_hash FROM aietl_meta.embedding_index"))
    assert len(hashes_before) == products

    harness.sql("UPDATE raw_shop_files.products SET description = 'A teapot that whistles a tune' "
                "WHERE product_id = 3")
    harness.sql("DELETE FROM raw_shop_files.products WHERE product_id = 4")
    second = harness.materialize()
    assert (second["rows_embedded"], second["rows_skipped"], second["rows_deleted"]) == (1, products - 2, 1)

    hashes_after = dict(harness.sql("SELECT pk->>'product_id', content_hash FROM aietl_meta.embedding_index"))
    changed = {pk for pk in hashes_before if hashes_before[pk] != hashes_after.get(pk)}
    assert changed == {"3", "4"} and "4" not in hashes_after
    with harness.qdrant.open() as client:
        assert client.count("shop_files__products", exact=True).count == products - 1

    third = harness.materialize()
    assert (third["rows_embedded"], third["rows_skipped"], third["rows_deleted"]) == (0, products - 1, 0)

    [hit] = search("whistling teapot", "shop_files", "products", limit=1, qdrant=harness.qdrant,
                   embedder=harness.embedder)
    assert hit.pk == {"product_id": 3} and hit.payload["description"] == "A teapot that whistles a tune"


def test_search_finds_the_expected_product(pg_dsn: str, tmp_path: Path, sample_dir: Path,
                                           products_table: SourceTable) -> None:
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table)
    land_products(sample_dir, harness.warehouse, products_table)
    harness.materialize()
    [name] = harness.sql("SELECT name FROM raw_shop_files.products WHERE product_id = 4")[0]

    hits = search(name, "shop_files", "products", limit=3, qdrant=harness.qdrant, embedder=harness.embedder)

    assert hits[0].payload["name"] == name and hits[0].pk == {"product_id": 4}
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert {"sku", "price", "category"} <= set(hits[0].payload)


def test_a_lost_collection_is_rebuilt_from_the_table(pg_dsn: str, tmp_path: Path, sample_dir: Path,
                                                     products_table: SourceTable) -> None:
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table)
    products = land_products(sample_dir, harness.warehouse, products_table)
    harness.materialize()
    with harness.qdrant.open() as client:
        client.delete_collection("shop_files__products")

    rebuilt = harness.materialize()

    assert rebuilt["collection_rebuilt"] is True and rebuilt["rows_embedded"] == products
    with harness.qdrant.open() as client:
        assert client.count("shop_files__products", exact=True).count == products


def test_search_without_embeddings_says_what_to_materialize(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="materialize asset embeddings/shop_files/products first"):
        search("skillet", "shop_files", "products", qdrant=QdrantResource(path=str(tmp_path / "q")),
               embedder=EmbedderResource(model="hashing"))


def test_only_semantic_search_tables_get_an_embeddings_asset_besides_the_catalog() -> None:
    tables = source_tables(load_datasources(DATASOURCES_FILE), load_catalog(CATALOG_FILE))
    definitions = build_embedding_assets(tables)
    keys = [key for definition in definitions for key in definition.keys]
    checks = [key for definition in definitions for key in definition.check_keys]
    assert keys == [AssetKey(["embeddings", "shop_files", "products"]), AssetKey(["embeddings", "catalog"])]
    assert checks == [AssetCheckKey(AssetKey(["embeddings", "shop_files", "products"]), "searchable")]


def test_rows_stream_in_bounded_batches_and_sync_batch_by_batch(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, products_table: SourceTable,
        monkeypatch: pytest.MonkeyPatch) -> None:
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table)
    products = land_products(sample_dir, harness.warehouse, products_table)
    pages = [len(rows) for rows in read_row_batches(harness.warehouse, "raw_shop_files", "products", size=3)]
    assert sum(pages) == products and max(pages) == 3 and len(pages) == -(-products // 3)

    monkeypatch.setattr(embedding_assets, "READ_BATCH_ROWS", 3)
    first = harness.materialize()
    harness.sql("DELETE FROM raw_shop_files.products WHERE product_id = 1")
    second = harness.materialize()

    assert (first["rows_embedded"], first["points"]) == (products, products)
    assert (second["rows_embedded"], second["rows_skipped"], second["rows_deleted"]) == (0, products - 1, 1)
    with harness.qdrant.open() as client:
        assert client.count("shop_files__products", exact=True).count == products - 1


@pytest.mark.parametrize("model", ["minilm", "hashing"])
def test_bad_text_values_land_as_points_or_are_counted_and_nothing_blocks(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, products_table: SourceTable, model: str) -> None:
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table, model)
    products = land_products(sample_dir, harness.warehouse, products_table)
    huge = "Водонепроницаемые ботинки 防水靴 🥾 waterproof hiking boots. " * 90_000
    harness.sql("UPDATE raw_shop_files.products SET name = NULL, description = NULL, category = NULL "
                "WHERE product_id = 1")
    harness.sql("UPDATE raw_shop_files.products SET name = '', description = '   ', category = '' "
                "WHERE product_id = 2")
    harness.sql("UPDATE raw_shop_files.products SET description = %s WHERE product_id = 3", (huge,))
    harness.sql("UPDATE raw_shop_files.products SET name = 'Чугунная сковорода 铸铁煎锅 🍳' WHERE product_id = 4")

    first = harness.materialize()

    assert first["rows_without_text"] == 2 and first["rows_truncated"] == 1
    assert first["rows_embedded"] == products - 2
    assert first["points"] == products - 3 + harness.embedder.max_chunks
    [hit] = search("Чугунная сковорода", "shop_files", "products", limit=1, qdrant=harness.qdrant,
                   embedder=harness.embedder)
    assert hit.pk == {"product_id": 4}
    [long_hit] = search(huge[:400], "shop_files", "products", limit=1, qdrant=harness.qdrant,
                        embedder=harness.embedder)
    assert long_hit.pk == {"product_id": 3} and len(long_hit.payload["description"]) <= 2_001

    harness.sql("UPDATE raw_shop_files.products SET description = 'short again' WHERE product_id = 3")
    second = harness.materialize()
    assert second["rows_embedded"] == 1 and second["rows_deleted"] == harness.embedder.max_chunks - 1
    with harness.qdrant.open() as client:
        assert client.count("shop_files__products", exact=True).count == products - 2


def test_a_key_that_changes_type_replaces_every_point_without_duplicates(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, products_table: SourceTable) -> None:
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table)
    products = land_products(sample_dir, harness.warehouse, products_table)
    harness.materialize()
    harness.sql("ALTER TABLE raw_shop_files.products ALTER COLUMN product_id TYPE text USING 'P-' || product_id")

    changed = harness.materialize()

    assert (changed["rows_embedded"], changed["rows_deleted"]) == (products, products)
    with harness.qdrant.open() as client:
        assert client.count("shop_files__products", exact=True).count == products
    [hit] = search("Chef knife Classic", "shop_files", "products", limit=1, qdrant=harness.qdrant,
                   embedder=harness.embedder)
    assert hit.pk == {"product_id": "P-4"}


def test_a_collection_of_another_dimension_fails_the_run_and_keeps_its_points(
        pg_dsn: str, qdrant: QdrantResource, sample_dir: Path, products_table: SourceTable) -> None:
    harness = Harness(pg_dsn, qdrant, products_table)
    products = land_products(sample_dir, harness.warehouse, products_table)
    harness.materialize()
    harness.resources["embedder"] = EmbedderResource(model="hashing", dimensions=128)

    result = materialize(harness.assets, resources=harness.resources, raise_on_error=False)

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert "'shop_files__products' holds 384-dimensional vectors" in str(failure.event_specific_data.error)
    with harness.qdrant.open() as client:
        assert client.count("shop_files__products", exact=True).count == products


def test_an_index_out_of_step_with_the_collection_is_reconciled(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, products_table: SourceTable) -> None:
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table)
    products = land_products(sample_dir, harness.warehouse, products_table)
    harness.materialize()
    harness.sql("DELETE FROM aietl_meta.embedding_index WHERE pk->>'product_id' IN ('1', '2')")
    harness.sql("DELETE FROM raw_shop_files.products WHERE product_id = 2")

    repaired = harness.materialize()

    assert repaired["reconciled"] is True and repaired["rows_embedded"] == products - 1
    assert repaired["rows_deleted"] == 1
    with harness.qdrant.open() as client:
        assert client.count("shop_files__products", exact=True).count == products - 1
    assert harness.sql("SELECT count(*) FROM aietl_meta.embedding_index")[0][0] == products - 1


def test_the_searchable_check_searches_through_the_search_resource(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, products_table: SourceTable) -> None:
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table)
    land_products(sample_dir, harness.warehouse, products_table)
    harness.materialize()
    passed = harness.check["searchable"]
    assert passed.passed and passed.metadata["probes"].value == 5
    assert passed.metadata["found_share"].value == 1.0 and passed.metadata["model"].value == "hashing-384"

    other_model = SemanticSearchResource(qdrant=harness.qdrant, embedder=EmbedderResource(model="minilm"))
    result = materialize(harness.assets, resources={**harness.resources, "search": other_model},
                         selection=AssetSelection.checks_for_assets(PRODUCTS))

    assert result.success and not result.get_asset_materialization_events()
    [failed] = result.get_asset_check_evaluations()
    assert not failed.passed and failed.severity == AssetCheckSeverity.WARN
    assert failed.metadata["found_share"].value < 0.8 and failed.metadata["model"].value == "minilm-384"
    assert "rows found by their own text among the top 5 hits" in failed.description


def test_a_row_template_shapes_the_documents_and_a_new_template_embeds_again(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, products_table: SourceTable) -> None:
    templated = replace(products_table, text_template="{name} (a {category} product): {description}")
    harness = Harness(pg_dsn, tmp_path / "qdrant", templated)
    products = land_products(sample_dir, harness.warehouse, templated)
    harness.sql("UPDATE raw_shop_files.products SET name = NULL, description = NULL, category = NULL "
                "WHERE product_id = 1")

    first = harness.materialize()

    assert (first["rows_embedded"], first["rows_without_text"]) == (products - 1, 1)
    [name, category, description] = harness.sql("SELECT name, category, description FROM raw_shop_files.products "
                                                "WHERE product_id = 4")[0]
    [hit] = search(name, "shop_files", "products", limit=1, qdrant=harness.qdrant, embedder=harness.embedder)
    assert hit.pk == {"product_id": 4} and hit.text == f"{name} (a {category} product): {description}"

    harness.assets = [a for a in build_embedding_assets([replace(templated, text_template="{name}")])
                      if PRODUCTS in a.keys]
    second = harness.materialize()
    assert (second["rows_embedded"], second["rows_skipped"]) == (products - 1, 0)


def test_a_model_file_with_a_wrong_checksum_fails_the_run_before_anything_is_written(
        pg_dsn: str, tmp_path: Path, sample_dir: Path, products_table: SourceTable) -> None:
    damaged = tmp_path / "model.onnx"
    shutil.copyfile(minilm.packaged_file(minilm.MODEL), damaged)
    with damaged.open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\xff\xfe")
    harness = Harness(pg_dsn, tmp_path / "qdrant", products_table)
    land_products(sample_dir, harness.warehouse, products_table)
    harness.resources["embedder"] = EmbedderResource(model_file=str(damaged))

    result = materialize(harness.assets, resources=harness.resources, raise_on_error=False)

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    error = str(failure.event_specific_data.error)
    assert "ModelChecksumError" in error and str(damaged) in error and minilm.MODEL.sha256 in error
    with harness.qdrant.open() as client:
        assert not client.collection_exists("shop_files__products")
