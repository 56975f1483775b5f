"""JSON documents (an array of objects, optionally under ``record_path``) and NDJSON, streamed record by record.

The standard library has no incremental JSON parser, so a document is walked with ``JSONDecoder.raw_decode`` over a
buffer refilled from the file: memory holds one buffer and one record at a time, whatever the file's size.
Per record: duplicate keys (ambiguous) and NaN/Infinity (not JSON by RFC 8259, though Python accepts them) send the
record to quarantine with the raw text kept, rather than guessing which value was meant.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from resources.files.common import FileFormatError, Quarantine, log
from resources.files.encoding import Encoding, detect_encoding, read_prefix
from resources.files.options import FileOptions
from resources.files.records import Located

READ_CHARS = 1 << 20
MAX_RECORD_CHARS = 256 << 20
_SURROGATES = re.compile("[\udc80-\udcff]")
_RESYNC = re.compile(r"\}\s*,\s*(?=\{)")


class RecordDecoder:
    """A JSONDecoder that notes duplicate keys and NaN/Infinity instead of silently accepting them."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.decoder = json.JSONDecoder(object_pairs_hook=self._pairs, parse_constant=self._constant)

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        record = dict(pairs)
        if len(record) != len(pairs):
            repeated = sorted(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
            self.problems.append(f"duplicate key(s) {repeated}: ambiguous, which value is meant is unknown")
        return record

    def _constant(self, name: str) -> None:
        self.problems.append(f"{name} is not valid JSON (RFC 8259 has no NaN/Infinity)")

    def raw_decode(self, text: str, position: int) -> tuple[Any, int]:
        self.problems = []
        return self.decoder.raw_decode(text, position)


def text_encoding(path: Path, options: FileOptions, display: str) -> Encoding:
    encoding = detect_encoding(read_prefix(path), options.encoding, display)
    if encoding.note:
        log.warning(encoding.note)
    return encoding


def open_text(path: Path, encoding: Encoding) -> TextIO:
    """Undecodable bytes become lone surrogates (``surrogateescape``) so the records holding them can be found."""
    name = "utf-8-sig" if encoding.name == "utf-8" else encoding.name
    return path.open("r", encoding=name, errors="surrogateescape", newline="")


def is_ndjson(path: Path, options: FileOptions, display: str) -> bool:
    """NDJSON when configured, or a ``.json`` file whose first two lines are each a whole JSON object."""
    if options.format == "ndjson":
        return True
    text = read_prefix(path, 1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    lines = [line for line in text.splitlines()[:3] if line.strip()]
    if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
        return False
    try:
        json.loads(lines[0])
        json.loads(lines[1])
    except json.JSONDecodeError:
        return False
    return True


def ndjson_records(path: Path, display: str, options: FileOptions, quarantine: Quarantine) -> Iterator[Located]:
    encoding = text_encoding(path, options, display)
    decoder = RecordDecoder()
    with open_text(path, encoding) as text:
        for number, line in enumerate(text, 1):
            if not line.strip():
                continue
            location = f"{display}:line {number}"
            try:
                record, end = decoder.raw_decode(line.strip(), 0)
                if end != len(line.strip()):
                    raise json.JSONDecodeError("extra data after the JSON value", line.strip(), end)
            except json.JSONDecodeError as error:
                truncated = " (the file ends inside this line: truncated?)" if not line.endswith("\n") else ""
                quarantine.add(location, f"invalid JSON: {error.msg} at column {error.colno}{truncated}", line)
                continue
            checked = _checked(record, line, decoder, encoding)
            if isinstance(checked, str):
                quarantine.add(location, checked, line)
            else:
                yield location, checked


def _checked(record: Any, raw: str, decoder: RecordDecoder, encoding: Encoding) -> dict[str, Any] | str:
    """The record, or why it is quarantined."""
    if _SURROGATES.search(raw):
        return f"holds bytes that are not valid {encoding.name}"
    if decoder.problems:
        return "; ".join(decoder.problems)
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__} where a record (a JSON object) was expected"
    return record


def document_records(path: Path, display: str, options: FileOptions, quarantine: Quarantine) -> Iterator[Located]:
    encoding = text_encoding(path, options, display)
    with open_text(path, encoding) as text:
        yield from _Document(text, display, encoding, quarantine).records(options.record_path)


class _Document:
    """A cursor over one JSON document held in a sliding buffer."""

    def __init__(self, text: TextIO, display: str, encoding: Encoding, quarantine: Quarantine):
        self.text = text
        self.display = display
        self.encoding = encoding
        self.quarantine = quarantine
        self.buffer = ""
        self.position = 0
        self.lines_before = 0
        self.eof = False
        self.decoder = RecordDecoder()
        self.keys = json.JSONDecoder()

    def records(self, record_path: str | None) -> Iterator[Located]:
        for key in [part for part in re.split(r"[./]", record_path or "") if part]:
            self._enter(key)
        first = self._peek()
        if first == "[":
            self.position += 1
            yield from self._elements()
        elif first == "{":
            yield from self._one(1)
        else:
            found = repr(first) if first else "nothing"
            raise FileFormatError(f"{self.display}: expected a JSON array or object of records, found {found} "
                                  f"at line {self._line()}")

    def _enter(self, key: str) -> None:
        self._expect("{", f"an object holding {key!r} (record_path)")
        if self._peek() == "}":
            raise FileFormatError(f"{self.display}: record_path key {key!r} not found")
        while True:
            name, _ = self._value(self.keys)
            self._expect(":", "':'")
            if name == key:
                return
            self._value(self.keys)
            if self._expect(",}", "',' or '}'") == "}":
                raise FileFormatError(f"{self.display}: record_path key {key!r} not found")

    def _elements(self) -> Iterator[Located]:
        if self._peek() == "]":
            return
        number = 0
        while True:
            number += 1
            try:
                yield from self._one(number)
            except json.JSONDecodeError as error:
                if not self._resync(number, error):
                    return
                continue
            separator = self._peek()
            if separator == ",":
                self.position += 1
            elif separator == "]":
                return
            elif not separator:
                self.quarantine.add(f"{self.display}:after record {number}",
                                    "truncated: the file ends before the array is closed ('...]' is missing)")
                return
            elif not self._resync(number + 1, json.JSONDecodeError("expected ',' or ']'", self.buffer,
                                                                    self.position)):
                return

    def _one(self, number: int) -> Iterator[Located]:
        location = f"{self.display}:record {number}"
        record, raw = self._value(self.decoder)
        checked = _checked(record, raw, self.decoder, self.encoding)
        if isinstance(checked, str):
            self.quarantine.add(location, checked, raw)
        else:
            yield location, checked

    def _resync(self, number: int, error: json.JSONDecodeError) -> bool:
        """Quarantine the bad text and skip to the next ``},{`` boundary; False when the file ends first."""
        truncated = self.eof and self._incomplete(error)
        line = self._line(error.pos)
        offset = max(error.pos - self.position, 0)
        while True:
            boundary = None if truncated else _RESYNC.search(self.buffer, self.position + offset)
            if boundary or not self._more():
                break
        location = f"{self.display}:record {number}"
        start = self.position
        if not boundary:
            reason = ("truncated: the file ends inside this record" if truncated
                      else f"invalid JSON: {error.msg} at line {line}; the rest of the file could not be read")
            self.quarantine.add(location, reason, self.buffer[start:])
            self.position = len(self.buffer)
            return False
        self.quarantine.add(location, f"invalid JSON: {error.msg} at line {line} (the text up to the next "
                                      f"'}},{{' is skipped)", self.buffer[start: boundary.start() + 1])
        self.position = boundary.end()
        return True

    def _value(self, decoder: RecordDecoder | json.JSONDecoder) -> tuple[Any, str]:
        self._peek()
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError as error:
                if self._incomplete(error) and self._more():
                    continue
                raise
            if end == len(self.buffer) and self._more():
                continue
            raw = self.buffer[self.position:end]
            self.position = end
            return value, raw

    def _incomplete(self, error: json.JSONDecodeError) -> bool:
        return error.pos >= len(self.buffer) - 8 or error.msg.startswith("Unterminated string")

    def _peek(self) -> str:
        while True:
            while self.position < len(self.buffer) and self.buffer[self.position] in " \t\r\n":
                self.position += 1
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if not self._more():
                return ""

    def _expect(self, allowed: str, what: str) -> str:
        found = self._peek()
        if not found or found not in allowed:
            shown = repr(found) if found else "the end of the file"
            raise FileFormatError(f"{self.display}: expected {what} at line {self._line()}, found {shown}")
        self.position += 1
        return found

    def _more(self) -> bool:
        """Read more text into the buffer, dropping what was consumed; False at the end of the file."""
        if self.eof:
            return False
        data = self.text.read(max(READ_CHARS, len(self.buffer) - self.position))
        if not data:
            self.eof = True
            return False
        if len(self.buffer) - self.position > MAX_RECORD_CHARS:
            raise FileFormatError(f"{self.display}: a record at line {self._line()} is larger than "
                                  f"{MAX_RECORD_CHARS >> 20} MiB of text")
        self.lines_before += self.buffer.count("\n", 0, self.position)
        self.buffer = self.buffer[self.position:] + data
        self.position = 0
        return True

    def _line(self, position: int | None = None) -> int:
        return self.lines_before + self.buffer.count("\n", 0, self.position if position is None else position) + 1
