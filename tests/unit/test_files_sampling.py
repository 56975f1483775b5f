"""A file is sampled once per version: discovery and the read of one load share the sample; a changed file is
sampled again, so what is read always matches the file on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resources.files import FilesResource, FileTable, csv_format, xml_format


@pytest.fixture
def sniffs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files ``csv_format.sniff`` parsed (a spy around the real function)."""
    seen: list[str] = []
    real = csv_format.sniff

    def counting(path, display, options):
        seen.append(path.name)
        return real(path, display, options)

    monkeypatch.setattr(csv_format, "sniff", counting)
    return seen


@pytest.fixture
def xml_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = xml_format.xml_records

    def counting(path, *args):
        seen.append(path.name)
        return real(path, *args)

    monkeypatch.setattr(xml_format, "xml_records", counting)
    return seen


def rows(files: FilesResource, table: str) -> list[dict]:
    schema = files.discover_table(table)
    return [row for batch in files.read(schema) for row in batch.to_pylist()]


def test_a_load_sniffs_the_csv_once(tmp_path: Path, sniffs: list[str]) -> None:
    (tmp_path / "t.csv").write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"t": FileTable(file="t.csv")})
    assert [row["name"] for row in rows(files, "t")] == ["a", "b"]
    assert sniffs == ["t.csv"]


def test_a_changed_csv_is_sniffed_again_and_read_as_it_is_now(tmp_path: Path, sniffs: list[str]) -> None:
    file = tmp_path / "t.csv"
    file.write_text("id,name\n1,a\n", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"t": FileTable(file="t.csv")})
    assert rows(files, "t") == [{"id": 1, "name": "a"}]
    file.write_text("id;name;score\n1;a;0.5\n2;b;1.5\n", encoding="utf-8")
    assert rows(files, "t") == [{"id": 1, "name": "a", "score": 0.5}, {"id": 2, "name": "b", "score": 1.5}]
    assert sniffs == ["t.csv", "t.csv"]


def test_a_csv_replaced_by_one_of_the_same_size_and_mtime_is_sniffed_again(tmp_path: Path, sniffs: list[str]) -> None:
    file = tmp_path / "t.csv"
    file.write_text("id,name\n1,a\n", encoding="utf-8")
    stat = file.stat()
    files = FilesResource(path=str(tmp_path), source_name="fx", tables={"t": FileTable(file="t.csv")})
    rows(files, "t")
    replacement = tmp_path / "t.csv.new"
    replacement.write_text("id;name\n1;b\n", encoding="utf-8")
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, file)
    assert rows(files, "t") == [{"id": 1, "name": "b"}]
    assert sniffs == ["t.csv", "t.csv"]


def test_xml_is_sampled_once_per_version_too(tmp_path: Path, xml_parses: list[str]) -> None:
    file = tmp_path / "s.xml"
    file.write_text("<r><s id='1'><n>a</n></s></r>", encoding="utf-8")
    files = FilesResource(path=str(tmp_path), source_name="fx",
                          tables={"s": FileTable(file="s.xml", record_path="s")})
    rows(files, "s")
    rows(files, "s")
    assert xml_parses == ["s.xml", "s.xml", "s.xml"]
    file.write_text("<r><s id='1'><n>a</n><k>2</k></s></r>", encoding="utf-8")
    assert rows(files, "s") == [{"id": 1, "n": "a", "k": 2}]
    assert xml_parses == ["s.xml", "s.xml", "s.xml", "s.xml", "s.xml"]


def test_the_sample_cache_is_bounded(tmp_path: Path, sniffs: list[str]) -> None:
    tables = {}
    for index in range(30):
        (tmp_path / f"t{index}.csv").write_text("id\n1\n", encoding="utf-8")
        tables[f"t{index}"] = FileTable(file=f"t{index}.csv")
    files = FilesResource(path=str(tmp_path), source_name="fx", tables=tables)
    for name in tables:
        files.discover_table(name)
    assert len(sniffs) == 30
    assert len(files._samples) <= 16
