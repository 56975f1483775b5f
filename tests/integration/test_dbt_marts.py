"""The generated dbt project on real warehouses: every sample mart is built by dbt-postgres on PostgreSQL and by
unmodified dbt-clickhouse on the ClickHouse engine (chdb behind its HTTP front, or the server named by
CLICKHOUSE_URL), and both give the same rows; the emitted pandas code gives them too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
import numpy as np
import pandas as pd
import psycopg
import pytest

from etl_assets.transform.assets import prepare
from etl_assets.transform.emit_pandas import emit_pandas
from etl_assets.transform.project import dbt_resource
from etl_assets.transform.spec.resolver import load_pipelines
from tests.support.pipelines import PIPELINES, TABLES
from tests.support.sample_warehouse import (
    PROJECT_DIR,
    ChdbHttpFront,
    load_clickhouse,
    load_postgres,
    pg_environment,
    sample_tables,
)

pytestmark = pytest.mark.integration
MARTS = list(load_pipelines(PIPELINES, TABLES).models)


class Warehouses:
    """The sample data landed in both warehouses and the generated project built on each."""

    def __init__(self, pg_dsn: str, clickhouse: clickhouse_connect.driver.Client, project_dir: Path,
                 env: dict[str, str]):
        self.pg_dsn, self.clickhouse, self.project_dir, self.env = pg_dsn, clickhouse, project_dir, env

    def dbt(self, target: str, *args: str) -> dict:
        """Run dbt on a target; returns run_results.json (raises with dbt's log when dbt fails)."""
        with pytest.MonkeyPatch.context() as patch:
            for key, value in self.env.items():
                patch.setenv(key, value)
            invocation = dbt_resource(self.project_dir, target).cli(list(args), raise_on_error=False)
            invocation.wait()
        results = invocation.get_artifact("run_results.json")
        failed = [f"{r['unique_id']}: {r['status']}: {r.get('message')}" for r in results["results"]
                  if r["status"] not in ("success", "pass")]
        assert invocation.is_successful() and not failed, f"dbt {' '.join(args)} on {target} failed: {failed}"
        return results

    def postgres_rows(self, query: str) -> pd.DataFrame:
        with psycopg.connect(self.pg_dsn, connect_timeout=10) as connection:
            cursor = connection.execute(query)
            return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description], dtype=object)

    def clickhouse_rows(self, query: str) -> pd.DataFrame:
        result = self.clickhouse.query(query)
        return pd.DataFrame(result.result_rows, columns=list(result.column_names), dtype=object)


def clickhouse_server(tmp: Path) -> tuple[clickhouse_connect.driver.Client, dict[str, str], ChdbHttpFront | None]:
    """A real ClickHouse server when CLICKHOUSE_URL is set, else chdb behind the HTTP front."""
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        parts = urlsplit(url)
        env = {"AIETL_CLICKHOUSE_HOST": parts.hostname or "127.0.0.1", "AIETL_CLICKHOUSE_PORT": str(parts.port or 8123),
               "AIETL_CLICKHOUSE_USER": parts.username or "default", "AIETL_CLICKHOUSE_PASSWORD": parts.password or "",
               "AIETL_CLICKHOUSE_SECURE": str(parts.scheme == "https").lower()}
        client = clickhouse_connect.get_client(dsn=url, connect_timeout=10, send_receive_timeout=120)
        for database in ("raw_shop_files", "raw_shop_db", "raw_analytics", "staging", "marts"):
            client.command(f"DROP DATABASE IF EXISTS `{database}`")
        return client, env, None
    front = ChdbHttpFront(tmp / "chdb").start()
    return front.client(), {"AIETL_CLICKHOUSE_HOST": "127.0.0.1", "AIETL_CLICKHOUSE_PORT": str(front.port)}, front


@pytest.fixture(scope="module")
def warehouses(pg_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouses]:
    tmp = tmp_path_factory.mktemp("dbt")
    database = f"t_dbt_{uuid.uuid4().hex[:10]}"
    pg_dsn = pg_server.create_database(database)
    clickhouse, clickhouse_env, front = clickhouse_server(tmp)
    try:
        data = sample_tables(TABLES, pg_dsn)
        load_postgres(pg_dsn, TABLES, data)
        load_clickhouse(clickhouse, TABLES, data)
        project_dir = tmp / "dbt_project"
        shutil.copytree(PROJECT_DIR / "dbt_project", project_dir, ignore=shutil.ignore_patterns("target", "logs"))
        prepare(project_dir, PIPELINES, TABLES)
        env = {**pg_environment(pg_dsn), **clickhouse_env}
        built = Warehouses(pg_dsn, clickhouse, project_dir, env)
        built.postgres_results = built.dbt("postgres", "build")
        built.clickhouse_results = built.dbt("clickhouse", "build")
        yield built
    finally:
        if front:
            front.stop()
        pg_server.drop_database(database)


def normalised(frame: pd.DataFrame) -> list[tuple]:
    """Rows as comparable tuples: numbers as rounded floats, instants as UTC, dates as ISO; sorted."""
    def value(item: object) -> object:
        if item is None or (not isinstance(item, (list, tuple, dict)) and pd.isna(item)):
            return None
        if isinstance(item, (bool, np.bool_)):
            return bool(item)
        if isinstance(item, (int, float, Decimal, np.integer, np.floating)):
            return round(float(item), 6)
        if isinstance(item, pd.Timestamp):
            item = item.to_pydatetime()
        if isinstance(item, dt.datetime):
            return (item.astimezone(dt.UTC).replace(tzinfo=None) if item.tzinfo else item).isoformat()
        if isinstance(item, dt.date):
            return item.isoformat()
        return item

    rows = [tuple(value(item) for item in row) for row in frame.itertuples(index=False)]
    return sorted(rows, key=lambda row: json.dumps(row, default=str))


def assert_same_rows(left: pd.DataFrame, right: pd.DataFrame, label: str) -> None:
    assert list(left.columns) == list(right.columns), f"{label}: columns differ"
    left_rows, right_rows = normalised(left), normalised(right)
    assert len(left_rows) == len(right_rows), f"{label}: {len(left_rows)} rows vs {len(right_rows)}"
    for left_row, right_row in zip(left_rows, right_rows):
        for column, a, b in zip(left.columns, left_row, right_row):
            same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-6))
            assert same, f"{label}: column {column}: {a!r} != {b!r} in rows\n{left_row}\n{right_row}"


@pytest.mark.parametrize("mart", MARTS)
def test_mart_is_the_same_on_postgres_and_clickhouse(warehouses: Warehouses, mart: str) -> None:
    on_postgres = warehouses.postgres_rows(f'SELECT * FROM marts."{mart}"')
    on_clickhouse = warehouses.clickhouse_rows(f"SELECT * FROM marts.`{mart}`")
    assert len(on_postgres) > 0, f"{mart} is empty on PostgreSQL"
    assert_same_rows(on_postgres, on_clickhouse, mart)


def test_dbt_tests_ran_and_passed_on_both_targets(warehouses: Warehouses) -> None:
    for results in (warehouses.postgres_results, warehouses.clickhouse_results):
        tests = [r for r in results["results"] if r["unique_id"].startswith("test.")]
        kinds = {r["unique_id"].split(".")[2].split("_")[0] for r in tests}
        assert {"unique", "not", "accepted", "relationships"} <= kinds
        assert all(r["status"] == "pass" for r in tests)


def test_generated_pandas_code_gives_the_postgres_rows(warehouses: Warehouses) -> None:
    pipelines = load_pipelines(PIPELINES, TABLES)
    namespace: dict = {}
    exec(compile(emit_pandas(pipelines), "generated_pandas.py", "exec"), namespace)  # noqa: S102 - the artifact
    raw = {f"{t.source}.{t.name}": warehouses.postgres_rows(f'SELECT * FROM raw_{t.source}."{t.name}"')
           for t in TABLES}
    results = namespace["run_all"](raw)
    for mart in MARTS:
        on_postgres = warehouses.postgres_rows(f'SELECT * FROM marts."{mart}"')
        assert_same_rows(results[mart].astype(object), on_postgres, f"pandas {mart}")


def test_incremental_model_takes_new_and_changed_rows_once(warehouses: Warehouses) -> None:
    """Last in the module: it changes raw orders, then reruns fct_orders incrementally on both targets."""
    changes = ("UPDATE raw_shop_db.orders SET status = 'returned', updated_at = updated_at + INTERVAL '400 days' "
               "WHERE order_id IN (5, 6)")
    new_order = ("INSERT INTO raw_shop_db.orders VALUES (900001, 7, 2, 'placed', 12.50, "
                 "'2027-06-01 10:00:00+00', '2027-06-01 10:00:00+00')")
    with psycopg.connect(warehouses.pg_dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute(changes)
        connection.execute(new_order)
    warehouses.clickhouse.command("ALTER TABLE raw_shop_db.orders UPDATE status = 'returned', "
                                  "updated_at = updated_at + INTERVAL 400 DAY WHERE order_id IN (5, 6) "
                                  "SETTINGS mutations_sync = 2")
    warehouses.clickhouse.command("INSERT INTO raw_shop_db.orders VALUES (900001, 7, 2, 'placed', 12.50, "
                                  "'2027-06-01 10:00:00', '2027-06-01 10:00:00')")
    warehouses.dbt("postgres", "run", "--select", "fct_orders")
    warehouses.dbt("clickhouse", "run", "--select", "fct_orders")

    on_postgres = warehouses.postgres_rows("SELECT * FROM marts.fct_orders")
    on_clickhouse = warehouses.clickhouse_rows("SELECT * FROM marts.fct_orders")
    assert len(on_postgres) == 3001 and on_postgres["order_id"].is_unique
    changed = on_postgres[on_postgres["order_id"].isin([5, 6])]
    assert set(changed["status"]) == {"returned"}
    assert_same_rows(on_postgres, on_clickhouse, "fct_orders after an incremental run")
