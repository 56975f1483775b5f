"""JSON documents (an array of objects, optionally under ``record_path``) and NDJSON, streamed record by record.

The standard library has no incremental JSON parser, so a document is walked with ``JSONDecoder.raw_decode`` over a
buffer refilled from the file: memory holds one buffer and one record at a time, whatever the file's size.
Per record: duplicate keys (ambiguous), NaN/Infinity and out-of-range numbers (not JSON by RFC 8259, though Python
accepts them), invalid Unicode (undecodable bytes, lone surrogates), NUL characters (no text column can store them),
nesting deeper than ``MAX_DEPTH`` and strings longer than ``MAX_VALUE_CHARS`` send the record to quarantine with the
raw text kept, rather than guessing which value was meant. Whatever breaks the document itself (text after its end,
a malformed top level) rejects the file with its line, column and reason.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from resources.files.common import FileFormatError, Quarantine, log
from resources.files.encoding import Encoding, detect_encoding, read_prefix
from resources.files.options import FileOptions
from resources.files.records import MAX_DEPTH, Located, value_problem

READ_CHARS = 1 << 20
MAX_RECORD_CHARS = 128 << 20
MAX_INT_DIGITS = 400
_SURROGATES = re.compile("[\udc80-\udcff]")
_RESYNC = re.compile(r"\}\s*,\s*(?=\{)")
PARSE_ERRORS = (json.JSONDecodeError, RecursionError)


class RecordDecoder:
    """A JSONDecoder that notes duplicate keys and NaN/Infinity instead of silently accepting them."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.decoder = json.JSONDecoder(object_pairs_hook=self._pairs, parse_constant=self._constant,
                                        parse_int=self._int, parse_float=self._float)

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        record = dict(pairs)
        if len(record) != len(pairs):
            repeated = sorted(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
            self.problems.append(f"duplicate key(s) {repeated}: ambiguous, which value is meant is unknown")
        return record

    def _constant(self, name: str) -> None:
        self.problems.append(f"{name} is not valid JSON (RFC 8259 has no NaN/Infinity)")

    def _int(self, text: str) -> int | None:
        if len(text) > MAX_INT_DIGITS:
            self.problems.append(f"an integer of {len(text)} digits is out of range")
            return None
        return int(text)

    def _float(self, text: str) -> float | None:
        value = float(text)
        if math.isinf(value):
            self.problems.append(f"the number {text[:40]!r} is out of range for a 64-bit float")
            return None
        return value

    def raw_decode(self, text: str, position: int) -> tuple[Any, int]:
        """Like ``JSONDecoder.raw_decode``; nesting past the recursion limit is a ``JSONDecodeError`` too."""
        self.problems = []
        try:
            return self.decoder.raw_decode(text, position)
        except RecursionError:
            raise json.JSONDecodeError(f"nested too deeply to parse (records may nest up to {MAX_DEPTH} levels)",
                                       text, position) from None


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
    except (ValueError, RecursionError):
        return False
    return True


def ndjson_records(path: Path, display: str, options: FileOptions, quarantine: Quarantine) -> Iterator[Located]:
    encoding = text_encoding(path, options, display)
    decoder = RecordDecoder()
    with open_text(path, encoding) as text:
        for number, line in enumerate(_bounded_lines(text), 1):
            if not line.strip():
                continue
            location = f"{display}:line {number}"
            if len(line) > MAX_RECORD_CHARS:
                quarantine.add(location, f"the line is longer than {MAX_RECORD_CHARS >> 20} MiB of text", line)
                continue
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
    return value_problem(record) or record


def _bounded_lines(text: TextIO) -> Iterator[str]:
    """The file's lines; a line longer than ``MAX_RECORD_CHARS`` comes as its head plus one character over, and the
    rest of it is skipped unread into memory."""
    while True:
        line = text.readline(MAX_RECORD_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_RECORD_CHARS and not line.endswith("\n"):
            while (rest := text.readline(READ_CHARS)) and not rest.endswith("\n"):
                pass
        yield line


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
        self.keys = RecordDecoder()

    def records(self, record_path: str | None) -> Iterator[Located]:
        """The records; the document must end where its top-level value ends (only whitespace may follow)."""
        keys = [part for part in re.split(r"[./]", record_path or "") if part]
        try:
            for key in keys:
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
                                      f"at {self._where()}")
            for _ in keys if self._peek() else ():
                self._leave()
        except json.JSONDecodeError as error:
            raise FileFormatError(f"{self.display}: not valid JSON at {self._where(error.pos)}: {error.msg}") from None
        self._end_of_document()

    def _leave(self) -> None:
        """Skip the members after the record array up to the end of the enclosing object."""
        while self._expect(",}", "',' or '}'") == ",":
            self._value(self.keys)
            self._expect(":", "':'")
            self._value(self.keys)

    def _end_of_document(self) -> None:
        found = self._peek()
        if found:
            start = self.position
            raise FileFormatError(f"{self.display}: not valid JSON at {self._where()}: text after the end of the "
                                  f"document ({self.buffer[start:start + 20]!r}); a file holds one JSON document "
                                  f"(use format: ndjson for one record per line)")

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
            self.position += 1
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
                self.position += 1
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
        where = self._where(error.pos)
        offset = max(error.pos - self.position, 0)
        while True:
            boundary = None if truncated else _RESYNC.search(self.buffer, self.position + offset)
            if boundary or not self._more():
                break
        location = f"{self.display}:record {number}"
        start = self.position
        if not boundary:
            reason = ("truncated: the file ends inside this record" if truncated
                      else f"invalid JSON: {error.msg} at {where}; the rest of the file could not be read")
            self.quarantine.add(location, reason, self.buffer[start:])
            self.position = len(self.buffer)
            return False
        self.quarantine.add(location, f"invalid JSON: {error.msg} at {where} (the text up to the next "
                                      f"'}},{{' is skipped)", self.buffer[start: boundary.start() + 1])
        self.position = boundary.end()
        return True

    def _value(self, decoder: RecordDecoder) -> tuple[Any, str]:
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
            raise FileFormatError(f"{self.display}: expected {what} at {self._where()}, found {shown}")
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
            raise FileFormatError(f"{self.display}: a record at {self._where()} is larger than "
                                  f"{MAX_RECORD_CHARS >> 20} MiB of text")
        self.lines_before += self.buffer.count("\n", 0, self.position)
        self.buffer = self.buffer[self.position:] + data
        self.position = 0
        return True

    def _line(self, position: int | None = None) -> int:
        return self.lines_before + self.buffer.count("\n", 0, self.position if position is None else position) + 1

    def _where(self, position: int | None = None) -> str:
        """"line L, column C" of a buffer position (the column is exact when its line is in the buffer)."""
        position = self.position if position is None else position
        column = position - (self.buffer.rfind("\n", 0, position) + 1) + 1
        return f"line {self._line(position)}, column {column}"
