"""How one file table is read: the settings a user may give (all optional), Dagster-free."""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = ("csv", "json", "ndjson", "xml")
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".xml": "xml"}


@dataclass(frozen=True)
class FileOptions:
    format: str
    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    record_path: str | None = None
