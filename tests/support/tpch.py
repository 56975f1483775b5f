"""TPC-H generated locally (PyPI ``tpchgen-cli``, scale 0.01: lineitem ~60k rows in about a second) and landed through
the platform: the files connector reads the CSV files (``tpchgen-cli csv`` writes a header; the default ``.tbl``
format has none and a trailing ``|``) and the warehouse's own destination writes them to ``raw_<source>``.

The specification's primary and foreign keys are here as data, for the discovery and advice tests and benches.
Fixtures (import them into a test module): ``tpch_files`` (session: the generated directory) and ``tpch_postgres``
(session: a PostgreSQL database of its own holding the eight tables).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlglot import exp

from etl_assets.catalog import raw_namespace
from resources.files import FilesResource
from resources.protocol import WriteMode
from resources.schema import TableSchema

SCALE = 0.01
SOURCE = "tpch"
TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "region": ("r_regionkey",), "nation": ("n_nationkey",), "supplier": ("s_suppkey",),
    "customer": ("c_custkey",), "part": ("p_partkey",), "partsupp": ("ps_partkey", "ps_suppkey"),
    "orders": ("o_orderkey",), "lineitem": ("l_orderkey", "l_linenumber"),
}
FOREIGN_KEYS: list[tuple[str, tuple[str, ...], str, tuple[str, ...]]] = [
    ("nation", ("n_regionkey",), "region", ("r_regionkey",)),
    ("supplier", ("s_nationkey",), "nation", ("n_nationkey",)),
    ("customer", ("c_nationkey",), "nation", ("n_nationkey",)),
    ("partsupp", ("ps_partkey",), "part", ("p_partkey",)),
    ("partsupp", ("ps_suppkey",), "supplier", ("s_suppkey",)),
    ("orders", ("o_custkey",), "customer", ("c_custkey",)),
    ("lineitem", ("l_orderkey",), "orders", ("o_orderkey",)),
    ("lineitem", ("l_partkey", "l_suppkey"), "partsupp", ("ps_partkey", "ps_suppkey")),
    ("lineitem", ("l_partkey",), "part", ("p_partkey",)),
    ("lineitem", ("l_suppkey",), "supplier", ("s_suppkey",)),
]
"""(table, columns, referenced table, referenced columns) of the TPC-H specification (clause 1.4.2)."""


def tpchgen_executable() -> str:
    beside_python = Path(sys.executable).with_name("tpchgen-cli")
    found = str(beside_python) if beside_python.is_file() else shutil.which("tpchgen-cli")
    if not found:
        raise FileNotFoundError("tpchgen-cli is not installed (a dev dependency: `uv sync --dev`)")
    return found


def generate(directory: Path, scale: float = SCALE, timeout_s: float = 120) -> Path:
    """Write the eight tables as ``<table>.csv`` (with a header) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([tpchgen_executable(), "csv", "-s", str(scale), "--output-dir", str(directory), "--overwrite"],
                   check=True, capture_output=True, timeout=timeout_s)
    return directory


def load(warehouse, directory: Path, source: str = SOURCE) -> list[TableSchema]:
    """Land every generated table in ``raw_<source>`` of ``warehouse`` (PostgresResource or ClickHouseResource)
    with the files connector and the warehouse's destination; returns the discovered schemas."""
    files = FilesResource(path=str(directory), source_name=source)
    namespace = raw_namespace(source)
    if warehouse.dialect == "clickhouse":
        create = exp.Create(kind="DATABASE", this=exp.to_identifier(namespace, quoted=True), exists=True)
        warehouse.execute(create.sql("clickhouse"))
    schemas = files.discover()
    for schema in schemas:
        warehouse.ensure_table(namespace, schema)
        warehouse.write(namespace, schema, files.read(schema), WriteMode.REPLACE)
    return schemas


@pytest.fixture(scope="session")
def tpch_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("tpch"))


@pytest.fixture(scope="session")
def tpch_postgres(pg_server, tpch_files: Path) -> Iterator[tuple[str, list[TableSchema]]]:
    """(dsn, schemas) of a database of its own holding TPC-H in ``raw_tpch``; read it, do not change it."""
    from resources.postgres import PostgresResource

    name = f"tpch_{uuid.uuid4().hex[:10]}"
    dsn = pg_server.create_database(name)
    try:
        yield dsn, load(PostgresResource.from_dsn(dsn), tpch_files)
    finally:
        pg_server.drop_database(name)
