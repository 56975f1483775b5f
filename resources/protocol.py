"""The two small protocols every connector and destination implements: a source reads tables as Arrow batches,
a destination lands them. The tables themselves are described by the schema model (:mod:`resources.schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from resources.schema import QuarantinedRecord, TableSchema

OnBadRecord = Callable[[QuarantinedRecord], None]


class WriteMode(str, Enum):
    REPLACE = "replace"
    APPEND = "append"
    MERGE = "merge"


@dataclass(frozen=True)
class WriteResult:
    rows_written: int
    added_columns: list[str] = field(default_factory=list)


class SourceUnavailableError(RuntimeError):
    """A source could not be reached or stopped answering; the message names the source and the cause."""


@runtime_checkable
class SourceConnector(Protocol):
    def discover(self) -> list[TableSchema]:
        """Every table of the source with columns, logical types, keys and cursor candidates."""

    def read(
        self, table: TableSchema, since: Any = None, on_bad_record: OnBadRecord | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream the table (rows with cursor >= ``since`` when given) as batches of ``table.arrow_schema()``."""

    def max_cursor(self, table: TableSchema) -> Any:
        """The current maximum of ``table.cursor_column`` (cheap; used by sensors)."""


@runtime_checkable
class Destination(Protocol):
    def ensure_table(self, namespace: str, table: TableSchema) -> list[str]:
        """Create the table or add new columns; returns the names of columns added."""

    def write(
        self, namespace: str, table: TableSchema, batches: Iterable[pa.RecordBatch], mode: WriteMode
    ) -> WriteResult:
        """Land ``batches`` in ``namespace.table`` atomically with the given mode."""


def redact(message: str, *secrets: str) -> str:
    """The first line of ``message`` with every non-empty secret replaced by ``***`` (safe to log or raise)."""
    lines = message.strip().splitlines()
    text = lines[0] if lines else ""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def error_text(error: BaseException, *secrets: str, whole: bool = False, limit: int | None = None) -> str:
    """What to say about ``error`` in another error's message: its first line (with ``whole``, all its lines joined
    into one), secrets redacted, cut to ``limit`` characters; its type name when it has no message."""
    message = " ".join(str(error).split()) if whole else str(error)
    text = redact(message, *secrets) or type(error).__name__
    return text[:limit] if limit is not None else text
