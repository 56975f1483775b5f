"""The two small protocols every connector and destination implements: a source reads tables as Arrow batches,
a destination lands them. The tables themselves are described by the schema model (:mod:`resources.schema`).
"""

from __future__ import annotations

import errno
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
    REPLACE_PERIOD = "replace_period"
    """Replace exactly the rows whose ``period.column`` lies in ``[period.start, period.end)`` (a time partition)."""


@dataclass(frozen=True)
class Period:
    """One time partition of a table: the rows whose ``column`` is ``>= start`` and ``< end``."""

    column: str
    start: Any
    end: Any


@dataclass(frozen=True)
class WriteResult:
    rows_written: int
    added_columns: list[str] = field(default_factory=list)


class SourceUnavailableError(RuntimeError):
    """A source could not be reached or stopped answering; the message names the source and the cause."""


class PermanentError(Exception):
    """A failure that no retry can fix (a missing file, a refused login, an unknown table, an invalid config)."""


class PermanentSourceError(SourceUnavailableError, PermanentError):
    """A source that answers but refuses the platform for good: wrong password, unknown database or role."""


TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57P", "40001", "40P01", "55P03", "57014")
"""Connection exceptions, insufficient resources, operator intervention (shutdown, statement timeout), serialization
failures, deadlocks and lock timeouts: worth another attempt."""
PERMANENT_PHRASES = ("password authentication failed", "authentication failed", "no pg_hba.conf entry",
                     "does not exist", "permission denied", "unknown table", "unknown database", "not found")
TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                    errno.ENETUNREACH, errno.EPIPE, errno.EAGAIN}


def is_transient(error: BaseException) -> bool:
    """Whether retrying may help: connection refused or lost, timeouts, serialization failures and deadlocks.

    Anything else fails at once: a :class:`PermanentError` or a missing file anywhere in the chain of causes, a
    refused login, an unknown table, and every error not known to be transient.
    """
    chain = _causes(error)
    if any(isinstance(e, (PermanentError, FileNotFoundError, NotADirectoryError, IsADirectoryError)) for e in chain):
        return False
    for cause in chain:
        sqlstate = getattr(cause, "sqlstate", None)
        if sqlstate:
            return sqlstate.startswith(TRANSIENT_SQLSTATE_CLASSES)
    if any(phrase in str(cause).lower() for cause in chain for phrase in PERMANENT_PHRASES):
        return False
    return any(_transient_kind(cause) for cause in chain)


def _transient_kind(error: BaseException) -> bool:
    if isinstance(error, (TimeoutError, ConnectionError, SourceUnavailableError)):
        return True
    if isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS:
        return True
    if getattr(error, "retriable", False) is True:  # kafka-python marks its retriable errors
        return True
    return type(error).__name__ == "OperationalError"  # DB-API: the server went away or could not be reached


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and its causes and contexts (``raise ... from None`` keeps the context), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


@runtime_checkable
class SourceConnector(Protocol):
    def discover(self) -> list[TableSchema]:
        """Every table of the source with columns, logical types, keys and cursor candidates."""

    def read(
        self, table: TableSchema, since: Any = None, on_bad_record: OnBadRecord | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream the table (rows with cursor >= ``since`` when given) as batches of ``table.arrow_schema()``.

        A connector that supports time partitions also takes ``period=``: only the rows of that :class:`Period`,
        filtered at the source."""

    def max_cursor(self, table: TableSchema, at_least: Any = None) -> Any:
        """The current maximum of ``table.cursor_column`` (cheap; used by sensors).

        With ``at_least``, a connector may answer with any cursor value >= it instead, when one exists: enough to
        tell the cursor has not gone backwards, and on a table without an index on it the first such row instead
        of a full scan."""


@runtime_checkable
class Destination(Protocol):
    def ensure_table(self, namespace: str, table: TableSchema) -> list[str]:
        """Create the table or add new columns; returns the names of columns added."""

    def write(
        self, namespace: str, table: TableSchema, batches: Iterable[pa.RecordBatch], mode: WriteMode
    ) -> WriteResult:
        """Land ``batches`` in ``namespace.table`` atomically with the given mode.

        A destination that supports time partitions also takes ``period=`` with ``WriteMode.REPLACE_PERIOD``: the
        rows of that :class:`Period` are deleted and ``batches`` written in the same transaction."""

    def row_count(self, namespace: str, table: str) -> int | None:
        """The exact number of rows ``namespace.table`` holds; None when there is no such table."""


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
