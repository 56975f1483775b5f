"""JSON arrays, nested record paths and NDJSON: streamed, with bad records quarantined by record/line number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources.files import FileFormatError, FilesResource, FileTable
from resources.schema import Column, QuarantinedRecord, TableSchema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "files"


def load(file: str, schema: TableSchema | None = None, directory: Path = FIXTURES, **settings):
    files = FilesResource(path=str(directory), source_name="fx", tables={"t": FileTable(file=file, **settings)})
    schema = schema or files.discover_table("t")
    bad: list[QuarantinedRecord] = []
    batches = list(files.read(schema, on_bad_record=bad.append))
    assert all(batch.schema == schema.arrow_schema() for batch in batches)
    return schema, [row for batch in batches for row in batch.to_pylist()], bad


def test_sample_products_nested_lists_become_json(sample_dir: Path) -> None:
    schema, rows, bad = load("products.json", directory=sample_dir / "files")
    logical = {column.name: column.logical_type for column in schema.columns}
    assert logical == {"product_id": "int64", "sku": "string", "name": "string", "category": "string",
                       "description": "string", "price": "float64", "tags": "json", "in_stock": "bool"}
    assert bad == [] and len(rows) == 48
    assert json.loads(rows[0]["tags"]) == ["kitchen", "classic"] and rows[0]["in_stock"] is False


def test_nan_and_infinity_quarantine_the_record() -> None:
    _, rows, bad = load("nan.json")
    assert [row["id"] for row in rows] == [1, 4]
    assert [(b.location, b.raw) for b in bad] == [
        ("nan.json:record 2", '{"id": 2, "price": NaN}'), ("nan.json:record 3", '{"id": 3, "price": Infinity}')]
    assert "NaN is not valid JSON" in bad[0].reason and "Infinity is not valid JSON" in bad[1].reason


def test_duplicate_keys_at_any_depth_quarantine_the_record() -> None:
    _, rows, bad = load("duplicate_keys.json")
    assert [row["id"] for row in rows] == [1]
    assert [b.location for b in bad] == ["duplicate_keys.json:record 2", "duplicate_keys.json:record 3"]
    assert "duplicate key(s) ['name']" in bad[0].reason and "ambiguous" in bad[0].reason
    assert "duplicate key(s) ['k']" in bad[1].reason


def test_truncated_array_keeps_complete_records() -> None:
    _, rows, bad = load("truncated.json")
    assert [row["id"] for row in rows] == [1, 2]
    assert [(b.location, b.reason, b.raw) for b in bad] == [
        ("truncated.json:record 3", "truncated: the file ends inside this record", '{"id": 3, "na')]


def test_syntax_error_skips_to_the_next_record() -> None:
    _, rows, bad = load("syntax_error.json")
    assert [row["id"] for row in rows] == [1, 3, 4]
    assert len(bad) == 1 and bad[0].location == "syntax_error.json:record 2"
    assert "Expecting ',' delimiter at line 3" in bad[0].reason and bad[0].raw == '{"id": 2 "name": "b"}'


def test_values_that_are_not_objects_are_quarantined() -> None:
    _, rows, bad = load("not_objects.json")
    assert [row["id"] for row in rows] == [1, 2]
    assert [b.reason for b in bad] == ["a JSON int where a record (a JSON object) was expected",
                                       "a JSON str where a record (a JSON object) was expected"]


def test_record_path_walks_into_the_document_and_skips_other_keys() -> None:
    schema, rows, bad = load("nested.json", record_path="data.items")
    assert [(c.name, c.logical_type) for c in schema.columns] == [("id", "int64"), ("tags", "json"), ("dims", "json")]
    assert bad == [] and rows == [{"id": 1, "tags": '["x"]', "dims": '{"w": 1}'}, {"id": 2, "tags": "[]", "dims": None}]


def test_missing_record_path_key_is_a_clear_error() -> None:
    with pytest.raises(FileFormatError, match=r"nested\.json: record_path key 'rows' not found"):
        load("nested.json", record_path="data.rows")


def test_ndjson_bad_lines_duplicates_and_truncation() -> None:
    schema, rows, bad = load("events.ndjson")
    assert [(c.name, c.logical_type) for c in schema.columns] == [("id", "int64"), ("at", "timestamptz")]
    assert [row["id"] for row in rows] == [1, 2, 5]
    assert [b.location for b in bad] == ["events.ndjson:line 4", "events.ndjson:line 5", "events.ndjson:line 7"]
    assert "invalid JSON" in bad[0].reason and "duplicate key" in bad[1].reason and "truncated" in bad[2].reason


def test_json_extension_with_one_object_per_line_is_read_as_ndjson() -> None:
    _, rows, bad = load("lines.json")
    assert rows == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}] and bad == []


def test_mixed_value_types_cast_per_row(tmp_path: Path) -> None:
    schema = TableSchema("fx", "t", [Column("id", "int64"), Column("price", "float64"), Column("name", "string")])
    records = '[{"id": 1, "price": "2.5", "name": 7}, {"id": "x", "price": 1}, {"id": 3.5}, {"id": 4, "price": [1]}]'
    (tmp_path / "mixed.json").write_text(records, encoding="utf-8")
    _, rows, bad = load("mixed.json", schema, directory=tmp_path)
    assert rows == [{"id": 1, "price": 2.5, "name": "7"}]
    assert [b.location for b in bad] == ["mixed.json:record 2", "mixed.json:record 3", "mixed.json:record 4"]
    assert bad[0].reason == "column 'id': 'x' is not a valid int64"


def test_large_array_streams_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        out.write(",\n".join(json.dumps({"id": i, "name": f"n{i}", "tags": [i % 7], "at": "2025-01-01T00:00:00Z"})
                             for i in range(60_000)))
        out.write("\n]\n")
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"big": FileTable(file="big.json")},
                          batch_rows=5_000)
    schema = files.discover_table("big")
    assert schema.cursor_candidates == ["at"]
    sizes = [batch.num_rows for batch in files.read(schema)]
    assert sum(sizes) == 60_000 and max(sizes) == 5_000
