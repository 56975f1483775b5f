"""FilesResource as a whole: table resolution, discover -> read round trip, incremental reads, Dagster wiring."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from resources.files import FileFormatError, FilesResource, FileTable, MissingFileError
from resources.protocol import SourceConnector, SourceUnavailableError
from resources.schema import QuarantinedRecord

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "files"


@pytest.fixture
def shop_files(sample_dir: Path) -> FilesResource:
    return FilesResource(path=str(sample_dir / "files"), source_name="shop_files", tables={
        "customers": FileTable(file="customers.csv", format="csv"),
        "products": FileTable(file="products.json", format="json"),
        "stores": FileTable(file="stores.xml", format="xml", record_path="store"),
    })


def test_is_a_source_connector(shop_files: FilesResource) -> None:
    assert isinstance(shop_files, SourceConnector)


def test_discover_read_round_trip_without_dagster(shop_files: FilesResource) -> None:
    schemas = shop_files.discover()
    assert [(s.source, s.name) for s in schemas] == [("shop_files", "customers"), ("shop_files", "products"),
                                                     ("shop_files", "stores")]
    counts = {}
    for schema in schemas:
        batches = list(shop_files.read(schema))
        assert all(batch.schema == schema.arrow_schema() for batch in batches)
        counts[schema.name] = sum(batch.num_rows for batch in batches)
    assert counts == {"customers": 300, "products": 48, "stores": 8}


def test_since_filters_on_the_cursor_and_max_cursor_streams(shop_files: FilesResource) -> None:
    customers = shop_files.discover_table("customers")
    customers.cursor_column = "signup_at"
    highest = shop_files.max_cursor(customers)
    assert isinstance(highest, dt.datetime) and highest.tzinfo is not None
    rows = [row for batch in shop_files.read(customers) for row in batch.to_pylist()]
    assert highest == max(row["signup_at"] for row in rows)
    since = sorted(row["signup_at"] for row in rows)[250]
    newer = [row for batch in shop_files.read(customers, since=since) for row in batch.to_pylist()]
    assert len(newer) == sum(1 for row in rows if row["signup_at"] >= since) >= 50
    as_text = [r for b in shop_files.read(customers, since=since.isoformat()) for r in b.to_pylist()]
    assert len(as_text) == len(newer)
    naive = [r for b in shop_files.read(customers, since=since.replace(tzinfo=None)) for r in b.to_pylist()]
    assert len(naive) == len(newer)
    customers.cursor_column = None
    with pytest.raises(ValueError, match="`since` needs a cursor column"):
        list(shop_files.read(customers, since=since))


def test_max_cursor_of_a_date_column_and_without_cursor(shop_files: FilesResource) -> None:
    stores = shop_files.discover_table("stores")
    assert shop_files.max_cursor(stores) is None
    stores.cursor_column = "opened"
    assert shop_files.max_cursor(stores) == dt.date(2023, 1, 2)


def test_without_tables_every_data_file_is_a_table_named_by_its_stem(tmp_path: Path, sample_dir: Path) -> None:
    for name in ("customers.csv", "products.json", "stores.xml"):
        shutil.copy(sample_dir / "files" / name, tmp_path / name)
    shutil.copy(FIXTURES / "events.ndjson", tmp_path / "Click Events-2025.ndjson")
    (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="dropzone")
    assert sorted(s.name for s in files.discover()) == ["click_events_2025", "customers", "products", "stores"]


def test_two_files_with_one_stem_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "a.json").write_text('[{"x": 1}]', encoding="utf-8")
    with pytest.raises(FileFormatError, match="a.csv and a.json would both be table 'a'"):
        FilesResource(path=str(tmp_path), source_name="s").discover()


def test_glob_reads_every_matching_file_in_order(tmp_path: Path) -> None:
    for day in (2, 1, 3):
        (tmp_path / f"orders_2025-01-0{day}.csv").write_text(f"id,day\n{day}0,2025-01-0{day}\n{day}1,2025-01-0{day}\n",
                                                           encoding="utf-8")
    (tmp_path / "orders_2025-01-04.csv").write_text("id,day\n40,2025-01-04\n41\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="s", tables={"orders": FileTable(file="orders_*.csv")})
    schema = files.discover_table("orders")
    bad: list[QuarantinedRecord] = []
    ids = [row["id"] for batch in files.read(schema, on_bad_record=bad.append) for row in batch.to_pylist()]
    assert ids == [10, 11, 20, 21, 30, 31, 40]
    assert [b.location for b in bad] == ["orders_2025-01-04.csv:line 3"]
    assert [state[0] for state in files.file_states("orders")] == [f"orders_2025-01-0{d}.csv" for d in (1, 2, 3, 4)]


def test_missing_file_and_directory_name_the_path(tmp_path: Path) -> None:
    (tmp_path / "here.csv").write_text("x\n1\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="s",
                          tables={"t": FileTable(file="gone.csv"), "ok": FileTable(file="here.csv")})
    schemas, failed = files.discover_tables()
    assert [schema.name for schema in schemas] == ["ok"], "a missing file fails only its own table"
    assert failed == {"t": f"files source 's', table 't': file not found: {tmp_path / 'gone.csv'}"}
    with pytest.raises(MissingFileError, match=f"file not found: {tmp_path / 'gone.csv'}") as raised:
        files.discover_table("t")
    assert isinstance(raised.value, SourceUnavailableError) and isinstance(raised.value, FileNotFoundError)
    with pytest.raises(MissingFileError, match=f"directory not found: {tmp_path / 'nope'}"):
        FilesResource(path=str(tmp_path / "nope"), source_name="s").discover()


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("x\n1\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="s", tables={"t": FileTable(file="data.txt")})
    with pytest.raises(FileFormatError, match="unknown format 'data.txt'; set `format`"):
        files.discover_table("t")
    assert files.discover() == []
    files = FilesResource(path=str(tmp_path), source_name="s", tables={"t": FileTable(file="data.txt", format="csv")})
    assert [c.name for c in files.discover_table("t").columns] == ["x"]


def test_relative_path_resolves_against_the_project(monkeypatch: pytest.MonkeyPatch, sample_dir: Path) -> None:
    monkeypatch.setenv("AIETL_PROJECT_DIR", str(sample_dir.parent.parent))
    files = FilesResource(path="data/sample/files", source_name="s", tables={"c": FileTable(file="customers.csv")})
    assert files.directory() == (sample_dir / "files").resolve()


def test_materialize_reports_loaded_and_quarantined_counts() -> None:
    files = FilesResource(path=str(FIXTURES), source_name="fx", tables={
        "ragged": FileTable(file="ragged.csv"), "nan": FileTable(file="nan.json")})
    schemas = {schema.name: schema for schema in files.discover()}

    def land(name: str) -> dg.AssetsDefinition:
        @dg.asset(name=name, key_prefix=["raw", "fx"], required_resource_keys={"source_fx"})
        def _asset(context):  # annotations are strings here (__future__), which Dagster rejects
            source: FilesResource = context.resources.source_fx
            bad: list[QuarantinedRecord] = []
            rows = sum(batch.num_rows for batch in source.read(schemas[name], on_bad_record=bad.append))
            return dg.MaterializeResult(metadata={"rows_loaded": rows, "rows_quarantined": len(bad),
                                                  "first_bad": bad[0].location})

        return _asset

    result = dg.materialize([land("ragged"), land("nan")], resources={"source_fx": files})
    assert result.success
    materializations = [event.event_specific_data.materialization
                        for event in result.get_asset_materialization_events()]
    metadata = {m.asset_key.path[-1]: {k: v.value for k, v in m.metadata.items()} for m in materializations}
    assert metadata["ragged"] == {"rows_loaded": 3, "rows_quarantined": 2, "first_bad": "ragged.csv:line 3"}
    assert metadata["nan"] == {"rows_loaded": 2, "rows_quarantined": 2, "first_bad": "nan.json:record 2"}


def test_numeric_cursor_accepts_a_decimal_watermark(shop_files: FilesResource) -> None:
    stores = shop_files.discover_table("stores")
    stores.cursor_column = "id"
    ids = [row["id"] for batch in shop_files.read(stores, since=Decimal("6.5")) for row in batch.to_pylist()]
    assert ids == [7, 8]
