"""The issue's bad input through profile -> recommendation -> DDL, applied on the real engines (PostgreSQL, chdb):
identifiers that need quoting in every dialect, a table of 1,000 columns, a one-row table, a table whose only
candidate key is all its columns, and a time column with a few outliers years away. Each DDL runs twice (idempotent)
and the table then holds the rows.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlglot import exp

from etl_assets.ddl.build import apply_ddl, build_all, build_ddl
from etl_assets.profile.profiler import profile_arrow
from etl_assets.recommend.decisions import recommend
from resources.clickhouse import ClickHouseResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema

pytestmark = pytest.mark.integration
HOSTILE = ['select', 'order', 'a"quote', 'back`tick', "it's", 'with space', 'Ünïcode', '1digit', 'dot.ted', 'UPPER',
           'upper', '-- comment', 'semi;colon']


def cases() -> dict[str, pa.Table]:
    start = dt.date(2020, 1, 1)
    days = [start + dt.timedelta(days=i % 400) for i in range(5_000)]
    days[:3] = [dt.date(1901, 1, 1), dt.date(1950, 6, 1), dt.date(2099, 12, 31)]
    return {
        'ta"ble; drop': pa.table({name: [f"{i % 7}{name}" for i in range(50)] for name in HOSTILE}
                                 | {"n": list(range(50))}),
        "wide": pa.table({f"c{i}": [i, i + 1, i] for i in range(1_000)}),
        "one_row": pa.table({"a": ["x"], "b": [1]}),
        "all_columns_key": pa.table({"a": ["x", "x", "y", "y"], "b": [1, 2, 1, 2]}),
        "outliers": pa.table({"day": days, "carrier": [["AA", "UA", "DL"][i % 3] for i in range(5_000)],
                              "delay": [i % 90 for i in range(5_000)]}),
    }


@pytest.mark.parametrize("name", list(cases()))
def test_bad_input_advice_and_ddl_stay_sane_and_apply(name: str, pg_dsn: str, chdb_path: str) -> None:
    data = cases()[name]
    profile = profile_arrow(data, "bad src", name, primary_key=[])
    decided = recommend(profile)
    schema = TableSchema("bad src", name, [Column(c.name, c.logical_type) for c in profile.columns])
    ddl = build_all(schema, decided, namespace="bad ns", profile=profile)
    assert set(ddl) == {"postgres", "clickhouse", "mysql", "redshift", "snowflake", "bigquery"}
    if name == "outliers":
        assert decided.partition_by is None  # 5,000 rows: no partitions at all, outliers or not
    if name == "all_columns_key":
        assert sorted(decided.primary_key) in ([], ["a", "b"])
    for warehouse in (PostgresResource.from_dsn(pg_dsn), ClickHouseResource(chdb_path=chdb_path)):
        script = build_ddl(schema, decided, warehouse.dialect, namespace="bad ns", profile=profile).sql()
        assert apply_ddl(warehouse, script) >= 2
        apply_ddl(warehouse, script)  # IF NOT EXISTS everywhere: a rerun changes nothing
        columns = [column for column, _ in warehouse.table_columns("bad ns", name)]
        assert columns == [c.name for c in schema.columns]
        warehouse.write("bad ns", schema, data.to_batches(), "append")
        counted = warehouse.query_arrow(f"SELECT count(*) AS n FROM {_ref(warehouse.dialect, name)}")
        assert counted.column(0)[0].as_py() == data.num_rows, warehouse.dialect


def _ref(dialect: str, name: str) -> str:
    return exp.Table(this=exp.to_identifier(name, quoted=True),
                     db=exp.to_identifier("bad ns", quoted=True)).sql(dialect=dialect)
