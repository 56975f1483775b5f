"""Pieces shared by the file formats: errors, the quarantine sink and the chunk a format hands to the caster."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from dagster import get_dagster_logger

from resources.protocol import OnBadRecord, SourceUnavailableError
from resources.schema import QuarantinedRecord

RAW_LIMIT = 4096
"""Characters of a bad record's raw text kept in quarantine."""

log = get_dagster_logger("resources.files")


class FileFormatError(ValueError):
    """The whole file cannot be read (unsafe XML, not JSON at all, unknown format); the message names the file."""


class MissingFileError(SourceUnavailableError, FileNotFoundError):
    """A configured file or directory does not exist; the message names the path."""


@dataclass
class Quarantine:
    """Collects bad records of one table read and hands each to the caller's ``on_bad_record``."""

    source: str
    table: str
    on_bad_record: OnBadRecord | None = None
    count: int = 0
    _logged: int = field(default=0, repr=False)

    def add(self, location: str, reason: str, raw: str = "") -> None:
        self.count += 1
        record = QuarantinedRecord(self.source, self.table, storable(location), storable(reason),
                                   storable(_truncate(raw)))
        if self.on_bad_record is not None:
            self.on_bad_record(record)
        elif self._logged < 20:
            self._logged += 1
            log.warning(f"{self.source}.{self.table}: quarantined {location}: {reason}")


def storable(text: str) -> str:
    """Text any store accepts: NUL and lone surrogates (undecodable bytes) written out as backslash escapes."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _truncate(raw: str) -> str:
    if len(raw) <= RAW_LIMIT:
        return raw
    return raw[:RAW_LIMIT] + f"... [{len(raw) - RAW_LIMIT} more characters]"


@dataclass
class Chunk:
    """Rows of one file as parsed, before casting to the table's schema.

    ``columns`` maps a file column name to its values (strings for CSV and XML, Arrow-inferred types for JSON);
    ``locate(i)`` names the place of row ``i`` in the file ("customers.csv:line 17"); ``raw(i)`` rebuilds its text.
    """

    num_rows: int
    columns: dict[str, pa.Array]
    locate: Callable[[int], str]
    raw: Callable[[int], str]
    bad: dict[int, str] = field(default_factory=dict)
    """Rows the parser already knows are bad, with the reason."""


def display_name(path: Path, root: Path) -> str:
    """The file as named in locations and errors: relative to the source directory when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
