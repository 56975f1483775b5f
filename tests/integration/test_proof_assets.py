"""The proof asset materialized by Dagster after the real profile, recommendation and DDL assets, on a real
PostgreSQL warehouse and on the ClickHouse engine (chdb): both layouts built, the same sample in both, sizes and
query times recorded, the measurement schemas gone afterwards, and a bad layout flagged instead of hidden."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from etl_assets.catalog import SourceTable
from etl_assets.config.models import CheckSettings, SyncSettings
from etl_assets.ddl.assets import build_ddl_assets
from etl_assets.inputs import OPTIONAL_INPUT_KEY, stored_or_none
from etl_assets.keys import relationships_key
from etl_assets.profile.assets import build_profile_assets
from etl_assets.proof.assets import CHECK, build_proof_assets, proof_key
from etl_assets.proof.engines import ClickHouseEngine
from etl_assets.proof.measure import NAMESPACE_PREFIX, proof_namespaces
from etl_assets.proof.model import Proof
from etl_assets.recommend.assets import build_recommendation_assets
from etl_assets.recommend.model import Recommendation
from etl_assets.relationships.assets import build_relationship_assets
from etl_assets.relationships.model import CandidateKey, Relationships, TableRef
from etl_assets.reports.assets import build_report_assets
from resources.clickhouse import ClickHouseResource
from resources.llm import LlmResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.schema import Column, TableSchema

pytestmark = pytest.mark.integration

ROWS = 20_000
FLIGHTS = TableSchema("air", "flights", [
    Column("flight_id", "int64"), Column("carrier", "string"), Column("origin", "string"),
    Column("dep_time", "timestamptz"), Column("dep_delay", "float64"), Column("distance", "int64"),
])
PG_FILL = """
INSERT INTO raw_air.flights
SELECT n, (ARRAY['AA','DL','UA','WN','B6','AS','NK','F9'])[1 + n %% 8], 'O' || (n %% 60)::text,
       timestamptz '2024-01-01 00:00:00+00' + (n * 1577) * interval '1 second', (n %% 97) - 20.0, 100 + n %% 2500
FROM generate_series(1, %s) AS n"""
CH_FILL = """
INSERT INTO raw_air.flights
SELECT n, ['AA','DL','UA','WN','B6','AS','NK','F9'][1 + n % 8], concat('O', toString(n % 60)),
       toDateTime64('2024-01-01 00:00:00', 6, 'UTC') + toIntervalSecond(n * 1577), (n % 97) - 20.0, 100 + n % 2500
FROM (SELECT number + 1 AS n FROM numbers({rows:UInt64}))"""


def flights() -> SourceTable:
    return SourceTable(kind="files", schema=FLIGHTS, sync=SyncSettings(), batch_size=10_000, semantic_search=False,
                       text_columns=(), checks=CheckSettings(), target="warehouse")


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))


@dg.asset(key=relationships_key())
def found_relationships() -> Relationships:
    """What discovery finds in this one-table warehouse: the key of flights, no foreign keys."""
    return Relationships(keys=[CandidateKey(TableRef("air", "flights"), ("flight_id",))])


def graph(recommendation: dg.AssetsDefinition | None = None) -> list:
    table = flights()
    recommendations = [recommendation] if recommendation else build_recommendation_assets([table])
    return [*build_profile_assets([table], retry_policy=None), found_relationships, *recommendations,
            *build_ddl_assets([table]), *build_proof_assets([table])]


def proof_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK]
    return check


def run(warehouse: object, pg_dsn: str, assets: list | None = None, sample_rows: int = ROWS,
        **materialize: object) -> dg.ExecuteInProcessResult:
    node = proof_key("air", "flights").to_python_identifier()
    return dg.materialize(
        assets or graph(),
        resources={"warehouse": warehouse, "llm": LlmResource(), OPTIONAL_INPUT_KEY: stored_or_none,
                   "metadata": MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))},
        run_config={"ops": {node: {"config": {"sample_rows": sample_rows, "runs": 3}}}},
        instance=dg.DagsterInstance.ephemeral(), **materialize,
    )


def proof_of(result: dg.ExecuteInProcessResult) -> Proof:
    return result.output_for_node(proof_key("air", "flights").to_python_identifier())


def assert_measured(proof: Proof, result: dg.ExecuteInProcessResult, rows: int) -> None:
    assert proof.status == "measured" and proof.rows_loaded == rows, proof.reason
    assert proof.naive_bytes and proof.recommended_bytes and proof.size_ratio
    kinds = {q.kind for q in proof.queries}
    assert {"time_range", "group_by", "point_lookup"} <= kinds, proof.queries
    for query in proof.queries:
        assert query.error is None and len(query.naive_ms) == 3 and len(query.recommended_ms) == 3, query
        engine_timed = proof.dialect == "clickhouse"
        assert query.clock == ("engine" if engine_timed else "wall"), query
        if engine_timed:
            assert all(0 < e <= w for e, w in zip(query.recommended_engine_ms, query.recommended_ms, strict=True))
        assert query.naive_rows == query.recommended_rows, query
    (materialization,) = result.asset_materializations_for_node(proof_key("air", "flights").to_python_identifier())
    metadata = materialization.metadata
    assert metadata["naive_bytes"].value == proof.naive_bytes
    assert metadata["recommended_bytes"].value == proof.recommended_bytes
    assert metadata["summary"].value == proof.summary() and metadata["summary"].value.startswith("recommended layout: ")
    assert "| query | naive engine ms | recommended engine ms | naive wall ms |" in metadata["queries"].value
    assert metadata["speedup_measured_on"].value == proof.clock
    assert f" queries ({proof.clock})" in proof.summary()
    assert metadata["flagged"].value == proof.flagged
    assert proof_check(result).passed == (not proof.flagged)


def test_proof_on_postgres_measures_both_layouts_and_cleans_up(pg_dsn: str) -> None:
    warehouse = PostgresResource.from_dsn(pg_dsn)
    warehouse.execute("CREATE SCHEMA raw_air")
    warehouse.execute("""CREATE TABLE raw_air.flights (flight_id bigint, carrier text, origin text,
                         dep_time timestamptz, dep_delay double precision, distance bigint)""")
    warehouse.execute(PG_FILL, (ROWS,))

    result = run(warehouse, pg_dsn, sample_rows=ROWS // 2)

    assert result.success
    proof = proof_of(result)
    assert_measured(proof, result, ROWS // 2)
    assert proof.dialect == "postgres"
    leftovers = warehouse.query_arrow("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                      (f"{NAMESPACE_PREFIX}%",))
    assert leftovers.num_rows == 0


def test_proof_on_chdb_measures_both_layouts_and_cleans_up(pg_dsn: str, tmp_path: Path) -> None:
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    warehouse.execute("CREATE DATABASE IF NOT EXISTS raw_air")
    warehouse.execute("""CREATE TABLE raw_air.flights (flight_id Nullable(Int64), carrier Nullable(String),
                         origin Nullable(String), dep_time Nullable(DateTime64(6, 'UTC')),
                         dep_delay Nullable(Float64), distance Nullable(Int64)) ENGINE = MergeTree ORDER BY tuple()""")
    warehouse.execute(CH_FILL, {"rows": ROWS})

    result = run(warehouse, pg_dsn)

    assert result.success
    proof = proof_of(result)
    assert_measured(proof, result, ROWS)
    assert proof.dialect == "clickhouse"
    leftovers = warehouse.query_arrow("SELECT name FROM system.databases WHERE startsWith(name, {p:String})",
                                      {"p": NAMESPACE_PREFIX})
    assert leftovers.num_rows == 0


def test_a_sample_too_small_to_measure_is_loaded_but_not_measured(pg_dsn: str) -> None:
    warehouse = PostgresResource.from_dsn(pg_dsn)
    warehouse.execute("CREATE SCHEMA raw_air")
    warehouse.execute("""CREATE TABLE raw_air.flights (flight_id bigint, carrier text, origin text,
                         dep_time timestamptz, dep_delay double precision, distance bigint)""")
    warehouse.execute(PG_FILL, (300,))

    result = run(warehouse, pg_dsn)

    proof = proof_of(result)
    assert (proof.status, proof.rows_loaded, proof.queries, proof.flagged) == ("skipped", 300, [], False)
    assert "holds all 300 rows, too few to measure" in proof.reason and proof_check(result).passed


def test_a_layout_that_cannot_hold_the_sample_is_flagged_and_leaves_nothing(pg_dsn: str) -> None:
    """A recommendation whose key is not unique in the data: the recommended table rejects the sample."""
    warehouse = PostgresResource.from_dsn(pg_dsn)
    warehouse.execute("CREATE SCHEMA raw_air")
    warehouse.execute("""CREATE TABLE raw_air.flights (flight_id bigint, carrier text, origin text,
                         dep_time timestamptz, dep_delay double precision, distance bigint)""")
    warehouse.execute(PG_FILL, (ROWS,))

    @dg.asset(key=["recommendation", "air", "flights"])
    def wrong_recommendation() -> Recommendation:
        return Recommendation("air", "flights", "postgres", primary_key=["carrier"])

    result = run(warehouse, pg_dsn, assets=graph(wrong_recommendation))

    assert result.success
    proof = proof_of(result)
    assert proof.status == "failed" and proof.flagged
    assert "could not be built or hold the sample" in proof.reason and "duplicate key" in proof.reason
    assert proof.summary().startswith("recommended layout FLAGGED: ")
    check = proof_check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert warehouse.query_arrow("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                 (f"{NAMESPACE_PREFIX}%",)).num_rows == 0


def test_a_missing_raw_table_fails_with_its_name(pg_dsn: str) -> None:
    warehouse = PostgresResource.from_dsn(pg_dsn)

    result = run(warehouse, pg_dsn, assets=graph(), raise_on_error=False,
                 selection=dg.AssetSelection.keys(proof_key("air", "flights")).upstream())

    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    assert failures and "raw_air" in str(failures[0].event_specific_data.error)


def test_the_analysis_report_shows_the_proof(pg_dsn: str, tmp_path: Path) -> None:
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    warehouse.execute("CREATE DATABASE IF NOT EXISTS raw_air")
    warehouse.execute("""CREATE TABLE raw_air.flights (flight_id Nullable(Int64), carrier Nullable(String),
                         origin Nullable(String), dep_time Nullable(DateTime64(6, 'UTC')),
                         dep_delay Nullable(Float64), distance Nullable(Int64)) ENGINE = MergeTree ORDER BY tuple()""")
    warehouse.execute(CH_FILL, {"rows": 10_000})
    analysis = build_report_assets([flights()], proofs=True)[0]

    result = run(warehouse, pg_dsn, assets=[*graph(), analysis], sample_rows=10_000)

    assert result.success
    proof = proof_of(result)
    (materialization,) = result.asset_materializations_for_node("reports__analysis")
    assert materialization.metadata["proofs"].value == 1
    markdown = Path(materialization.metadata["path_md"].value).read_text(encoding="utf-8")
    assert proof.summary() in markdown and "Proof by measurement (queries from the profile)" in markdown


def test_the_analysis_report_renders_before_any_proof_ran(pg_dsn: str, tmp_path: Path) -> None:
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    warehouse.execute("CREATE DATABASE IF NOT EXISTS raw_air")
    warehouse.execute("""CREATE TABLE raw_air.flights (flight_id Nullable(Int64), carrier Nullable(String),
                         origin Nullable(String), dep_time Nullable(DateTime64(6, 'UTC')),
                         dep_delay Nullable(Float64), distance Nullable(Int64)) ENGINE = MergeTree ORDER BY tuple()""")
    warehouse.execute(CH_FILL, {"rows": 10_000})
    analysis = build_report_assets([flights()], proofs=True)[0]
    without_proofs = dg.AssetSelection.all() - dg.AssetSelection.keys(proof_key("air", "flights"))

    result = dg.materialize(
        [*graph(), analysis], selection=without_proofs, instance=dg.DagsterInstance.ephemeral(),
        resources={"warehouse": warehouse, "llm": LlmResource(), OPTIONAL_INPUT_KEY: stored_or_none,
                   "metadata": MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))})

    assert result.success
    (materialization,) = result.asset_materializations_for_node("reports__analysis")
    assert materialization.metadata["proofs"].value == 0
    markdown = Path(materialization.metadata["path_md"].value).read_text(encoding="utf-8")
    assert "no proof yet" in markdown and "proof/air/flights" in markdown


CARRIERS = TableSchema("air", "carriers", [Column("code", "string"), Column("name", "string")])
AIRPORTS = TableSchema("air", "airports", [Column("faa", "string"), Column("city", "string"),
                                           Column("altitude", "int64")])


def test_each_layout_joins_its_own_layout_of_the_dimension(pg_dsn: str, tmp_path: Path) -> None:
    """flights -> carriers (8 rows: copied whole) and flights -> airports (30,000 rows, more than the sample: only
    the 60 the sample references), each built in both proof namespaces from its own recommendation."""
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    warehouse.execute("CREATE DATABASE IF NOT EXISTS raw_air")
    warehouse.execute("""CREATE TABLE raw_air.flights (flight_id Nullable(Int64), carrier Nullable(String),
                         origin Nullable(String), dep_time Nullable(DateTime64(6, 'UTC')),
                         dep_delay Nullable(Float64), distance Nullable(Int64)) ENGINE = MergeTree ORDER BY tuple()""")
    warehouse.execute(CH_FILL, {"rows": ROWS})
    warehouse.execute("""CREATE TABLE raw_air.carriers (code Nullable(String), name Nullable(String))
                         ENGINE = MergeTree ORDER BY tuple()""")
    warehouse.execute("""INSERT INTO raw_air.carriers SELECT c, concat('Carrier ', c)
                         FROM (SELECT arrayJoin(['AA','DL','UA','WN','B6','AS','NK','F9']) AS c)""")
    warehouse.execute("""CREATE TABLE raw_air.airports (faa Nullable(String), city Nullable(String),
                         altitude Nullable(Int64)) ENGINE = MergeTree ORDER BY tuple()""")
    warehouse.execute("""INSERT INTO raw_air.airports SELECT concat('O', toString(number)),
                         concat('City ', toString(number % 900)), number % 3000 FROM numbers(30000)""")
    tables = [flights(), *(SourceTable(kind="files", schema=s, sync=SyncSettings(), batch_size=10_000,
                                       semantic_search=False, text_columns=(), checks=CheckSettings(),
                                       target="warehouse") for s in (CARRIERS, AIRPORTS))]
    assets = [*build_profile_assets(tables, retry_policy=None), *build_relationship_assets(tables),
              *build_recommendation_assets(tables), *build_ddl_assets(tables),
              *build_proof_assets(tables, relationships=True)]
    node = proof_key("air", "flights").to_python_identifier()

    result = dg.materialize(
        assets, resources={"warehouse": warehouse, "llm": LlmResource(),
                           "metadata": MetadataResource(postgres=PostgresResource.from_dsn(pg_dsn))},
        run_config={"ops": {node: {"config": {"sample_rows": ROWS, "runs": 2, "keep_tables": True}}}},
        instance=dg.DagsterInstance.ephemeral(), selection=dg.AssetSelection.all() - dg.AssetSelection.keys(
            proof_key("air", "carriers"), proof_key("air", "airports")))

    assert result.success
    proof = result.output_for_node(node)
    joins = [q for q in proof.queries if q.kind == "join"]
    assert sorted(q.name for q in joins) == ["join on carrier -> carriers", "join on origin -> airports"], \
        "\n".join(proof.notes)
    naive_ns, rec_ns = proof_namespaces("air", "flights")
    for query in joins:
        assert query.error is None and query.naive_rows == query.recommended_rows, query
        assert "raw_air" not in query.sql and f'"{rec_ns}"' in query.sql.replace("`", '"'), query.sql
    assert any("dimension air.carriers" in note and "copied whole (8 rows)" in note for note in proof.notes)
    assert any("dimension air.airports" in note and "only its rows the sample references" in note
               for note in proof.notes)

    def count(namespace: str, table: str) -> int:
        return warehouse.query_arrow(f"SELECT count() AS n FROM `{namespace}`.`{table}`").to_pylist()[0]["n"]

    assert count(naive_ns, "airports") == count(rec_ns, "airports") == 60
    assert count(naive_ns, "carriers") == count(rec_ns, "carriers") == 8
    naive_types, rec_types = (dict(warehouse.table_columns(ns, "carriers")) for ns in (naive_ns, rec_ns))
    assert naive_types["code"] == "Nullable(String)" and naive_types["code"] != rec_types["code"], rec_types
    part_types = warehouse.query_arrow("SELECT DISTINCT part_type FROM system.parts WHERE active AND database IN "
                                       "({naive:String}, {rec:String})", {"naive": naive_ns, "rec": rec_ns})
    assert part_types.column("part_type").to_pylist() == ["Wide"], "both layouts are measured in one part format"
    for namespace in (naive_ns, rec_ns):
        warehouse.execute(f"DROP DATABASE IF EXISTS `{namespace}` SYNC")


def test_timed_clickhouse_queries_skip_no_granule_thanks_to_a_cache(tmp_path: Path) -> None:
    """The query condition cache (on by default in chdb) lets a repeated filter on an unsorted table skip the
    granules the first run found empty; the proof's timing must read them all every time, as the first run did."""
    rows = 500_000
    warehouse = ClickHouseResource(chdb_path=str(tmp_path / "chdb"))
    warehouse.execute("CREATE DATABASE IF NOT EXISTS cache_probe")
    warehouse.execute("""CREATE TABLE cache_probe.t (id Nullable(Int64), v Nullable(Int64))
                         ENGINE = MergeTree ORDER BY tuple()""")
    warehouse.execute("INSERT INTO cache_probe.t SELECT number, number % 7 FROM numbers({rows:UInt64})",
                      {"rows": rows})
    warehouse.execute("OPTIMIZE TABLE cache_probe.t FINAL")
    engine = ClickHouseEngine(warehouse)
    statement = "SELECT count() AS n FROM cache_probe.t WHERE id = 123456"

    with warehouse.session():
        warehouse.query_arrow(statement)
        before = engine.selected_rows()
        warehouse.query_arrow(statement)
        cached = engine.selected_rows() - before
        before = engine.selected_rows()
        (timed_runs,) = engine.time([statement], runs=2)
        timed = engine.selected_rows() - before

    assert cached < rows / 2, "control: with default settings the repeated filter skips granules in this engine"
    assert len(timed_runs.wall_ms) == 2 and len(timed_runs.engine_ms) == 2 and timed_runs.rows == 1
    assert all(0 < e <= w for e, w in zip(timed_runs.engine_ms, timed_runs.wall_ms, strict=True))
    assert timed >= 3 * rows, "warm-up and both timed runs each read every row"
    assert engine.rows_read(statement) >= rows
