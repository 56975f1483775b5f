"""Finding a file's text encoding and turning its bytes into clean UTF-8 lines.

The configured encoding wins; otherwise a byte-order mark decides, else UTF-8 if the first MiB decodes, else cp1252
(or latin-1, which decodes anything) with a warning. Lines that do not decode are handed to ``on_bad_line`` with their
line number and replaced by empty lines, so the lines around them still load.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from resources.files.common import FileFormatError

PREFIX_BYTES = 1 << 20
BLOCK_BYTES = 4 << 20
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]


@dataclass(frozen=True)
class Encoding:
    name: str
    """A Python codec name."""
    note: str = ""
    """Why a fallback was chosen (empty when the encoding was configured, marked by a BOM or valid UTF-8)."""

    @property
    def ascii_compatible(self) -> bool:
        return not self.name.startswith(("utf-16", "utf-32"))


def read_prefix(path: Path, size: int = PREFIX_BYTES) -> bytes:
    with path.open("rb") as file:
        return file.read(size)


def detect_encoding(prefix: bytes, configured: str | None, display: str) -> Encoding:
    if configured:
        try:
            return Encoding(codecs.lookup(configured).name)
        except LookupError:
            raise FileFormatError(f"{display}: unknown encoding {configured!r} in the table's settings") from None
    for bom, name in _BOMS:
        if prefix.startswith(bom):
            return Encoding(name)
    complete = prefix if len(prefix) < PREFIX_BYTES else prefix[: prefix.rfind(b"\n") + 1] or prefix
    try:
        complete.decode("utf-8")
        return Encoding("utf-8")
    except UnicodeDecodeError as error:
        where = f"byte {error.start} ({_line_of(complete, error.start)})"
    bad_lines = sum(1 for line in complete.split(b"\n") if not _is_utf8(line))
    valid_sequences = len(_UTF8_SEQUENCE.findall(complete))
    if valid_sequences and valid_sequences >= bad_lines:
        return Encoding("utf-8", f"{display} is mostly UTF-8 but not valid UTF-8 at {where}; lines that do not "
                                 f"decode are quarantined")
    for fallback in ("cp1252", "latin-1"):
        try:
            complete.decode(fallback)
        except UnicodeDecodeError:
            continue
        return Encoding(fallback, f"{display} is not valid UTF-8 at {where}; read as {fallback} "
                                  f"(set `encoding` in the table's settings if that is wrong)")
    raise AssertionError("latin-1 decodes every byte")


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _line_of(data: bytes, offset: int) -> str:
    newlines = data.count(b"\n", 0, offset)
    return f"line {newlines + 1}"


def decode_text(data: bytes, encoding: Encoding) -> str:
    """A prefix as text for sniffing (undecodable bytes replaced; a BOM dropped)."""
    name = "utf-8-sig" if encoding.name == "utf-8" else encoding.name
    return data.decode(name, errors="replace")


BadLine = Callable[[int, bytes, str], None]


class Utf8LineStream:
    """A read-only binary stream of UTF-8 for pyarrow's CSV reader, made from a file in any encoding.

    It works on whole lines, blocks of ``BLOCK_BYTES``: valid UTF-8 passes through untouched (the fast path);
    other encodings are transcoded; undecodable lines are reported and blanked. It records the numbers of blank lines
    (which pyarrow skips without counting) so that row numbers can be mapped back to physical line numbers.
    """

    def __init__(self, raw: BinaryIO, encoding: Encoding, on_bad_line: BadLine, display: str,
                 size: int | None = None, grew: Callable[[], bool] | None = None):
        self.raw = raw
        self.remaining = size
        """Bytes left to read: the file's size when it was opened, so rows appended meanwhile wait for the next read."""
        self.grew = grew
        self.encoding = encoding
        self.on_bad_line = on_bad_line
        self.display = display
        self.blank_lines: list[int] = []
        self.lines_done = 0
        self.closed = False
        self._carry = b""
        self._pending = memoryview(b"")
        self._eof = False
        self._first = True
        self._decoder = None if encoding.ascii_compatible else codecs.getincrementaldecoder(encoding.name)("strict")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._pending and not self._eof:
            self._pending = memoryview(self._next_block())
        if size is None or size < 0:
            size = len(self._pending)
        out, self._pending = self._pending[:size], self._pending[size:]
        return bytes(out)

    def close(self) -> None:
        self.closed = True

    def _next_block(self) -> bytes:
        block = self._read_lines()
        if self._decoder is not None:
            out = self._transcode_wide(block)
        else:
            if self._first and self.encoding.name == "utf-8-sig" and block.startswith(codecs.BOM_UTF8):
                block = block[len(codecs.BOM_UTF8):]
            out = self._to_utf8(block)
        self._first = False
        self._record_blank_lines(out)
        self.lines_done += out.count(b"\n")
        return out

    def _read_lines(self) -> bytes:
        """The next run of whole lines (the rest of the file at its end)."""
        while True:
            data = self._read_raw()
            if not data:
                self._eof = True
                block, self._carry = self._carry, b""
                return self._torn_tail(block)
            data = self._carry + data
            cut = data.rfind(b"\n")
            if cut >= 0:
                self._carry = data[cut + 1:]
                return data[: cut + 1]
            self._carry = data

    def _read_raw(self) -> bytes:
        if self.remaining is None:
            return self.raw.read(BLOCK_BYTES)
        data = self.raw.read(min(BLOCK_BYTES, self.remaining))
        self.remaining -= len(data)
        return data

    def _torn_tail(self, tail: bytes) -> bytes:
        """A last line without its newline in a file that grew while it was read is a write caught half-way."""
        if not tail or self.grew is None or not self.grew():
            return tail
        self.on_bad_line(self.lines_done + 1, tail, "torn: the file grew while it was read and this last line was "
                         "not yet complete; it is read again, whole, on the next load")
        return b""

    def _to_utf8(self, block: bytes) -> bytes:
        name = "utf-8" if self.encoding.name == "utf-8-sig" else self.encoding.name
        try:
            text = block.decode(name)
        except UnicodeDecodeError:
            return self._per_line(block, name)
        return block if name == "utf-8" else text.encode("utf-8")

    def _per_line(self, block: bytes, name: str) -> bytes:
        lines = block.split(b"\n")
        for index, line in enumerate(lines):
            try:
                lines[index] = line.decode(name).encode("utf-8")
            except UnicodeDecodeError as error:
                truncated = error.end >= len(line.rstrip(b"\r")) and index == len(lines) - 1
                reason = (f"not valid {name} at byte {error.start} of the line"
                          + (" (the file ends in the middle of a character: truncated?)" if truncated else ""))
                self.on_bad_line(self.lines_done + index + 1, line, reason)
                lines[index] = b""
        return b"\n".join(lines)

    def _transcode_wide(self, block: bytes) -> bytes:
        try:
            return self._decoder.decode(block, final=self._eof).encode("utf-8")
        except UnicodeDecodeError as error:
            raise FileFormatError(f"{self.display}: not valid {self.encoding.name} near line {self.lines_done + 1}: "
                                  f"{error.reason}") from None

    def _record_blank_lines(self, out: bytes) -> None:
        position = counted_to = 0
        lines_before = self.lines_done
        while True:
            position = _next_blank(out, position)
            if position < 0:
                return
            lines_before += out.count(b"\n", counted_to, position)
            counted_to = position
            self.blank_lines.append(lines_before + 1)
            position = out.index(b"\n", position) + 1


def _next_blank(data: bytes, start: int) -> int:
    """Offset of the first blank line starting at or after ``start`` (blocks always begin at a line start)."""
    if start == 0 and (data.startswith(b"\n") or data.startswith(b"\r\n")):
        return 0
    candidates = [data.find(b"\n\n", start), data.find(b"\n\r\n", start)]
    found = [c + 1 for c in candidates if c >= 0]
    if not found:
        return -1
    position = min(found)
    return position if position < len(data) else -1
