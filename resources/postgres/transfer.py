"""PostgreSQL to PostgreSQL at the speed of COPY: the source's binary ``COPY ... TO STDOUT`` streamed into the target's
binary ``COPY ... FROM STDIN`` without decoding a row.

The source casts every column to the target column's type in its SELECT, so the binary stream is exactly what the
target's COPY expects; whatever cannot be cast is an error naming the table and column, and nothing lands.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg2
import psycopg2.errors
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from resources.postgres import sql as statements
from resources.postgres.client import redact
from resources.protocol import SourceUnavailableError
from resources.schema import TableSchema

CHUNK_BYTES = 1 << 20
PRODUCER_EXIT_TIMEOUT_S = 30

ChunkSource = Callable[[dict[str, str]], Iterable[bytes]]
"""Given the target's column -> PostgreSQL type, the binary COPY stream of the rows to land."""


@dataclass
class LoadedStats:
    """What one load COPYed: its rows, the highest cursor value and the number of NULL cursors among them."""

    rows: int = 0
    max_cursor: Any = None
    null_cursors: int = 0


def read_binary(conninfo: str, table: TableSchema, namespace: str, since: Any, target_types: dict[str, str],
                label: str, password: str) -> Iterator[bytes]:
    """The rows of ``namespace.table`` (``>= since`` on its cursor, or NULL) as binary COPY chunks whose columns are
    those of ``target_types``, cast to them. A dropped or renamed table and a lost connection are clear errors.

    psycopg 3 hands COPY data to Python one row at a time (a generator step each, the limit of a bare psycopg pipe);
    psycopg2's ``copy_expert`` runs that loop in C. It writes into a pipe from a thread of its own (libpq releases the
    GIL), and this generator reads the pipe in chunks, so the source's and the target's COPY overlap.
    """
    source_types = {column.name: column.source_type for column in table.columns}
    columns = [(name, source_types[name], target) for name, target in target_types.items() if name in source_types]
    query = statements.copy_out_binary(columns, namespace, table.name, table.cursor_column, since).as_string(None)
    reader_fd, writer_fd = os.pipe()
    failure: list[BaseException] = []
    producer = threading.Thread(target=_produce, args=(conninfo, query, writer_fd, failure), daemon=True,
                                name=f"aietl-copy-out-{table.name}")
    producer.start()
    try:
        with os.fdopen(reader_fd, "rb", buffering=0) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk
    finally:
        producer.join(PRODUCER_EXIT_TIMEOUT_S)
    if failure:
        raise _read_error(failure[0], namespace, table.name, label, password)


def _produce(conninfo: str, query: str, writer_fd: int, failure: list[BaseException]) -> None:
    try:
        with os.fdopen(writer_fd, "wb", buffering=CHUNK_BYTES) as sink:
            connection = psycopg2.connect(conninfo)
            try:
                connection.cursor().copy_expert(query, sink, size=CHUNK_BYTES)
            finally:
                connection.close()
    except BrokenPipeError:
        pass  # the reader stopped early (the target failed); its own error is the one that counts
    except BaseException as error:
        failure.append(error)


def _read_error(error: BaseException, namespace: str, table: str, label: str, password: str) -> Exception:
    reason, name = redact(error, password), f"{namespace}.{table}"
    if isinstance(error, psycopg2.errors.UndefinedTable):
        return ValueError(f"{label}: table {name} no longer exists (dropped or renamed since it was discovered); "
                          "run `aietl discover`")
    if isinstance(error, psycopg2.errors.UndefinedColumn):
        return ValueError(f"{label}: table {name} changed since it was discovered: {reason}")
    if isinstance(error, psycopg2.DataError):
        return ValueError(f"{label}: cannot read {name} as the target's column types: {reason}")
    if isinstance(error, psycopg2.OperationalError):
        return SourceUnavailableError(f"{label}: lost while reading {table!r}: {reason}")
    return ValueError(f"{label}: cannot read {name}: {reason}")


def chunk_filler(chunks: ChunkSource, cursor_column: str | None, stats: LoadedStats
                 ) -> Callable[[psycopg.Connection, sql.Composable, dict[str, str]], int]:
    """A filler for :func:`resources.postgres.write.land` that COPYs ``chunks`` and fills ``stats`` from the table
    it loaded (which holds exactly the rows of this load)."""

    def fill(connection: psycopg.Connection, target: sql.Composable, types: dict[str, str]) -> int:
        with connection.cursor() as cursor, cursor.copy(statements.copy_in(target, types),
                                                        writer=QueuedLibpqWriter(cursor)) as copy:
            for chunk in chunks(types):
                copy.write(chunk)
        column = cursor_column if cursor_column in types else None
        stats.rows, stats.max_cursor, stats.null_cursors = connection.execute(
            statements.loaded_stats(target, column)).fetchone()
        return stats.rows

    return fill
