"""The embeddings layer's settings: datasources.yaml's embedder section reaches the resources of the code location,
and a table's row template is checked against its columns with a message naming the table."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from etl_assets.catalog import source_tables
from etl_assets.config.loader import ConfigError, load_datasources
from etl_assets.embeddings.assets import build_embedding_assets, text_columns
from etl_assets.embeddings.rows import document_text, indexed_row, template_columns
from etl_assets.wiring import build_resources
from resources.embedder import EmbedderResource
from resources.schema import Column, TableSchema
from resources.search import SemanticSearchResource

CONFIG = """
warehouse: wh
metadata: wh
targets:
  postgres:
    wh: {host: 127.0.0.1, port: 5432, database: warehouse}
sources:
  files:
    shop:
      path: /nonexistent
      tables:
        products:
          file: products.csv
          semantic_search: true
          primary_key: [id]
          text_template: "{name}: {description} (category {category})"
qdrant: {path: /nonexistent/qdrant}
embedder:
  model: openai
  dimensions: 64
  chunk_tokens: 120
  chunk_overlap: 10
  max_chunks: 8
  base_url: http://127.0.0.1:9/v1
  endpoint_model: e5-small
  api_key_env: TEST_EMBEDDINGS_KEY
  timeout_s: 7.5
"""
PRODUCTS = TableSchema("shop", "products", [Column("id", "int64", nullable=False), Column("name", "string"),
                                            Column("description", "string"), Column("category", "string"),
                                            Column("price", "decimal(10,2)")], primary_key=["id"])


def write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "datasources.yaml"
    file.write_text(text)
    return file


def test_every_embedder_setting_reaches_the_resource_and_the_key_stays_an_env_var(tmp_path: Path) -> None:
    resources = build_resources(load_datasources(write(tmp_path, CONFIG)))
    embedder: EmbedderResource = resources["embedder"]
    assert (embedder.model, embedder.dimensions, embedder.chunk_tokens, embedder.chunk_overlap,
            embedder.max_chunks) == ("openai", 64, 120, 10, 8)
    assert (embedder.base_url, embedder.endpoint_model, embedder.timeout_s) == ("http://127.0.0.1:9/v1", "e5-small",
                                                                                 7.5)
    assert embedder.api_key == dg.EnvVar("TEST_EMBEDDINGS_KEY")
    search = resources["search"]
    assert isinstance(search, SemanticSearchResource) and search.embedder is embedder
    assert search.qdrant is resources["qdrant"]


def test_the_default_model_asks_for_no_endpoint_key_and_a_model_file_is_resolved(tmp_path: Path) -> None:
    text = CONFIG.split("embedder:")[0] + "embedder: {model: minilm, model_file: models/model.onnx}\n"
    embedder = build_resources(load_datasources(write(tmp_path, text)))["embedder"]
    assert (embedder.model, embedder.dimensions, embedder.api_key) == ("minilm", 384, "")
    assert Path(embedder.model_file).is_absolute() and embedder.model_file.endswith("models/model.onnx")


@pytest.mark.parametrize(("embedder", "reason"), [
    ("{model: minilm, dimensions: 128}", "'minilm' makes 384-dimensional vectors; set embedder.dimensions: 384"),
    ("{model: openai}", "needs embedder.base_url"),
    ("{chunk_tokens: 40, chunk_overlap: 40}", "chunk_overlap (40) must be smaller than chunk_tokens (40)"),
    ("{chunk_tokens: 300}", "less than or equal to 254"),
    ("{model: word2vec}", "'minilm', 'hashing' or 'openai'"),
])
def test_a_bad_embedder_section_names_the_file_key_and_reason(tmp_path: Path, embedder: str, reason: str) -> None:
    file = write(tmp_path, CONFIG.split("embedder:")[0] + f"embedder: {embedder}\n")
    with pytest.raises(ConfigError) as raised:
        load_datasources(file)
    assert str(file) in str(raised.value) and "embedder" in str(raised.value) and reason in str(raised.value)


def test_the_row_template_reaches_the_table_and_its_documents(tmp_path: Path) -> None:
    [table] = source_tables(load_datasources(write(tmp_path, CONFIG)), {"shop": [PRODUCTS]})
    assert table.text_template == "{name}: {description} (category {category})"
    assert text_columns(table) == ["name", "description", "category"]
    row = {"id": 7, "name": "Trail shoes", "description": None, "category": " footwear ", "price": 59}
    document = indexed_row("shop__products", row, ["id"], text_columns(table), "m", table.text_template)
    assert document.text == "Trail shoes:  (category footwear)"
    other_template = indexed_row("shop__products", row, ["id"], ["name"], "m", "{name} / {category}")
    assert other_template.content_hash != document.content_hash, "a new template embeds the rows again"
    key = dg.AssetKey(["embeddings", "shop", "products"])
    [asset] = [a for a in build_embedding_assets([table]) if key in a.keys]
    assert "{name}: {description} (category {category})" in asset.specs_by_key[key].description


def test_a_row_whose_placeholders_are_all_empty_has_no_text() -> None:
    template = "Product {name}: {description}"
    assert document_text({"name": None, "description": "  "}, [], template) == ""
    assert document_text({"name": "Tent", "description": None}, [], template) == "Product Tent:"
    assert document_text({"name": "Тент 帐篷 ⛺", "description": "x"}, [], template) == "Product Тент 帐篷 ⛺: x"


@pytest.mark.parametrize(("template", "reason"), [
    ("{name} by {brand}", "{brand} is not a column of the table (columns: ['category', 'description', 'id', "),
    ("{name", "expected '}' before end of string (write {{ and }} for literal braces)"),
    ("just words", "has no {column} placeholder"),
    ("{price:.2f}", "placeholder {price} has a format or conversion"),
    ("{name!r}", "placeholder {name} has a format or conversion"),
    ("{0}", "placeholder {0} is not a plain column name"),
    ("{name.__class__}", "placeholder {name.__class__} is not a plain column name"),
    ("{}", "placeholder {} is not a plain column name"),
])
def test_a_bad_row_template_names_the_table_and_what_is_wrong(tmp_path: Path, template: str, reason: str) -> None:
    text = CONFIG.replace('"{name}: {description} (category {category})"', repr(template))
    [table] = source_tables(load_datasources(write(tmp_path, text)), {"shop": [PRODUCTS]})
    with pytest.raises(ValueError) as raised:
        build_embedding_assets([table])
    assert str(raised.value).startswith("shop.products: text_template") and reason in str(raised.value)


def test_literal_braces_and_repeated_placeholders() -> None:
    assert template_columns("{{sku}} {name} and {name}", ["name"]) == ["name"]
    assert document_text({"name": "Lamp"}, [], "{{sku}} {name} and {name}") == "{sku} Lamp and Lamp"


def test_aietl_validate_reports_a_bad_row_template_with_its_key_path(tmp_path: Path) -> None:
    from etl_assets.validation import check_config

    file = write(tmp_path, CONFIG.replace("(category {category})", "by {brand}"))
    problems = check_config(load_datasources(file), file, tmp_path / "catalog.json", environ={},
                            catalog={"shop": [PRODUCTS]})
    [problem] = [p for p in problems if p.key_path.endswith("text_template")]
    assert problem.key_path == "sources.files.shop.tables.products.text_template" and problem.blocking
    assert str(problem).startswith(f"{file}: sources.files.shop.tables.products.text_template: text_template ")
    assert "{brand} is not a column of the table" in problem.reason
