"""CSV: dialect, encoding and header sniffing on a bounded prefix; streaming with pyarrow's CSV reader.

Every column is read as text and cast afterwards in Arrow compute (see ``cast.py``), so a value that does not fit
its type quarantines its row, never the batch. Ragged rows come from pyarrow's ``invalid_row_handler``; a row
swallowed by an unbalanced quote is quarantined by its first line and the lines it swallowed are read again.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from resources.files.cast import infer_text_type
from resources.files.common import Chunk, FileFormatError, Quarantine, log
from resources.files.encoding import (
    PREFIX_BYTES,
    Encoding,
    Utf8LineStream,
    decode_text,
    detect_encoding,
    read_prefix,
)
from resources.files.lines import LineMap
from resources.files.options import FileOptions
from resources.schema import Column

SNIFF_CHARS = 64 << 10
SAMPLE_ROWS = 10_000
MIN_BLOCK_BYTES = 64 << 10
MAX_BLOCK_BYTES = 64 << 20
DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class CsvSpec:
    encoding: Encoding
    delimiter: str
    quote_char: str
    double_quote: bool
    escape_char: str | None
    header: bool
    column_names: list[str]
    multiline: bool
    """Quoted values span lines (seen in the sample); rows are then located by record number, not line."""

    def parse_options(self, handler=None) -> pcsv.ParseOptions:
        return pcsv.ParseOptions(
            delimiter=self.delimiter, quote_char=self.quote_char, double_quote=self.double_quote,
            escape_char=self.escape_char or False, newlines_in_values=self.multiline, ignore_empty_lines=True,
            invalid_row_handler=handler,
        )

    def convert_options(self, columns: list[str] | None = None) -> pcsv.ConvertOptions:
        names = columns if columns is not None else self.column_names
        return pcsv.ConvertOptions(
            column_types={name: pa.string() for name in names}, include_columns=names, strings_can_be_null=True,
            null_values=[""], quoted_strings_can_be_null=True, check_utf8=False,
        )


@dataclass(frozen=True)
class CsvSample:
    spec: CsvSpec
    table: pa.Table
    """The sampled rows, every column as text."""
    row_estimate: int
    bytes_per_row: float


def sniff(path: Path, display: str, options: FileOptions) -> CsvSample:
    prefix = read_prefix(path)
    if not prefix.strip():
        raise FileFormatError(f"{display}: the file is empty; there is no header or row to discover columns from")
    at_end = len(prefix) < PREFIX_BYTES
    encoding = detect_encoding(prefix, options.encoding, display)
    if encoding.ascii_compatible:
        _refuse_binary(prefix, display)
    if encoding.note:
        log.warning(encoding.note)
    text = decode_text(prefix, encoding)
    if not at_end:
        text = text[: text.rfind("\n") + 1] or text
    spec = _spec(text, encoding, options, display)
    table = _parse_sample(text, spec)
    sampled_bytes = len(prefix) if at_end else len(text.encode(encoding.name if encoding.ascii_compatible else "utf-8"))
    size = path.stat().st_size
    estimate = table.num_rows if at_end else int(size * table.num_rows / max(sampled_bytes, 1))
    return CsvSample(spec, table, estimate, sampled_bytes / max(table.num_rows, 1))


_MAGIC = [(b"\x1f\x8b", "a gzip archive"), (b"PK\x03\x04", "a zip archive"), (b"PAR1", "a Parquet file"),
          (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"SQLite format 3", "an SQLite database"), (b"\x7fELF", "an executable")]
_CONTROL = bytes(byte for byte in range(32) if byte not in b"\t\n\r\f")
BINARY_SHARE, BINARY_MIN_BYTES = 0.02, 16
"""A text file has almost no control bytes: past this share of the first 64 KiB (and this count) it is binary; a
stray NUL in one value only quarantines its row."""


def _refuse_binary(prefix: bytes, display: str) -> None:
    """Reject a file that is not text at all (a good CSV replaced by garbage must not become rows of NULLs)."""
    for magic, what in _MAGIC:
        if prefix.startswith(magic):
            raise FileFormatError(f"{display}: is {what}, not CSV text; nothing was read from it")
    head = prefix[:SNIFF_CHARS]
    control = len(head) - len(head.translate(None, _CONTROL))
    if control > max(BINARY_MIN_BYTES, BINARY_SHARE * len(head)):
        offset = next(index for index, byte in enumerate(head) if byte in _CONTROL)
        raise FileFormatError(f"{display}: binary data, not CSV text ({control} control bytes in the first "
                              f"{len(head)}, the first at byte {offset}); nothing was read from it")


def discover_columns(sample: CsvSample) -> list[Column]:
    return [
        Column(name, infer_text_type(sample.table.column(name).combine_chunks()), source_type="csv")
        for name in sample.spec.column_names
    ]


def _spec(text: str, encoding: Encoding, options: FileOptions, display: str) -> CsvSpec:
    if options.delimiter is not None and len(options.delimiter) != 1:
        raise FileFormatError(f"{display}: delimiter must be one character, got {options.delimiter!r}")
    head = text[:SNIFF_CHARS]
    head = head[: head.rfind("\n") + 1] or head
    try:
        dialect = csv.Sniffer().sniff(head, delimiters=options.delimiter or DELIMITERS)
        delimiter, quote_char = dialect.delimiter, dialect.quotechar or '"'
        escape_char = dialect.escapechar
        double_quote = escape_char is None
    except csv.Error:
        delimiter, quote_char, double_quote, escape_char = options.delimiter or ",", '"', True, None
    if quote_char not in ('"', "'"):
        quote_char = '"'
    rows = _python_rows(text, delimiter, quote_char, double_quote, escape_char)
    if not rows:
        raise FileFormatError(f"{display}: no rows found")
    header = options.header if options.header is not None else _looks_like_header(rows[0], rows[1:])
    width = len(rows[0]) if header else Counter(len(row) for row in rows).most_common(1)[0][0]
    names = _unique_names(rows[0]) if header else [f"column_{index + 1}" for index in range(width)]
    return CsvSpec(encoding, delimiter, quote_char, double_quote, escape_char, header, names,
                   _has_multiline_values(rows, width))


def _python_rows(text: str, delimiter: str, quote_char: str, double_quote: bool, escape_char: str | None) -> list:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote_char,
                        doublequote=double_quote, escapechar=escape_char)
    try:
        return [row for row in itertools.islice(reader, SAMPLE_ROWS) if row]
    except csv.Error:
        return []


def _has_multiline_values(rows: list[list[str]], width: int) -> bool:
    """Quoted line breaks in complete rows (a swallowing unbalanced quote makes a ragged or a last row)."""
    return any(len(row) == width and any("\n" in value for value in row) for row in rows[:-1])


def _looks_like_header(first_row: list[str], rest: list[list[str]]) -> bool:
    """A first row of labels that are not numbers, booleans or dates.

    Distinct, non-empty labels make a header. With an empty or a repeated label (a sloppy export) the row is a header
    still when some column below it holds numbers, booleans or dates that its label is not.
    """
    labels = [value.strip() for value in first_row]
    present = [label for label in labels if label]
    if not present or not all(infer_text_type(pa.array([label])) in ("string", "uuid") for label in present):
        return False
    if all(labels) and len(set(labels)) == len(labels):
        return True
    for index in range(len(labels)):
        below = pa.array([row[index] for row in rest[:1000] if len(row) > index], pa.string())
        if len(below) and infer_text_type(below) not in ("string", "uuid"):
            return True
    return False


def _unique_names(labels: list[str]) -> list[str]:
    names: list[str] = []
    for index, label in enumerate(labels):
        base = label.strip() or f"column_{index + 1}"
        name, suffix = base, 2
        while name in names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
    return names


def _parse_sample(text: str, spec: CsvSpec) -> pa.Table:
    read_options = pcsv.ReadOptions(column_names=spec.column_names, skip_rows=1 if spec.header else 0,
                                    use_threads=False)
    return pcsv.read_csv(io.BytesIO(text.encode("utf-8")), read_options=read_options,
                         parse_options=spec.parse_options(lambda row: "skip"), convert_options=spec.convert_options())


def read_chunks(path: Path, display: str, options: FileOptions, quarantine: Quarantine, batch_rows: int,
                columns: list[str] | None = None, sample: CsvSample | None = None) -> Iterator[Chunk]:
    """The file's rows as text chunks of about ``batch_rows`` rows; bad lines go to ``quarantine``.

    ``sample`` is the file's :func:`sniff` when the caller has it already (sniffing costs a parse of the prefix).
    """
    sample = sample or sniff(path, display, options)
    spec = sample.spec
    block_bytes = int(min(max(batch_rows * sample.bytes_per_row, MIN_BLOCK_BYTES), MAX_BLOCK_BYTES))
    wanted = [name for name in spec.column_names if columns is None or name in columns]
    missing = [name for name in (columns or []) if name not in spec.column_names]
    if missing:
        log.warning(f"{display}: columns {missing} are not in the file's header {spec.column_names}; they load empty")
    with path.open("rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        stream = Utf8LineStream(raw, spec.encoding, None, display, size, lambda: path.stat().st_size > size)
        yield from _CsvPass(spec, display, quarantine, block_bytes, wanted, 1, spec.header).run(stream)


class _CsvPass:
    """One pass of pyarrow's reader over a stream: the whole file, or the lines an unbalanced quote swallowed."""

    def __init__(self, spec: CsvSpec, display: str, quarantine: Quarantine, block_bytes: int, wanted: list[str],
                 first_line: int, header: bool):
        self.spec = spec
        self.display = display
        self.quarantine = quarantine
        self.block_bytes = block_bytes
        self.wanted = wanted
        self.first_line = first_line
        self.header = header
        self.invalid: list[tuple[int, str, str]] = []
        self.fragments: list[tuple[int, str]] = []
        self.lines: LineMap | None = None

    def run(self, stream: Utf8LineStream) -> Iterator[Chunk]:
        stream.on_bad_line = self._bad_line
        self.lines = LineMap(self.display, self.first_line, not self.spec.multiline, stream.blank_lines,
                             1 if self.header else 0)
        reader = self._open(stream)
        ordinal = 0
        for batch in self._batches(reader):
            chunk = self._chunk(batch, ordinal)
            ordinal += batch.num_rows
            self._flush_invalid()
            yield chunk
        self._flush_invalid()
        for first_line, text in self.fragments:
            again = _CsvPass(self.spec, self.display, self.quarantine, self.block_bytes, self.wanted, first_line, False)
            yield from again.run(Utf8LineStream(io.BytesIO(text.encode("utf-8")), Encoding("utf-8"), None,
                                                self.display))

    def _open(self, stream: Utf8LineStream) -> pcsv.CSVStreamingReader | None:
        read_options = pcsv.ReadOptions(column_names=self.spec.column_names, skip_rows=1 if self.header else 0,
                                        use_threads=False, block_size=self.block_bytes)
        try:
            return pcsv.open_csv(stream, read_options=read_options, parse_options=self.spec.parse_options(self._invalid),
                                 convert_options=self.spec.convert_options(self.wanted))
        except pa.ArrowInvalid as error:
            if "Empty CSV file" in str(error):
                return None
            raise FileFormatError(f"{self.display}: {error}") from None

    def _batches(self, reader: pcsv.CSVStreamingReader | None) -> Iterator[pa.RecordBatch]:
        if reader is None:
            return
        try:
            yield from reader
        except pa.ArrowInvalid as error:
            raise FileFormatError(f"{self.display}: cannot be read as CSV: {error}") from None

    def _bad_line(self, line: int, raw: bytes, reason: str) -> None:
        self.quarantine.add(f"{self.display}:line {self.first_line - 1 + line}", reason,
                            raw.decode("utf-8", errors="replace"))

    def _invalid(self, row: pcsv.InvalidRow) -> str:
        self.lines.add_invalid_row(row.number)
        reason = f"ragged row: expected {row.expected_columns} fields, found {row.actual_columns}"
        self.invalid.append((row.number, row.text, reason))
        return "skip"

    def _flush_invalid(self) -> None:
        for row, text, reason in self.invalid:
            if "\n" in text and self.lines.physical:
                self._swallowed(row, text)
            else:
                self.quarantine.add(self.lines.locate_row(row), reason, text)
        self.invalid.clear()

    def _swallowed(self, row: int, text: str) -> None:
        line = self.lines.line_of_row(row)
        first, rest = text.split("\n", 1)
        self.lines.add_continuation_lines(line, text.count("\n"))
        self.quarantine.add(f"{self.display}:line {line}", "unbalanced quote: a quoted field opened on this line is "
                            "never closed (the lines after it were read again on their own)", first)
        self.fragments.append((line + 1, rest))

    def _chunk(self, batch: pa.RecordBatch, ordinal: int) -> Chunk:
        columns = {name: batch.column(name) for name in batch.schema.names}
        bad = self._multiline_values(columns, ordinal) if self.lines.physical else {}
        lines = self.lines

        def raw(index: int) -> str:
            values = (column[index].as_py() for column in columns.values())
            return self.spec.delimiter.join("" if value is None else value for value in values)

        return Chunk(batch.num_rows, columns, lambda index: lines.locate_data(ordinal + index), raw, bad)

    def _multiline_values(self, columns: dict[str, pa.Array], ordinal: int) -> dict[int, str]:
        """Rows whose values hold line breaks although the file has none: an unbalanced quote joined lines."""
        hits: set[int] = set()
        for values in columns.values():
            if not _may_hold_line_breaks(values):
                continue
            found = pc.match_substring(values, "\n")
            if found.true_count:
                hits.update(pc.indices_nonzero(found.fill_null(False)).to_pylist())
        bad = {}
        for index in sorted(hits):
            row = self.lines.row_of_data(ordinal + index)
            line = self.lines.line_of_row(row)
            breaks = sum((values[index].as_py() or "").count("\n") for values in columns.values())
            self.lines.add_continuation_lines(line, breaks)
            bad[index] = f"unbalanced quote: a quoted field opened here runs over {breaks} line break(s)"
        return bad


def _may_hold_line_breaks(values: pa.Array) -> bool:
    """A fast pre-check on the raw value bytes (a memchr), before the exact per-value search."""
    data = values.buffers()[2]
    return data is not None and data.to_pybytes().find(b"\n") >= 0
