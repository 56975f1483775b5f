"""Result-set rows -> Arrow record batches of the table's schema, bad values named or quarantined."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from resources.protocol import OnBadRecord
from resources.schema import Column, QuarantinedRecord, TableSchema, to_arrow
from resources.ydb.types import python_value


def rows_to_batch(rows: list[Any], table: TableSchema, first_row: int,
                  on_bad_record: OnBadRecord | None) -> pa.RecordBatch:
    """Convert result-set rows to one batch of ``table.arrow_schema()``. A value that does not convert fails with
    table, row and column named, or with ``on_bad_record`` is quarantined and its row left out."""
    values: dict[str, list[Any]] = {c.name: [] for c in table.columns}
    problems: dict[int, str] = {}
    for offset, row in enumerate(rows):
        for column in table.columns:
            try:
                values[column.name].append(_converted(_raw(row, column.name), column))
            except (ValueError, TypeError, ArithmeticError) as error:
                problems.setdefault(offset, f"column {column.name!r} ({column.source_type}): {error}")
                values[column.name].append(None)
    for column in table.columns:
        problems.update({offset: reason for offset, reason in _unfit_values(values[column.name], column).items()
                         if offset not in problems})
    if problems:
        _report_bad_rows(rows, table, first_row, problems, on_bad_record)
    keep = [offset for offset in range(len(rows)) if offset not in problems]
    arrays = [pa.array([values[c.name][i] for i in keep], type=to_arrow(c.logical_type)) for c in table.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema())


def _converted(value: Any, column: Column) -> Any:
    converted = python_value(value, column.logical_type, column.source_type)
    if converted is None and not column.nullable:
        raise ValueError("NULL in a NOT NULL column")
    return converted


def _unfit_values(values: list[Any], column: Column) -> dict[int, str]:
    """Offsets of values Arrow refuses for the column's type (checked one by one only when the column fails)."""
    arrow_type = to_arrow(column.logical_type)
    try:
        pa.array(values, type=arrow_type)
        return {}
    except (pa.ArrowException, ValueError, TypeError, ArithmeticError):
        pass
    unfit = {}
    for offset, value in enumerate(values):
        try:
            pa.array([value], type=arrow_type)
        except (pa.ArrowException, ValueError, TypeError, ArithmeticError) as error:
            unfit[offset] = f"column {column.name!r} ({column.source_type}): {error}"
    return unfit


def _report_bad_rows(rows: list[Any], table: TableSchema, first_row: int, problems: dict[int, str],
                     on_bad_record: OnBadRecord | None) -> None:
    for offset, reason in sorted(problems.items()):
        location = f"row {first_row + offset}"
        if on_bad_record is None:
            raise ValueError(f"{table.source}.{table.name}: {location}: {reason}")
        raw = json.dumps({c.name: _raw(rows[offset], c.name) for c in table.columns}, default=str)
        on_bad_record(QuarantinedRecord(source=table.source, table=table.name, location=location,
                                        reason=reason, raw=raw))


def _raw(row: Any, name: str) -> Any:
    return row[name]
