"""Land the bundled sample data as raw tables (``raw_<source>.<table>``) in a PostgreSQL and/or ClickHouse warehouse.

The transformation tests must not depend on the raw-layer connectors, so this is a small, direct loader: each table
becomes one Arrow table with the catalog's schema, written with psycopg COPY and clickhouse-connect ``insert_arrow``,
so both warehouses hold exactly the same rows.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
import psycopg
import pyarrow as pa
from defusedxml import ElementTree
from psycopg import sql

from etl_assets.catalog import SourceTable, raw_namespace
from resources.clickhouse import ddl as clickhouse_ddl
from resources.clickhouse import sql as clickhouse_sql
from resources.clickhouse import types as clickhouse_types
from resources.embedded.kafka import free_port
from resources.postgres.types import POSTGRES_TYPES_MAPPER
from resources.schema import Column

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
SAMPLE_DIR = PROJECT_DIR / "data" / "sample"


def pg_type(column: Column) -> str:
    return POSTGRES_TYPES_MAPPER.to_native(column.type)


def sample_tables(tables: list[SourceTable], pg_dsn: str) -> dict[str, pa.Table]:
    """``source.table`` -> rows of every sample table; shop.sql runs in PostgreSQL (it is PostgreSQL's dialect)."""
    shop_db = functools.cache(_shop_db_rows)
    readers = {
        "shop_files.customers": lambda: _csv_rows(SAMPLE_DIR / "files" / "customers.csv"),
        "shop_files.products": lambda: _json_rows(SAMPLE_DIR / "files" / "products.json"),
        "shop_files.stores": lambda: _xml_rows(SAMPLE_DIR / "files" / "stores.xml"),
        "shop_db.orders": lambda: shop_db(pg_dsn)["shop_db.orders"],
        "shop_db.order_items": lambda: shop_db(pg_dsn)["shop_db.order_items"],
        "analytics.daily_sessions": _daily_sessions_rows,
    }
    return {f"{t.source}.{t.name}": _arrow(t, readers[f"{t.source}.{t.name}"]()) for t in tables}


def _arrow(table: SourceTable, rows: list[dict]) -> pa.Table:
    schema = table.schema.arrow_schema()
    columns = {field.name: [_value(row.get(field.name), field.type) for row in rows] for field in schema}
    return pa.table(columns, schema=schema)


def _value(value: object, arrow_type: pa.DataType) -> object:
    if value is None or value == "":
        return None
    if pa.types.is_decimal(arrow_type):
        return Decimal(str(value))
    if pa.types.is_boolean(arrow_type) and isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    if pa.types.is_integer(arrow_type):
        return int(value)
    if pa.types.is_floating(arrow_type):
        return float(value)
    if pa.types.is_timestamp(arrow_type) and isinstance(value, str):
        return pa.scalar(value).cast(pa.timestamp("us", tz="UTC")).as_py()
    if pa.types.is_date(arrow_type) and isinstance(value, str):
        return pa.scalar(value).cast(pa.date32()).as_py()
    if pa.types.is_string(arrow_type) and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return value


def _csv_rows(file: Path) -> list[dict]:
    with file.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _json_rows(file: Path) -> list[dict]:
    return json.loads(file.read_text(encoding="utf-8"))


def _xml_rows(file: Path) -> list[dict]:
    root = ElementTree.parse(file).getroot()
    return [{**element.attrib, **{child.tag: child.text for child in element}} for element in root]


def _shop_db_rows(pg_dsn: str) -> dict[str, list[dict]]:
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS shop_source")
        connection.execute("SET search_path TO shop_source")
        connection.execute((SAMPLE_DIR / "shop.sql").read_text(encoding="utf-8"))
        cursor = connection.cursor(row_factory=psycopg.rows.dict_row)
        result = {}
        for table in ("orders", "order_items"):
            select = sql.SQL("SELECT * FROM {}").format(sql.Identifier("shop_source", table))
            result[f"shop_db.{table}"] = cursor.execute(select).fetchall()
        connection.execute("DROP SCHEMA shop_source CASCADE")
    return result


def _daily_sessions_rows() -> list[dict]:
    """Run clickhouse.sql in a throwaway chdb process (chdb allows one data path per process)."""
    script = (
        "import json, sys, types\n"
        "from pathlib import Path\n"
        "from chdb import session\n"
        "from resources.embedded.stack import run_clickhouse_file\n"
        "s = session.Session()\n"
        "run_clickhouse_file(types.SimpleNamespace(command=s.query), Path(sys.argv[1]))\n"
        "print(s.query('SELECT day, store_id, sessions, bounce_rate, "
        "formatDateTime(updated_at, \\'%Y-%m-%dT%H:%i:%S+00:00\\') AS updated_at "
        "FROM analytics.daily_sessions ORDER BY day, store_id', 'JSON').bytes().decode())\n"
    )
    output = subprocess.run([sys.executable, "-c", script, str(SAMPLE_DIR / "clickhouse.sql")], check=True,
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120).stdout
    return json.loads(output)["data"]


def pg_environment(pg_dsn: str) -> dict[str, str]:
    """The ``AIETL_PG_*`` and ``AIETL_WAREHOUSE_DB`` variables the dbt profiles read, for ``pg_dsn``'s database."""
    parts = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    return {"AIETL_PG_HOST": parts.get("host", "127.0.0.1"), "AIETL_PG_PORT": str(parts.get("port", 5432)),
            "AIETL_PG_USER": parts.get("user", "postgres"), "AIETL_PG_PASSWORD": parts.get("password", ""),
            "AIETL_WAREHOUSE_DB": parts["dbname"]}


def load_postgres(pg_dsn: str, tables: list[SourceTable], data: dict[str, pa.Table]) -> None:
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=10) as connection:
        for table in tables:
            namespace, columns = raw_namespace(table.source), table.schema.columns
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace)))
            definition = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(pg_type(c))) for c in columns)
            target = sql.Identifier(namespace, table.name)
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
            connection.execute(sql.SQL("CREATE TABLE {} ({})").format(target, definition))
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                target, sql.SQL(", ").join(sql.Identifier(c.name) for c in columns))
            with connection.cursor().copy(copy) as writer:
                for row in data[f"{table.source}.{table.name}"].to_pylist():
                    writer.write_row([row[c.name] for c in columns])


def load_clickhouse(client: clickhouse_connect.driver.Client, tables: list[SourceTable],
                    data: dict[str, pa.Table]) -> None:
    for table in tables:
        namespace = raw_namespace(table.source)
        client.command(clickhouse_ddl.create_database(namespace).sql("clickhouse"))
        columns = [clickhouse_ddl.column_def(c.name, clickhouse_types.LANDING.data_type(c.type, c.nullable))
                   for c in table.schema.columns]
        client.command(clickhouse_sql.drop_table_sql(namespace, table.name))
        client.command(clickhouse_ddl.create_table(namespace, table.name, columns, [
            clickhouse_ddl.engine("MergeTree"), clickhouse_ddl.order_by([])]).sql("clickhouse"))
        client.insert_arrow(table.name, data[f"{table.source}.{table.name}"], database=namespace)


@dataclass
class ChdbHttpFront:
    """``python -m tests.support.chdb_http`` as a child process on a free port."""

    path: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60) -> ChdbHttpFront:
        self.port = self.port or free_port()
        log = self.path.parent / f"chdb_http_{self.port}.log"
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.chdb_http", "--path", str(self.path), "--port", str(self.port)],
                cwd=PROJECT_DIR, stdout=output, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chdb HTTP front exited with {self.process.returncode}; see {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chdb HTTP front did not listen on port {self.port} within {timeout_s} s")

    def client(self) -> clickhouse_connect.driver.Client:
        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, compress=False, connect_timeout=10,
                                             send_receive_timeout=120)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
