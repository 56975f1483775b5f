"""Arrow batches to and from ClickHouse: casting to the table's schema (bad rows named or quarantined) and
grouping batches into insert blocks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from resources.clickhouse.types import LANDED_AS
from resources.protocol import OnBadRecord
from resources.schema import QuarantinedRecord, TableSchema, to_arrow


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema, where: str, first_row: int = 0,
                  on_bad_record: OnBadRecord | None = None) -> pa.RecordBatch:
    """Cast ``batch`` to ``schema``. A value that cannot be cast (e.g. a UInt64 above Int64's range) fails with
    the table, column and row named; with ``on_bad_record`` its row is quarantined and the rest is kept."""
    missing = [name for name in schema.names if name not in batch.schema.names]
    if missing:
        raise ValueError(f"{where}: batch lacks columns {missing} (it has {batch.schema.names})")
    try:
        return _cast_columns(batch, schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        problems = _bad_rows(batch, schema)
        if not problems:
            raise ValueError(f"{where}: rows {first_row}..{first_row + batch.num_rows - 1} do not fit the table "
                             f"schema: {error}") from error
        if on_bad_record is None:
            index = min(problems)
            raise ValueError(f"{where}: row {first_row + index}: {problems[index]}") from error
    source, _, table = where.partition(".")
    for index, reason in sorted(problems.items()):
        record = batch.slice(index, 1).to_pylist()[0]
        on_bad_record(QuarantinedRecord(source=source, table=table, location=f"row {first_row + index}",
                                        reason=reason, raw=json.dumps(record, default=str)))
    keep = pa.array([index not in problems for index in range(batch.num_rows)])
    return _cast_columns(batch.filter(keep), schema)


def _cast_columns(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([cast_array(batch.column(f.name), f.type) for f in schema], schema=schema)


def _bad_rows(batch: pa.RecordBatch, schema: pa.Schema) -> dict[int, str]:
    """Row index -> why it does not fit, checked value by value (only after a whole batch failed to cast)."""
    problems: dict[int, str] = {}
    for target in schema:
        values = batch.column(target.name)
        try:
            cast_array(values, target.type)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        for index in range(len(values)):
            try:
                cast_array(values.slice(index, 1), target.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                problems.setdefault(index, f"column {target.name!r} ({values.type}): value does not fit "
                                           f"{target.type}: {error}")
    return problems


def cast_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    if array.type == target:
        return array
    if isinstance(array.type, pa.ExtensionType):
        array = pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    if pa.types.is_date(target) and pa.types.is_integer(array.type):
        return pc.cast(pc.cast(array, pa.int32()), target)
    return pc.cast(array, target, safe=True)


def insert_schema(table: TableSchema) -> pa.Schema:
    """The Arrow schema sent to ClickHouse: the table's, with the types landed as String (``LANDED_AS``) as text."""
    fields = []
    for column in table.columns:
        arrow_type = pa.string() if column.logical_type in LANDED_AS else to_arrow(column.logical_type)
        fields.append(pa.field(column.name, arrow_type, nullable=True))
    return pa.schema(fields)


def rebatch(batches: Iterable[pa.RecordBatch], max_rows: int, max_bytes: int) -> Iterator[list[pa.RecordBatch]]:
    """Group small batches into insert blocks of at most about ``max_rows`` rows / ``max_bytes`` bytes
    (ClickHouse wants few large inserts; memory stays bounded by one block)."""
    block: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        block.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= max_rows or size >= max_bytes:
            yield block
            block, rows, size = [], 0, 0
    if block:
        yield block


def batches_of(block: pa.Table | pa.RecordBatch) -> list[pa.RecordBatch]:
    return block.to_batches() if isinstance(block, pa.Table) else [block]
