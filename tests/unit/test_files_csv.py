"""CSV reading: sniffing, streaming, and every kind of bad input (quarantined with its line, the rest loads)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from resources.files import FileFormatError, FilesResource, FileTable
from resources.schema import Column, QuarantinedRecord, TableSchema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "files"


def resource(directory: Path = FIXTURES, **tables: FileTable) -> FilesResource:
    return FilesResource(path=str(directory), source_name="fx", tables=tables)


def load(table: str, file: str, schema: TableSchema | None = None, **settings):
    files = resource(**{table: FileTable(file=file, **settings)})
    schema = schema or files.discover_table(table)
    bad: list[QuarantinedRecord] = []
    batches = list(files.read(schema, on_bad_record=bad.append))
    for batch in batches:
        assert batch.schema == schema.arrow_schema()
    rows = [row for batch in batches for row in batch.to_pylist()]
    return schema, rows, bad


def types(schema: TableSchema) -> dict[str, str]:
    return {column.name: column.logical_type for column in schema.columns}


def test_sample_customers_discover_and_read(sample_dir: Path) -> None:
    files = resource(sample_dir / "files", customers=FileTable(file="customers.csv"))
    [schema] = files.discover()
    assert types(schema) == {
        "customer_id": "int64", "first_name": "string", "last_name": "string", "email": "string",
        "phone": "string", "city": "string", "signup_at": "timestamptz", "is_vip": "bool",
    }
    assert schema.cursor_candidates == ["signup_at"]
    assert schema.row_estimate == 300
    rows = [row for batch in files.read(schema) for row in batch.to_pylist()]
    assert len(rows) == 300
    assert rows[0]["customer_id"] == 1 and rows[0]["phone"] is None and rows[0]["is_vip"] is False
    assert rows[0]["signup_at"] == dt.datetime(2025, 7, 20, 6, 29, tzinfo=dt.timezone.utc)


def test_ragged_rows_are_quarantined_with_their_physical_line() -> None:
    _, rows, bad = load("ragged", "ragged.csv")
    assert [row["id"] for row in rows] == [1, 3, 5]
    assert [(b.location, b.reason) for b in bad] == [
        ("ragged.csv:line 3", "ragged row: expected 3 fields, found 2"),
        ("ragged.csv:line 6", "ragged row: expected 3 fields, found 4"),
    ]
    assert bad[1].raw == "4,Dan,1,extra" and bad[0].source == "fx" and bad[0].table == "ragged"


def test_unbalanced_quote_quarantines_its_line_and_the_following_lines_still_load() -> None:
    _, rows, bad = load("quote", "unbalanced_quote.csv")
    assert [(row["id"], row["amount"]) for row in rows] == [(1, 10.5), (3, 30.0), (4, 40.0)]
    assert len(bad) == 1
    assert bad[0].location == "unbalanced_quote.csv:line 3" and "unbalanced quote" in bad[0].reason
    assert bad[0].raw == '2,"Bob,20'


def test_truncated_last_line_is_quarantined() -> None:
    _, rows, bad = load("truncated", "truncated.csv")
    assert [row["id"] for row in rows] == [1, 2]
    assert [(b.location, b.raw) for b in bad] == [("truncated.csv:line 4", "3,Ci")]


def test_cp1252_file_is_detected_and_decoded() -> None:
    _, rows, bad = load("cp", "cp1252.csv")
    assert bad == []
    assert [row["city"] for row in rows] == ["Málaga", "Zürich", "Paris"]
    assert rows[1]["note"] == "naïve – ok"


def test_wrong_configured_encoding_quarantines_undecodable_lines_only() -> None:
    _, rows, bad = load("cp", "cp1252.csv", encoding="utf-8")
    assert [row["id"] for row in rows] == [3]
    assert [b.location for b in bad] == ["cp1252.csv:line 2", "cp1252.csv:line 3"]
    assert all("not valid utf-8" in b.reason for b in bad)


def test_one_undecodable_line_in_a_utf8_file() -> None:
    _, rows, bad = load("mixed", "bad_line_utf8.csv")
    assert [row["city"] for row in rows] == ["Berlin", "Paris", "Köln"]
    assert [b.location for b in bad] == ["bad_line_utf8.csv:line 3"]


def test_values_that_do_not_cast_quarantine_their_row_not_the_batch() -> None:
    schema = TableSchema("fx", "values", [Column("id", "int64"), Column("amount", "float64"), Column("day", "date")])
    _, rows, bad = load("values", "bad_values.csv", schema)
    assert rows == [
        {"id": 1, "amount": 10.5, "day": dt.date(2025, 1, 1)},
        {"id": 4, "amount": 8.0, "day": dt.date(2025, 1, 4)},
    ]
    assert [(b.location, b.reason) for b in bad] == [
        ("bad_values.csv:line 3", "column 'amount': 'abc' is not a valid float64"),
        ("bad_values.csv:line 4", "column 'day': 'not-a-date' is not a valid date"),
    ]
    assert bad[0].raw == "2,abc,2025-01-02"


def test_required_column_empty_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id,name\n1,Ann\n2,\n3,Cid\n", encoding="utf-8")
    schema = TableSchema("fx", "people", [Column("id", "int64"), Column("name", "string", nullable=False)])
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"people": FileTable(file="people.csv")})
    bad: list[QuarantinedRecord] = []
    rows = [row for batch in files.read(schema, on_bad_record=bad.append) for row in batch.to_pylist()]
    assert [row["id"] for row in rows] == [1, 3]
    assert [(b.location, b.reason) for b in bad] == [("people.csv:line 3", "column 'name' is required but empty")]


def test_semicolon_delimiter_quotes_and_doubled_quotes_are_sniffed() -> None:
    schema, rows, bad = load("semi", "semicolon.csv")
    assert bad == [] and [c.name for c in schema.columns] == ["code", "label", "price"]
    assert rows[0]["label"] == "Salt; fine" and rows[1]["label"] == 'He said "hi"'


def test_headerless_file_gets_generated_names_and_types() -> None:
    schema, rows, _ = load("nh", "no_header.csv")
    assert types(schema) == {"column_1": "int64", "column_2": "string", "column_3": "date"}
    assert len(rows) == 3 and rows[0]["column_2"] == "Ann"


def test_header_setting_overrides_detection() -> None:
    schema, rows, _ = load("nh", "no_header.csv", header=True)
    assert [c.name for c in schema.columns] == ["1", "Ann", "2025-01-01"]
    assert len(rows) == 2


def test_quoted_line_breaks_are_values_and_rows_are_located_by_record() -> None:
    schema = TableSchema("fx", "ml", [Column("id", "int64"), Column("comment", "string")])
    _, rows, bad = load("ml", "multiline.csv", schema)
    assert bad == [] and rows[0]["comment"] == "first line\nsecond line" and rows[2]["comment"] == "a,b"


def test_tab_separated_file() -> None:
    schema, rows, _ = load("tabs", "tabs.tsv")
    assert rows == [{"id": 1, "name": "Ann"}, {"id": 2, "name": "Bob"}]


def test_empty_file_is_a_clear_error() -> None:
    with pytest.raises(FileFormatError, match=r"empty\.csv: the file is empty"):
        resource(e=FileTable(file="empty.csv")).discover_table("e")


def test_blank_lines_and_bad_rows_far_apart_keep_exact_line_numbers(tmp_path: Path) -> None:
    lines = ["id,value"]
    expected_bad = {}
    for number in range(2, 5002):
        if number % 997 == 0:
            lines.append("")
        elif number % 1009 == 0:
            lines.append(f"{number},x,extra")
            expected_bad[number] = f"{number},x,extra"
        elif number % 1013 == 0:
            lines.append(f"{number},not-a-number")
            expected_bad[number] = f"{number},not-a-number"
        else:
            lines.append(f"{number},{number * 2}")
    (tmp_path / "many.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    schema = TableSchema("fx", "many", [Column("id", "int64"), Column("value", "int64")])
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"many": FileTable(file="many.csv")},
                          batch_rows=300)
    bad: list[QuarantinedRecord] = []
    rows = [row for batch in files.read(schema, on_bad_record=bad.append) for row in batch.to_pylist()]
    assert {int(b.location.split("line ")[1]): b.raw for b in bad} == expected_bad
    assert all(row["value"] == row["id"] * 2 for row in rows)
    assert len(rows) == 5000 - len(expected_bad) - sum(1 for n in range(2, 5002) if n % 997 == 0)


def test_large_file_streams_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = 300_000
    with path.open("w", encoding="utf-8") as out:
        out.write("id,user,amount,created_at,city\n")
        for index in range(rows):
            out.write(f"{index},user{index % 977},{index % 1000 / 10},2025-01-01T00:00:{index % 60:02d}Z,Berlin\n")
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"big": FileTable(file="big.csv")},
                          batch_rows=20_000)
    schema = files.discover_table("big")
    assert schema.row_estimate == pytest.approx(rows, rel=0.1)
    baseline = pa.total_allocated_bytes()
    total, largest, peak_arrow_bytes = 0, 0, 0
    for batch in files.read(schema):
        total += batch.num_rows
        largest = max(largest, batch.num_rows)
        peak_arrow_bytes = max(peak_arrow_bytes, pa.total_allocated_bytes() - baseline)
    assert total == rows
    assert largest <= 40_000
    assert peak_arrow_bytes < path.stat().st_size / 3


def test_bom_crlf_and_utf16_files(tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + "id,name\r\n1,Ann\r\n\r\n2,Zoë\r\n3\r\n".encode())
    (tmp_path / "wide.csv").write_bytes("id,name\n1,Ann\n2,Zoë\n".encode("utf-16"))
    files = FilesResource(path=str(tmp_path), source_name="fx")
    for name in ("bom", "wide"):
        schema = files.discover_table(name)
        assert [column.name for column in schema.columns] == ["id", "name"]
        bad: list[QuarantinedRecord] = []
        rows = [row for batch in files.read(schema, on_bad_record=bad.append) for row in batch.to_pylist()]
        assert rows == [{"id": 1, "name": "Ann"}, {"id": 2, "name": "Zoë"}]
        assert [b.location for b in bad] == (["bom.csv:line 5"] if name == "bom" else [])


def test_a_line_torn_by_a_writer_appending_during_the_read_is_quarantined_not_landed(tmp_path: Path) -> None:
    path = tmp_path / "growing.csv"
    rows = 700_000  # far more blocks than pyarrow reads ahead, so the append lands before the reader's end
    path.write_bytes(b"id,name\n" + b"".join(b"%d,name_%d\n" % (i, i) for i in range(rows)) + b"999999,to")
    files = FilesResource(path=str(tmp_path), source_name="s", tables={"g": FileTable(file="growing.csv")},
                          batch_rows=1000)
    schema = files.discover_table("g")
    bad: list[QuarantinedRecord] = []
    batches = files.read(schema, on_bad_record=bad.append)
    landed = next(batches).num_rows
    with path.open("ab") as writer:
        writer.write(b"rn\n1000000,appended\n")
    landed += sum(batch.num_rows for batch in batches)
    assert landed == rows, "every whole line read lands; the torn one and those appended after it wait"
    assert [(b.location, b.raw) for b in bad] == [(f"growing.csv:line {rows + 2}", "999999,to")]
    assert "torn: the file grew while it was read" in bad[0].reason
    again = [row["id"] for batch in files.read(files.discover_table("g")) for row in batch.to_pylist()]
    assert again[-2:] == [999999, 1000000] and len(again) == rows + 2


def test_a_header_with_an_empty_and_a_repeated_label_is_a_header(tmp_path: Path) -> None:
    (tmp_path / "sloppy.csv").write_text("id,,name,name\n1,x,a,b\n2,y,c,d\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="s", tables={"t": FileTable(file="sloppy.csv")})
    schema = files.discover_table("t")
    assert [c.name for c in schema.columns] == ["id", "column_2", "name", "name_2"]
    assert [row["id"] for batch in files.read(schema) for row in batch.to_pylist()] == [1, 2]


def test_a_good_csv_replaced_by_binary_garbage_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("id,name\n1,a\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="s", tables={"t": FileTable(file="data.csv")})
    schema = files.discover_table("t")
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(20_000)))
    with pytest.raises(FileFormatError, match="data.csv: binary data, not CSV text"):
        list(files.read(schema))
