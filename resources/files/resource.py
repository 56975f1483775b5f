"""FilesResource: a directory of CSV, JSON, NDJSON and XML files as a source of tables."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from dagster import Config, ConfigurableResource
from pydantic import PrivateAttr

from resources.files import csv_format, json_format, xml_format
from resources.files.cast import Conformer, since_scalar
from resources.files.common import (
    Chunk,
    FileFormatError,
    MissingFileError,
    Quarantine,
    display_name,
    log,
)
from resources.files.csv_format import CsvSample
from resources.files.options import EXTENSIONS, FORMATS, FileOptions
from resources.files.records import chunked, infer_columns
from resources.protocol import OnBadRecord, Period
from resources.schema import Column, TableSchema

SAMPLE_RECORDS = 1_000
SAMPLE_CACHE_ENTRIES = 16
CURSOR_TYPES = ("timestamptz", "timestamp", "date")
_GLOB = re.compile(r"[*?\[]")
_Sampled = TypeVar("_Sampled")


class FileTable(Config):
    """One table of a files source. Only ``file`` is required (a name in the directory, or a glob of several)."""

    file: str
    format: Optional[str] = None
    """csv | json | ndjson | xml; from the file extension when unset."""
    delimiter: Optional[str] = None
    encoding: Optional[str] = None
    header: Optional[bool] = None
    record_path: Optional[str] = None
    """JSON: dotted keys down to the array of records ("data.items"); XML: element path of a record ("store")."""


class FilesResource(ConfigurableResource):
    """A directory of files. With no ``tables``, every csv/json/ndjson/jsonl/xml file is a table named by its stem."""

    path: str
    tables: dict[str, FileTable] = {}
    source_name: str = ""
    batch_rows: int = 50_000
    """Rows per record batch (CSV batches are sized in bytes from the sampled row width, so roughly)."""
    _samples: dict[tuple, Any] = PrivateAttr(default_factory=dict)
    """What sampling a file found (a CSV's dialect and sample rows, a JSON/XML file's columns), by file version:
    a load discovers the live schema, then reads, so without it every load would sample each file twice."""

    @property
    def dialect(self) -> str:
        return "files"

    def directory(self) -> Path:
        candidate = Path(self.path)
        if not candidate.is_absolute():
            project = Path(os.environ.get("AIETL_PROJECT_DIR", Path(__file__).resolve().parents[2]))
            candidate = (project / candidate).resolve()
        if not candidate.is_dir():
            raise MissingFileError(f"files source {self.source_name!r}: directory not found: {candidate}")
        return candidate

    def table_settings(self) -> dict[str, FileTable]:
        """The configured tables, or one per data file found in the directory."""
        if self.tables:
            return dict(self.tables)
        found: dict[str, FileTable] = {}
        for file in sorted(self.directory().iterdir()):
            if file.is_file() and file.suffix.lower() in EXTENSIONS:
                name = table_name(file.stem)
                if name in found:
                    raise FileFormatError(f"files source {self.source_name!r}: {found[name].file} and {file.name} "
                                          f"would both be table {name!r}; configure `tables` explicitly")
                found[name] = FileTable(file=file.name)
        return found

    def files_for(self, table: str) -> list[Path]:
        """The files of a table, sorted; a missing file is an error naming its path."""
        settings = self._settings(table)
        directory = self.directory()
        if _GLOB.search(settings.file):
            return sorted(path for path in directory.glob(settings.file) if path.is_file())
        path = directory / settings.file
        if not path.is_file():
            raise MissingFileError(f"files source {self.source_name!r}, table {table!r}: file not found: {path}")
        return [path]

    def file_states(self, table: str) -> list[tuple[str, int, int]]:
        """(file, size, mtime_ns) of each file of a table: a cheap fingerprint for file-arrival sensors."""
        return [(path.name, stat.st_size, stat.st_mtime_ns) for path in self.files_for(table)
                for stat in [path.stat()]]

    def discover(self) -> list[TableSchema]:
        """The tables whose files can be read; a bad or missing file is logged by name and its table skipped."""
        schemas, failed = self.discover_tables()
        for name, reason in failed.items():
            log.warning(f"files source {self.source_name!r}: skipped table {name}: {reason}")
        return schemas

    def discover_tables(self) -> tuple[list[TableSchema], dict[str, str]]:
        """Every table that can be read, and each table that cannot with the reason (which names its file)."""
        schemas, failed = [], {}
        for name in self.table_settings():
            try:
                schemas.append(self.discover_table(name))
            except (FileFormatError, OSError, UnicodeError) as error:
                failed[name] = str(error) or type(error).__name__
        return schemas, failed

    def discover_table(self, table: str) -> TableSchema:
        files = self.files_for(table)
        if not files:
            raise MissingFileError(f"files source {self.source_name!r}, table {table!r}: no file matches "
                                   f"{self.directory() / self._settings(table).file}")
        columns, estimate = self._sample(files[0], self._options(table))
        total_bytes = sum(path.stat().st_size for path in files)
        first_bytes = max(files[0].stat().st_size, 1)
        return TableSchema(
            source=self.source_name, name=table, columns=columns,
            cursor_candidates=[c.name for c in columns if c.logical_type in CURSOR_TYPES],
            row_estimate=int(estimate * total_bytes / first_bytes),
        )

    def read(self, table: TableSchema, since: Any = None, on_bad_record: OnBadRecord | None = None,
             period: Period | None = None) -> Iterator[pa.RecordBatch]:
        """The table's rows (cursor >= ``since`` when given; only those of ``period``, a time partition, when
        given: files cannot be queried, so each batch is filtered as it is read)."""
        quarantine = Quarantine(self.source_name or table.source, table.name, on_bad_record)
        batches = self._read(table, quarantine, since)
        yield from (batches if period is None else _in_period(batches, table, period))
        if quarantine.count:
            log.warning(f"{self.source_name}.{table.name}: {quarantine.count} record(s) quarantined")

    def max_cursor(self, table: TableSchema, at_least: Any = None) -> Any:
        if not table.cursor_column:
            return None
        cursor = table.column(table.cursor_column)
        only_cursor = TableSchema(source=table.source, name=table.name, columns=[cursor])
        highest = None
        for batch in self._read(only_cursor, Quarantine(self.source_name, table.name, lambda record: None)):
            value = pc.max(batch.column(0)).as_py()
            if value is not None and (highest is None or value > highest):
                highest = value
        return highest

    def _read(self, table: TableSchema, quarantine: Quarantine, since: Any = None) -> Iterator[pa.RecordBatch]:
        logical = {column.name: column.logical_type for column in table.columns}
        if since is not None and not table.cursor_column:
            raise ValueError(f"{self.source_name}.{table.name}: `since` needs a cursor column (sync.cursor)")
        cursor = table.cursor_column if since is not None else None
        conformer = Conformer(table.arrow_schema(), logical, quarantine, cursor, since)
        options = self._options(table.name)
        for path in self.files_for(table.name):
            for chunk in self._chunks(path, options, table.columns, quarantine):
                batch = conformer.batch(chunk)
                if batch is not None:
                    yield batch

    def _chunks(self, path: Path, options: FileOptions, columns: list[Column],
                quarantine: Quarantine) -> Iterator[Chunk]:
        display = display_name(path, self.directory())
        if options.format == "csv":
            names = [column.name for column in columns]
            sample = self._csv_sample(path, display, options)
            return csv_format.read_chunks(path, display, options, quarantine, self.batch_rows, names, sample)
        return chunked(_records(path, display, options, quarantine), columns, self.batch_rows)

    def _sample(self, path: Path, options: FileOptions) -> tuple[list[Column], int]:
        display = display_name(path, self.directory())
        if options.format == "csv":
            sample = self._csv_sample(path, display, options)
            return csv_format.discover_columns(sample), sample.row_estimate
        columns, estimate = self._cached(("records", options), path,
                                         lambda: self._sample_records(path, display, options))
        return list(columns), estimate

    def _csv_sample(self, path: Path, display: str, options: FileOptions) -> CsvSample:
        return self._cached(("csv", options), path, lambda: csv_format.sniff(path, display, options))

    def _cached(self, kind: tuple, path: Path, compute: Callable[[], _Sampled]) -> _Sampled:
        """``compute()`` once per version of the file (path, size, mtime, inode); a changed file is sampled again."""
        stat = path.stat()
        key = (*kind, str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if key not in self._samples:
            while len(self._samples) >= SAMPLE_CACHE_ENTRIES:
                self._samples.pop(next(iter(self._samples)))
            self._samples[key] = compute()
        return self._samples[key]

    def _sample_records(self, path: Path, display: str, options: FileOptions) -> tuple[tuple[Column, ...], int]:
        records, sampled_chars, complete, rejected = [], 0, True, []
        for _, record in _records(path, display, options, Quarantine(self.source_name, path.name, rejected.append)):
            if len(records) == SAMPLE_RECORDS:
                complete = False
                break
            records.append(record)
            sampled_chars += len(str(record))
        if not records and rejected:
            first = rejected[0]
            raise FileFormatError(f"{display}: no valid record to discover columns from ({len(rejected)} bad; the "
                                  f"first, {first.location}: {first.reason})")
        if not records:
            raise FileFormatError(f"{display}: no records found to discover columns from")
        estimate = len(records) if complete else int(path.stat().st_size * len(records) / max(sampled_chars, 1))
        columns = infer_columns(records, options.format)
        if not columns:
            raise FileFormatError(f"{display}: the {len(records)} record(s) sampled have no fields (empty objects or "
                                  f"elements), so there are no columns to discover")
        return tuple(columns), estimate

    def _settings(self, table: str) -> FileTable:
        settings = self.table_settings()
        if table not in settings:
            raise KeyError(f"files source {self.source_name!r} has no table {table!r}; tables: {sorted(settings)}")
        return settings[table]

    def _options(self, table: str) -> FileOptions:
        settings = self._settings(table)
        file_format = settings.format or EXTENSIONS.get(Path(settings.file).suffix.lower())
        if file_format not in FORMATS:
            raise FileFormatError(f"files source {self.source_name!r}, table {table!r}: unknown format "
                                  f"{settings.format or settings.file!r}; set `format` to one of {', '.join(FORMATS)}")
        return FileOptions(file_format, settings.delimiter, settings.encoding, settings.header, settings.record_path)


def _records(path: Path, display: str, options: FileOptions, quarantine: Quarantine):
    if options.format == "xml":
        return xml_format.xml_records(path, display, options, quarantine)
    if json_format.is_ndjson(path, options, display):
        return json_format.ndjson_records(path, display, options, quarantine)
    return json_format.document_records(path, display, options, quarantine)


def table_name(stem: str) -> str:
    """A file stem as a table name: lower snake case, usable in asset keys and SQL."""
    name = re.sub(r"[^0-9a-z_]+", "_", stem.lower()).strip("_") or "table"
    return f"t_{name}" if name[0].isdigit() else name


def _in_period(batches: Iterator[pa.RecordBatch], table: TableSchema, period: Period) -> Iterator[pa.RecordBatch]:
    logical = table.column(period.column).logical_type
    start, end = since_scalar(period.start, logical), since_scalar(period.end, logical)
    for batch in batches:
        values = batch.column(period.column)
        kept = batch.filter(pc.and_(pc.greater_equal(values, start), pc.less(values, end)))
        if kept.num_rows:
            yield kept
