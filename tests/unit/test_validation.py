"""Every config mistake is reported before Dagster sees it: file, key path, reason and fix, for each broken config."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from etl_assets.catalog import save_catalog
from etl_assets.cli import main
from etl_assets.config.loader import ConfigError, load_datasources
from etl_assets.config.models import DataSources
from etl_assets.validation import ConfigProblems, check_config, raise_for_problems
from resources.schema import Column, TableSchema

VALID = """
warehouse: wh
metadata: wh
targets:
  postgres:
    wh: {host: localhost, database: warehouse, password_env: CHK_PG_PASSWORD}
  clickhouse:
    lake: {chdb_path: /tmp/chk_chdb}
sources:
  files:
    shop_files:
      path: data
      schedule: "*/30 * * * *"
      tables:
        customers: {file: customers.csv, primary_key: [customer_id]}
        products: {file: products.json, semantic_search: true}
  postgres:
    shop_db:
      database: shop
      password_env: CHK_PG_PASSWORD
      schedule: "0 * * * *"
      tables:
        orders: {sync: {mode: merge, cursor: updated_at}}
  kafka:
    events: {bootstrap_servers: "127.0.0.1:9092", topics: [clicks], sasl_password_env: CHK_KAFKA_PASSWORD}
qdrant:
  path: /tmp/chk_qdrant
llm:
  base_url: http://127.0.0.1:1/v1
  api_key_env: CHK_LLM_KEY
"""

PIPELINES = """
version: 1
models:
  order_totals:
    from: {table: shop_db.orders, alias: o}
    group_by: [o.customer_id]
    aggregations:
      - {name: revenue, function: sum, column: o.total}
"""

ENV = {"CHK_PG_PASSWORD": "pw", "CHK_KAFKA_PASSWORD": "kpw", "CHK_LLM_KEY": "key"}


def catalog() -> dict[str, list[TableSchema]]:
    def table(source, name, *columns, key=()):
        return TableSchema(source=source, name=name, primary_key=list(key),
                           columns=[Column(column, logical) for column, logical in columns])

    return {
        "shop_files": [table("shop_files", "customers", ("customer_id", "int64"), ("email", "string")),
                       table("shop_files", "products", ("product_id", "int64"), ("name", "string"))],
        "shop_db": [table("shop_db", "orders", ("order_id", "int64"), ("customer_id", "int64"),
                          ("total", "float64"), ("updated_at", "timestamptz"), key=["order_id"])],
    }


def problems_of(tmp_path: Path, config: str = VALID, tables: dict | None = None, pipelines: str = PIPELINES,
                env: dict | None = None, catalog_text: str | None = None,
                no_catalog: bool = False) -> tuple[Path, list[str]]:
    """What `aietl validate` reports for these files: the loader's error, or every cross-reference problem."""
    file, catalog_file, pipelines_file = tmp_path / "datasources.yaml", tmp_path / "catalog.json", tmp_path / "p.yaml"
    file.write_text(config)
    pipelines_file.write_text(pipelines)
    if catalog_text is not None:
        catalog_file.write_text(catalog_text)
    elif not no_catalog:
        save_catalog(catalog_file, catalog() if tables is None else tables)
    try:
        datasources = load_datasources(file)
    except ConfigError as error:
        return file, [str(error)]
    return file, [str(p) for p in check_config(datasources, file, catalog_file, pipelines_file,
                                               environ=ENV if env is None else env)]


def without(source: str, table: str) -> dict:
    tables = catalog()
    tables[source] = [t for t in tables[source] if t.name != table]
    return tables


BROKEN = {
    "semantic search without qdrant": (
        dict(config=VALID.replace("qdrant:\n  path: /tmp/chk_qdrant\n", "")),
        "datasources.yaml", "sources.files.shop_files.tables.products.semantic_search", "no `qdrant:` section",
        "add `qdrant:"),
    "source-wide semantic search without qdrant": (
        dict(config=VALID.replace("qdrant:\n  path: /tmp/chk_qdrant\n", "").replace(
            "      database: shop\n", "      database: shop\n      semantic_search: true\n")),
        "datasources.yaml", "sources.postgres.shop_db.semantic_search", "no `qdrant:` section", "semantic_search: false"),
    "streams without a postgres warehouse": (
        dict(config=VALID.replace("warehouse: wh", "warehouse: lake")),
        "datasources.yaml", "sources.kafka.events", "Kafka streams land in a PostgreSQL warehouse",
        "set `warehouse:` to a target under targets.postgres"),
    "a source landing in an unknown target": (
        dict(config=VALID.replace("      database: shop\n", "      database: shop\n      target: laek\n")),
        "datasources.yaml", "sources.postgres.shop_db.target", "target 'laek' is not configured",
        "did you mean 'lake'"),
    "a secret variable that is not set": (
        dict(env={k: v for k, v in ENV.items() if k != "CHK_KAFKA_PASSWORD"}),
        "datasources.yaml", "sources.kafka.events.sasl_password_env", "CHK_KAFKA_PASSWORD is not set",
        "export CHK_KAFKA_PASSWORD="),
    "a secret variable that is empty": (
        dict(env={**ENV, "CHK_PG_PASSWORD": ""}),
        "datasources.yaml", "targets.postgres.wh.password_env", "CHK_PG_PASSWORD is set but empty",
        "export CHK_PG_PASSWORD="),
    "the llm key when an endpoint is configured": (
        dict(env={k: v for k, v in ENV.items() if k != "CHK_LLM_KEY"}),
        "datasources.yaml", "llm.api_key_env", "CHK_LLM_KEY is not set", "export CHK_LLM_KEY="),
    "a schedule that is not cron": (
        dict(config=VALID.replace('"0 * * * *"', '"every hour"')),
        "datasources.yaml", "sources.postgres.shop_db.schedule", "'every hour' is not a valid cron expression",
        "five fields"),
    "a schedule with an out-of-range minute": (
        dict(config=VALID.replace('"*/30 * * * *"', '"61 * * * *"')),
        "datasources.yaml", "sources.files.shop_files.schedule", "not a valid cron expression", "five fields"),
    "a configured table missing from the catalog": (
        dict(tables=without("shop_files", "products")),
        "datasources.yaml", "sources.files.shop_files.tables.products", "table 'products' is not in the catalog",
        "aietl discover --source shop_files"),
    "a configured table name with a typo": (
        dict(config=VALID.replace("        orders: {sync", "        ordres: {sync"), pipelines="version: 1\n"),
        "datasources.yaml", "sources.postgres.shop_db.tables.ordres", "not in the catalog", "did you mean 'orders'"),
    "a configured source missing from the catalog": (
        dict(tables={"shop_files": catalog()["shop_files"]}, pipelines="version: 1\n"),
        "datasources.yaml", "sources.postgres.shop_db", "source 'shop_db' is not in the catalog",
        "aietl discover --source shop_db"),
    "a catalog source that is no longer configured": (
        dict(tables={**catalog(), "old_crm": []}),
        "catalog.json", "sources.old_crm", "source 'old_crm' is in the catalog but not in", "aietl discover"),
    "a catalog table a files source no longer lists": (
        dict(config=VALID.replace("        products: {file: products.json, semantic_search: true}\n", "")),
        "catalog.json", "sources.shop_files.products", "is in the catalog but not under sources.files.shop_files",
        "add it to sources.files.shop_files.tables"),
    "a missing catalog": (
        dict(no_catalog=True),
        "catalog.json", "", "the catalog file does not exist", "run `aietl discover` to create it"),
    "a truncated catalog": (
        dict(catalog_text='{"version": 1, "sources": {"shop_files": [{"source": "shop_files", "na'),
        "catalog.json", "line 1, column", "not valid JSON", "run `aietl discover` to write it again"),
    "a catalog that is not a catalog": (
        dict(catalog_text='[1, 2, 3]'),
        "catalog.json", "sources", "expected an object with a `sources` mapping", "aietl discover"),
    "a catalog table without columns": (
        dict(catalog_text='{"version": 1, "sources": {"shop_files": [{"source": "shop_files", "name": "x"}]}}'),
        "catalog.json", "sources.shop_files[0]", "a table without its 'columns' key", "aietl discover"),
    "a column name PostgreSQL would truncate": (
        dict(tables={**catalog(), "shop_files": [*catalog()["shop_files"][:1], TableSchema(
            source="shop_files", name="products", columns=[Column("product_id", "int64"),
                                                           Column("n" * 70, "string")])]}),
        "catalog.json", "sources.shop_files[1](products)", "column name 'nnnn", "is 70 bytes"),
    "a pipeline model naming an unknown table": (
        dict(pipelines=PIPELINES.replace("shop_db.orders", "shop_db.ordrs")),
        "p.yaml", "models.order_totals.from", "is neither a catalog table", "use a table of"),
    "a configured key column the table lacks": (
        dict(config=VALID.replace("primary_key: [customer_id]", "primary_key: [customer_key]")),
        "datasources.yaml", "sources", "configured column 'customer_key' is not in the table", "aietl discover"),
    "a duplicated key in datasources.yaml": (
        dict(config=VALID.replace("metadata: wh\n", "metadata: wh\nwarehouse: lake\n")),
        "datasources.yaml", "line 4", "key 'warehouse' is given twice in one mapping (first at line 2)",
        "delete one of them"),
    "a misspelt key": (
        dict(config=VALID.replace("      schedule: \"0 * * * *\"", "      schedul: \"0 * * * *\"")),
        "datasources.yaml", "sources.postgres.shop_db.schedul", "Extra inputs are not permitted",
        "did you mean 'schedule'?"),
    "a misspelt top-level key": (
        dict(config=VALID.replace("qdrant:\n", "qdrnt:\n")),
        "datasources.yaml", "qdrnt", "Extra inputs are not permitted", "did you mean 'qdrant'?"),
    "a document that is a list": (
        dict(config="- warehouse\n- metadata\n"),
        "datasources.yaml", "", "expected a mapping of keys at the top, found a list", "found a list"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_each_broken_config_is_reported_with_file_key_path_reason_and_fix(tmp_path, case):
    arguments, file_name, key_path, reason, fix = BROKEN[case]
    _, messages = problems_of(tmp_path, **arguments)
    matching = [m for m in messages if reason in m and (f": {key_path}" in m or not key_path)]
    assert matching, f"{case}: no problem at {key_path!r} says {reason!r}; got {messages}"
    message = matching[0]
    assert message.startswith(str(tmp_path / file_name)), message
    assert fix in message, message


def test_there_are_at_least_twenty_broken_configs():
    assert len(BROKEN) >= 20


def test_the_valid_config_has_no_problem(tmp_path):
    _, messages = problems_of(tmp_path)
    assert messages == []


def test_every_problem_is_reported_at_once_and_raised_together(tmp_path):
    config = VALID.replace("qdrant:\n  path: /tmp/chk_qdrant\n", "").replace('"0 * * * *"', '"hourly"')
    file, messages = problems_of(tmp_path, config=config, env={})
    assert len(messages) >= 5, messages
    datasources = load_datasources(file)
    problems = check_config(datasources, file, tmp_path / "catalog.json", environ={})
    with pytest.raises(ConfigProblems) as raised:
        raise_for_problems(problems)
    assert isinstance(raised.value, ConfigError)
    blocking = [problem for problem in problems if problem.blocking]
    assert raised.value.problems == blocking
    assert len(blocking) == len(str(raised.value).splitlines()) >= 2
    assert all("secret environment variable" in p.reason for p in problems if not p.blocking)


def test_unset_secrets_warn_but_do_not_block(tmp_path):
    file, _ = problems_of(tmp_path, env={})
    result = CliRunner().invoke(main, ["validate", "--datasources", str(file), "--catalog",
                                       str(tmp_path / "catalog.json"), "--pipelines", str(tmp_path / "p.yaml")],
                                env={"AIETL_PG_PASSWORD": None})
    assert "warning:" in result.output and "secret environment variable" in result.output
    assert result.exit_code == 0, result.output


def test_cdc_without_kafka_is_reported_when_the_model_has_a_cdc_switch(tmp_path):
    if "cdc" not in DataSources.model_fields["sources"].annotation.model_fields["postgres"].annotation.__args__[1] \
            .model_fields:
        pytest.skip("the config has no `cdc` switch yet, so there is no CDC-without-Kafka mistake to make")
    config = VALID.split("  kafka:")[0].replace("      database: shop\n", "      database: shop\n      cdc: true\n")
    _, messages = problems_of(tmp_path, config=config + "qdrant:\n  path: /tmp/q\n")
    assert any("sources.postgres.shop_db.cdc" in m and "no Kafka source" in m for m in messages), messages


def test_aietl_validate_prints_every_problem_and_fails(tmp_path):
    file, _ = problems_of(tmp_path, env=ENV)
    (tmp_path / "catalog.json").write_text('{"version": 1, "sources": {"shop_files": [')
    result = CliRunner().invoke(main, ["validate", "--datasources", str(file), "--catalog",
                                       str(tmp_path / "catalog.json"), "--pipelines", str(tmp_path / "p.yaml")],
                                env=ENV)
    assert result.exit_code == 1
    assert f"{tmp_path / 'catalog.json'}: line 1, column" in result.output
    assert "problem(s) found" in result.output


def test_aietl_validate_says_valid_with_the_table_count(tmp_path):
    file, _ = problems_of(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--datasources", str(file), "--catalog",
                                       str(tmp_path / "catalog.json"), "--pipelines", str(tmp_path / "p.yaml")],
                                env=ENV)
    assert result.exit_code == 0, result.output
    assert "valid; 3 tables in the catalog" in result.output


def test_aietl_discover_of_an_unknown_source_fails_naming_the_sources(tmp_path, monkeypatch):
    from etl_assets.discovery import discover_sources

    file, _ = problems_of(tmp_path)
    with pytest.raises(ConfigError, match="no source named 'shop_fils'.*did you mean 'shop_files'"):
        discover_sources(("shop_fils",), datasources_file=file, catalog_file=tmp_path / "catalog.json")
