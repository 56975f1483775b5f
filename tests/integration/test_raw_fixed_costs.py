"""The fixed costs of a small raw load, observed on the real services: the sample's stores.xml and customers.csv
landed by Dagster into a real PostgreSQL, with the metadata store's connections counted in ``pg_stat_activity``."""

import uuid
from dataclasses import replace
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.keys import RAW, asset_key
from etl_assets.raw.assets import CHECK_NAME, build_raw_assets
from resources.files import FilesResource, FileTable, csv_format
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource

pytestmark = pytest.mark.integration


@pytest.fixture
def files(sample_dir: Path) -> FilesResource:
    return FilesResource(path=str(sample_dir / "files"), source_name="shop_files", tables={
        "customers": FileTable(file="customers.csv", format="csv"),
        "stores": FileTable(file="stores.xml", format="xml", record_path="store")})


def source_table(files: FilesResource, name: str, key: str) -> SourceTable:
    schema = replace(files.discover_table(name), primary_key=[key])
    return SourceTable(kind="files", schema=schema, sync=SyncSettings(), batch_size=50_000, semantic_search=False,
                       text_columns=(), checks=CheckSettings(), target="warehouse")


def metadata_backends(pg_dsn: str, app_name: str) -> list[tuple]:
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=10) as connection:
        return connection.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s",
                                  (app_name,)).fetchall()


def test_one_metadata_connection_serves_every_load_and_check_of_a_run(pg_dsn, files, monkeypatch):
    app_name = f"aietl_raw_test_{uuid.uuid4().hex[:8]}"
    metadata = MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn, application_name=app_name))
    tables = [source_table(files, "stores", "id"), source_table(files, "customers", "customer_id")]
    sniffed: list[str] = []
    real_sniff = csv_format.sniff
    monkeypatch.setattr(csv_format, "sniff", lambda path, *args: sniffed.append(path.name) or real_sniff(path, *args))
    seen: list[list[tuple]] = []

    @dg.asset(deps=[asset_key(RAW, "shop_files", "stores"), asset_key(RAW, "shop_files", "customers")])
    def probe() -> None:
        seen.append(metadata_backends(pg_dsn, app_name))

    warehouse = PostgresResource.from_dsn(pg_dsn)
    resources = {"source_shop_files": files, "warehouse": warehouse, "metadata": metadata}
    for _ in range(2):
        sniffed.clear()
        result = dg.materialize([*build_raw_assets(tables, retry_policy=None), probe], resources=resources,
                                instance=dg.DagsterInstance.ephemeral())
        assert result.success
        assert sniffed in ([], ["customers.csv"]), "at most one sniff of the CSV per load"
        assert all(check.passed for check in result.get_asset_check_evaluations() if check.check_name == CHECK_NAME)
    assert warehouse.query_arrow("SELECT count(*) AS n FROM raw_shop_files.stores").column("n")[0].as_py() == 8
    assert warehouse.query_arrow("SELECT count(*) AS n FROM raw_shop_files.customers").column("n")[0].as_py() == 300
    history = metadata.ingestion_history("shop_files", "stores") + metadata.ingestion_history("shop_files", "customers")
    assert len(history) == 4 and {h["status"] for h in history} == {"success"}
    second_run_loads = sorted(history, key=lambda h: h["started_at"])[2:]
    held = seen[-1]
    assert len(held) == 1, "the run's loads and checks share one metadata connection"
    assert held[0][1] <= min(h["started_at"] for h in second_run_loads)
