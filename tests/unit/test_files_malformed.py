"""The catalogue of malformed files (tests/fixtures/malformed/cases.py): every case is a clear rejection naming the
file, or quarantined records with their reason while every valid record lands; never a crash of another kind."""

from pathlib import Path

import pytest

from resources.files import FileFormatError, FilesResource, FileTable
from resources.schema import QuarantinedRecord
from tests.fixtures.malformed.cases import Land, Reject, cases

CASES = cases()
ACROSS = {"json": "JSON", "ndjson": "JSON", "csv": "CSV", "xml": "XML"}


def read_case(directory: Path, case) -> tuple[list[dict], list[QuarantinedRecord]]:
    (directory / case.file).write_bytes(case.data)
    table = FileTable(file=case.file, record_path=case.record_path)
    files = FilesResource(path=str(directory), source_name="bad", tables={"t": table, "good": FileTable(file="ok.csv")})
    (directory / "ok.csv").write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    schemas, failed = files.discover_tables()
    assert "good" in {schema.name for schema in schemas}, "a bad file must fail only its own table"
    if "t" in failed:
        raise FileFormatError(failed["t"])
    bad: list[QuarantinedRecord] = []
    schema = next(schema for schema in schemas if schema.name == "t")
    rows = [row for batch in files.read(schema, on_bad_record=bad.append) for row in batch.to_pylist()]
    return rows, bad


def test_the_catalogue_has_at_least_a_hundred_cases_across_the_three_formats():
    assert len(CASES) >= 100
    assert len({case.name for case in CASES}) == len(CASES)
    per_format = {kind: sum(1 for c in CASES if ACROSS[c.file.rsplit(".", 1)[1]] == kind) for kind in ("JSON", "CSV", "XML")}
    assert min(per_format.values()) >= 15, per_format


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_malformed_file_is_rejected_clearly_or_quarantined_per_record(tmp_path, case):
    if isinstance(case.expect, Reject):
        with pytest.raises(FileFormatError) as raised:
            read_case(tmp_path, case)
        message = str(raised.value)
        assert case.file in message, f"the error does not name the file: {message}"
        assert case.expect.reason in message, message
        return
    assert isinstance(case.expect, Land)
    rows, bad = read_case(tmp_path, case)
    assert len(rows) == case.expect.rows, (rows, [(b.location, b.reason) for b in bad])
    assert len(bad) == case.expect.quarantined, [(b.location, b.reason) for b in bad]
    for record in bad:
        assert record.location.startswith(case.file), record.location
        assert record.reason
        assert "\x00" not in record.raw + record.reason, "quarantined text must be storable (no NUL)"
        record.raw.encode("utf-8")
    if bad:
        assert case.expect.reason in bad[0].reason, [(b.location, b.reason) for b in bad]
