"""COPY in both directions: ``COPY ... TO STDOUT (FORMAT csv)`` parsed by Arrow's multi-threaded CSV reader, and
Arrow batches encoded into PostgreSQL's binary COPY format (pgpq)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Collection, Iterable, Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from resources.postgres import sql as statements
from resources.postgres.catalog import target_columns
from resources.postgres.client import redact, server_gone
from resources.postgres.types import SchemaConflictError, logical_type
from resources.protocol import SourceUnavailableError
from resources.schema import TableSchema, to_arrow

READ_BLOCK_BYTES = 4 << 20


# ---- reading -------------------------------------------------------------------------------------------------------

def read_csv(connection: psycopg.Connection, query: sql.Composable, table: TableSchema, label: str, password: str
             ) -> Iterator[pa.RecordBatch]:
    """The rows of a ``COPY ... TO STDOUT (FORMAT csv)`` as batches of ``table``'s Arrow schema.

    A connection lost mid-stream raises :class:`SourceUnavailableError`; any other failure a ValueError naming the
    table.
    """
    target_schema = table.arrow_schema()
    stream: _CopyStream | None = None
    try:
        with connection.cursor().copy(query) as copy:
            stream = _CopyStream(copy)
            if stream.empty():
                return  # no row (an empty table or period): Arrow refuses an empty CSV stream
            reader = pacsv.open_csv(stream, read_options=_read_options(table),
                                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                                    convert_options=_convert_options(table))
            for batch in reader:
                if batch.num_rows:
                    yield _conform(batch, target_schema)
    except (psycopg.OperationalError, OSError, pa.ArrowException) as error:
        cause = stream.error if stream is not None and stream.error is not None else error
        if server_gone(connection, cause):
            raise SourceUnavailableError(
                f"{label}: lost while reading {table.name!r}: {redact(cause, password)}") from None
        raise ValueError(f"{label}: cannot read {table.name!r}: {cause}") from cause


class _CopyStream(io.RawIOBase):
    """A file over COPY TO STDOUT that hands Arrow large reads (libpq yields one row per message)."""

    def __init__(self, copy: psycopg.Copy):
        self._rows = iter(copy)
        self._pending = memoryview(b"")
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def empty(self) -> bool:
        """Whether COPY sent no row at all (reads ahead the first block, which ``readinto`` hands on)."""
        if not self._pending:
            self._pending = memoryview(self._gather(READ_BLOCK_BYTES))
        return not self._pending

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            self._pending = memoryview(self._gather(len(buffer)))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _gather(self, wanted: int) -> bytes:
        parts, size = [], 0
        try:
            for row in self._rows:
                parts.append(row)
                size += len(row)
                if size >= wanted:
                    break
        except BaseException as error:
            self.error = error
            raise
        return b"".join(parts)


def _read_options(table: TableSchema) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(column_names=[c.name for c in table.columns], block_size=READ_BLOCK_BYTES)


def _convert_options(table: TableSchema) -> pacsv.ConvertOptions:
    types = {c.name: (pa.string() if c.logical_type == "binary" else to_arrow(c.logical_type))
             for c in table.columns}
    return pacsv.ConvertOptions(column_types=types, null_values=[""], true_values=["t"], false_values=["f"],
                                strings_can_be_null=True, quoted_strings_can_be_null=False)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field, array in zip(schema, batch.columns):
        if pa.types.is_binary(field.type) and pa.types.is_string(array.type):
            array = pa.array([None if v is None else bytes.fromhex(v[2:]) for v in array.to_pylist()], pa.binary())
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# ---- writing -------------------------------------------------------------------------------------------------------

def copy_target_fields(connection: psycopg.Connection, namespace: str, name: str, columns: Collection[str]
                       ) -> pa.Schema:
    """The Arrow schema that COPY must encode: the target's own types, for the target's columns in ``columns``."""
    existing = target_columns(connection, namespace, name)
    return arrow_fields({column: pg_type for column, pg_type in existing.items() if column in columns})


def arrow_fields(types: dict[str, str]) -> pa.Schema:
    """The Arrow schema pgpq encodes for columns of the given PostgreSQL types."""
    return pa.schema([pa.field(column, to_arrow(logical_type(pg_type)), metadata={"pg": pg_type})
                      for column, pg_type in types.items()])


def copy_batches(connection: psycopg.Connection, target: sql.Composable, fields: pa.Schema,
                 batches: Iterable[pa.RecordBatch]) -> int:
    """Binary COPY of ``batches`` (cast to ``fields``) into ``target``; returns the number of rows.

    The queued writer sends to the server from a thread of its own, so encoding the next batch overlaps the network.
    """
    encoder = _encoder(fields)
    rows = 0
    with connection.cursor() as cursor, cursor.copy(statements.copy_in(target, fields.names),
                                                    writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(encoder.write_header())
        for batch in batches:
            if batch.num_rows:
                copy.write(encoder.write_batch(_cast_batch(batch, fields)))
                rows += batch.num_rows
        copy.write(encoder.finish())
    return rows


def _encoder(fields: pa.Schema) -> ArrowToPostgresBinaryEncoder:
    plain = pa.schema([pa.field(f.name, _wire_type(f), nullable=True) for f in fields])
    encoders = {}
    for field, wire in zip(fields, plain):
        if field.metadata and field.metadata.get(b"pg") == b"jsonb":
            encoders[field.name] = StringEncoderBuilder.new_with_output(wire, Jsonb())
        else:
            encoders[field.name] = ArrowToPostgresBinaryEncoder.infer_encoder(wire)
    return ArrowToPostgresBinaryEncoder.new_with_encoders(plain, encoders)


def _wire_type(field: pa.Field) -> pa.DataType:
    if field.metadata and field.metadata.get(b"pg") == b"uuid":
        return pa.binary(16)
    return field.type


def _cast_batch(batch: pa.RecordBatch, fields: pa.Schema) -> pa.RecordBatch:
    """The batch in the target's column order and types; columns it lacks become NULL."""
    arrays = []
    for field in fields:
        index = batch.schema.get_field_index(field.name)
        array = batch.column(index) if index >= 0 else pa.nulls(batch.num_rows, field.type)
        arrays.append(_cast_array(array, field))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([pa.field(f.name, _wire_type(f)) for f in fields]))


def _cast_array(array: pa.Array, field: pa.Field) -> pa.Array:
    if _wire_type(field) == pa.binary(16):
        return pa.array([None if v is None else uuid.UUID(str(v)).bytes for v in array.to_pylist()], pa.binary(16))
    if array.type == field.type:
        return array
    if pa.types.is_timestamp(array.type) and pa.types.is_timestamp(field.type):
        return pc.cast(array, field.type, safe=False)
    try:
        return pc.cast(array, field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise SchemaConflictError(f"column {field.name!r}: cannot convert {array.type} values to the target's "
                                  f"{field.metadata.get(b'pg', b'?').decode()}: {error}") from None
