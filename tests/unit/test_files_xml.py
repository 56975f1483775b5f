"""XML: records at a path, safe against entity bombs and external entities, truncation quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources.files import FileFormatError, FilesResource, FileTable
from resources.schema import Column, QuarantinedRecord, TableSchema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "files"


def files_for(file: str, directory: Path = FIXTURES, **settings) -> FilesResource:
    return FilesResource(path=str(directory), source_name="fx", tables={"t": FileTable(file=file, **settings)})


def load(file: str, directory: Path = FIXTURES, **settings):
    files = files_for(file, directory, **settings)
    schema = files.discover_table("t")
    bad: list[QuarantinedRecord] = []
    rows = [row for batch in files.read(schema, on_bad_record=bad.append) for row in batch.to_pylist()]
    return schema, rows, bad


def test_sample_stores_attributes_and_children_become_typed_columns(sample_dir: Path) -> None:
    schema, rows, bad = load("stores.xml", sample_dir / "files", record_path="store")
    assert [(c.name, c.logical_type) for c in schema.columns] == [
        ("id", "int64"), ("name", "string"), ("city", "string"), ("opened", "date"), ("area_m2", "int64")]
    assert schema.cursor_candidates == ["opened"]
    assert bad == [] and len(rows) == 8 and rows[0]["name"] == "Berlin Central"


def test_unset_record_path_means_children_of_the_root(sample_dir: Path) -> None:
    _, rows, _ = load("stores.xml", sample_dir / "files")
    assert len(rows) == 8


@pytest.mark.parametrize("file, kind", [("bomb.xml", "an entity ('lol')"), ("xxe.xml", "an external entity ('secret')")])
def test_entity_declarations_fail_the_whole_file_with_a_clear_error(file: str, kind: str) -> None:
    files = files_for(file)
    with pytest.raises(FileFormatError) as raised:
        files.discover_table("t")
    message = str(raised.value)
    assert message.startswith(f"{file}: refused to parse: the document declares {kind}")
    assert "entity bombs" in message and "XXE" in message


def test_entity_bomb_is_refused_on_read_too_before_any_batch() -> None:
    files = files_for("bomb.xml")
    schema = TableSchema("fx", "t", [Column("v", "string")])
    batches = []
    with pytest.raises(FileFormatError, match="bomb.xml"):
        for batch in files.read(schema):
            batches.append(batch)
    assert batches == []


def test_truncated_document_keeps_complete_records_and_quarantines_the_rest() -> None:
    _, rows, bad = load("truncated.xml")
    assert rows == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert len(bad) == 1 and bad[0].location == "truncated.xml:line 5"
    assert "malformed XML at line 5" in bad[0].reason and "truncated" in bad[0].reason


def test_namespaces_repeated_and_nested_children() -> None:
    schema, rows, bad = load("catalog.xml", record_path="items/item")
    logical = {c.name: c.logical_type for c in schema.columns}
    assert logical == {"sku": "string", "name": "string", "price": "float64", "tag": "json", "size": "json",
                       "note": "string"}
    assert bad == []
    assert json.loads(rows[0]["tag"]) == ["food", "basic"] and json.loads(rows[1]["tag"]) == "food"
    assert json.loads(rows[0]["size"]) == {"w": "1", "h": "2"} and rows[0]["note"] is None


def test_large_document_streams_in_bounded_batches(tmp_path: Path) -> None:
    with (tmp_path / "big.xml").open("w", encoding="utf-8") as out:
        out.write("<rows>\n")
        for index in range(30_000):
            out.write(f'<row id="{index}"><name>n{index}</name><at>2025-01-01T00:00:00Z</at></row>\n')
        out.write("</rows>\n")
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"big": FileTable(file="big.xml")},
                          batch_rows=4_000)
    schema = files.discover_table("big")
    sizes = [batch.num_rows for batch in files.read(schema)]
    assert sum(sizes) == 30_000 and max(sizes) == 4_000
