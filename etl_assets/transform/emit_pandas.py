"""Emit pipelines.yaml as a self-contained pandas module a user can run anywhere.

The module has one function per model, ``model(tables) -> DataFrame``, where ``tables`` maps ``source.table`` (and
model names) to DataFrames, and ``run_all(tables)`` that runs every model in dependency order. Its semantics follow
the SQL: NULL keys never join, comparisons drop NULLs, ``sum`` of nothing is NULL, ranks count peers, frames are ROWS
frames, ``/`` is floating division with NULL for a zero divisor.
"""

from __future__ import annotations

from sqlglot import exp

from etl_assets.transform.emit_module import ModelEmitter, emit_module, function_header
from etl_assets.transform.spec.expressions import function_arguments, function_name
from etl_assets.transform.spec.models import Condition, Window
from etl_assets.transform.spec.resolved import Pipelines

RUNTIME = '''
import datetime as _dt
from decimal import Decimal as _Decimal

import numpy as np
import pandas as pd

_PANDAS_AGGREGATES = {"sum": "sum", "avg": "mean", "count": "count", "count_distinct": "nunique", "min": "min",
                      "max": "max", "stddev": "std", "variance": "var"}


def _input(frame):
    """Decimals become floats and datetimes pandas timestamps (as a database driver may hand them over)."""
    frame = frame.copy()
    for name in frame.columns:
        values = frame[name].dropna()
        if values.empty or frame[name].dtype != object:
            continue
        sample = values.iloc[0]
        if isinstance(sample, _Decimal):
            frame[name] = frame[name].astype(float)
        elif isinstance(sample, _dt.datetime):
            frame[name] = pd.to_datetime(frame[name], utc=sample.tzinfo is not None)
    return frame


def _table(tables, name, alias):
    return _input(tables[name]).add_prefix(alias + ".").reset_index(drop=True)


def _join(left, right, how, on):
    """SQL join: rows whose key has a NULL never match (pandas would match NaN with NaN)."""
    if how == "cross":
        return left.merge(right, how="cross")
    left_keys, right_keys = [l for l, _ in on], [r for _, r in on]
    left_null, right_null = left[left_keys].isna().any(axis=1), right[right_keys].isna().any(axis=1)
    joined = left[~left_null].merge(right[~right_null], how="outer" if how == "full" else how,
                                    left_on=left_keys, right_on=right_keys)
    parts = [joined]
    if how in ("left", "full"):
        parts.append(left[left_null])
    if how in ("right", "full"):
        parts.append(right[right_null])
    parts = [part for part in parts if len(part)]
    return (pd.concat(parts, ignore_index=True) if len(parts) > 1 else joined).reset_index(drop=True)


def _comparable(series, value):
    if pd.api.types.is_datetime64_any_dtype(series) and isinstance(value, str):
        stamp = pd.Timestamp(value)
        tz = series.dt.tz
        return stamp.tz_convert(tz) if stamp.tzinfo and tz else stamp.tz_localize(tz) if tz else stamp
    return value


def _condition(series, op, value=None):
    """A WHERE/HAVING condition with SQL's NULL semantics: a NULL never passes a comparison."""
    present = series.notna()
    if op == "is_null":
        return ~present
    if op == "not_null":
        return present
    if op in ("in", "not_in"):
        member = series.isin([_comparable(series, v) for v in value])
        return present & (member if op == "in" else ~member)
    if op == "between":
        low, high = (_comparable(series, v) for v in value)
        return present & (series >= low) & (series <= high)
    value = _comparable(series, value)
    result = {"=": series == value, "!=": series != value, "<": series < value, "<=": series <= value,
              ">": series > value, ">=": series >= value}[op]
    return present & result.fillna(False).astype(bool)


def _aggregate(values, function):
    values = values.dropna() if function != "count_rows" else values
    if function == "count_rows":
        return len(values)
    if function == "count":
        return int(values.count())
    if function == "count_distinct":
        return int(values.nunique())
    if values.empty:
        return np.nan
    if function in ("sum", "avg", "stddev", "variance"):
        values = values.astype(float)
    return {"sum": values.sum, "avg": values.mean, "min": values.min, "max": values.max,
            "stddev": lambda: values.std(ddof=1), "variance": lambda: values.var(ddof=1)}[function]()


def _group(frame, keys, aggregations):
    """GROUP BY ``keys`` (NULL keys form one group) with ``aggregations`` = [(name, input column, function)]."""
    if not keys:
        return pd.DataFrame([{name: _aggregate(frame[column], function) for name, column, function in aggregations}])
    rows = []
    for key, group in frame.groupby(keys, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key))
        row.update({name: _aggregate(group[column], function) for name, column, function in aggregations})
        rows.append(row)
    return pd.DataFrame(rows, columns=keys + [name for name, _, _ in aggregations])


def _ordered(frame, partition, order):
    columns = partition + [column for column, _ in order]
    ascending = [True] * len(partition) + [not descending for _, descending in order]
    if not columns:
        return frame
    return frame.sort_values(columns, ascending=ascending, na_position="last", kind="stable")


def _partition_ids(ordered, columns):
    if not columns:
        return pd.Series(0, index=ordered.index)
    return ordered.groupby(columns, dropna=False, sort=False).ngroup()


def _window(frame, function, column, partition, order, preceding=None, following=None, offset=1):
    """A window function over ``frame`` (ROWS frames; ``None`` bounds mean unbounded, 0 the current row)."""
    ordered = _ordered(frame, partition, order)
    groups = _partition_ids(ordered, partition)
    by_group = ordered.groupby(groups, sort=False)
    if function == "row_number":
        return by_group.cumcount() + 1
    if function in ("rank", "dense_rank"):
        peers = _partition_ids(ordered, partition + [c for c, _ in order])
        new_peer = peers != peers.shift()
        if function == "dense_rank":
            return new_peer.astype(int).groupby(groups).cumsum()
        position = (by_group.cumcount() + 1).astype(float)
        return position.where(new_peer).ffill().astype(int)
    if function in ("lag", "lead"):
        return by_group[column].shift(offset if function == "lag" else -offset)
    if function == "first_value":
        return by_group[column].transform(lambda values: values.iloc[0])
    values = ordered[column] if column else pd.Series(1, index=ordered.index)
    name = "count_rows" if function == "count" and not column else function
    result = pd.Series(np.nan, index=ordered.index, dtype=object)
    for _, members in values.groupby(groups, sort=False):
        array = members.to_numpy()
        for position, index in enumerate(members.index):
            low = 0 if preceding is None else max(0, position - preceding)
            high = len(array) if following is None else min(len(array), position + following + 1)
            result[index] = _aggregate(pd.Series(array[low:high]), name)
    return result


def _div(numerator, denominator):
    denominator = pd.Series(denominator).astype(float) if not np.isscalar(denominator) else float(denominator)
    if np.isscalar(denominator):
        return np.nan if denominator == 0 else pd.Series(numerator).astype(float) / denominator
    return pd.Series(numerator).astype(float) / denominator.where(denominator != 0)


def _instants(values):
    values = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz is not None else values
    return pd.to_datetime(values)


def _fn_to_date(values):
    values = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _instants(values).dt.date.where(values.notna(), None)
    return values.map(lambda value: value.date() if isinstance(value, _dt.datetime) else value)


def _fn_days_between(start, end):
    seconds = (_instants(end) - _instants(start)).dt.total_seconds()
    return np.floor(seconds / 86400).astype("Int64")


def _fn_round(values, digits=0):
    return pd.Series(values).astype(float).round(int(digits))


def _fn_coalesce(*values):
    result = pd.Series(values[0]) if not np.isscalar(values[0]) else values[0]
    for value in values[1:]:
        result = result.where(result.notna(), value) if isinstance(result, pd.Series) else result
    return result


def _fn_abs(values):
    return pd.Series(values).abs()


def _fn_lower(values):
    return pd.Series(values).str.lower()


def _fn_upper(values):
    return pd.Series(values).str.upper()
'''


class PandasModel(ModelEmitter):
    """The body of one model's function."""

    def emit(self) -> str:
        self._base()
        self._windows()
        self._derive()
        self.lines.append(f"    return frame[{list(self.model.output)!r}].reset_index(drop=True)")
        return function_header(self.model) + "\n".join(self.lines) + "\n"

    def _base(self) -> None:
        first = self.model.relations[0]
        self._line(f"frame = _table(tables, {first.ref!r}, {first.alias!r})")
        for relation in self.model.relations[1:]:
            self._line(f"frame = _join(frame, _table(tables, {relation.ref!r}, {relation.alias!r}), "
                       f"{relation.join_type!r}, {list(relation.on)!r})")
        for condition in self.spec.where:
            self._line(f"frame = frame[{self._condition(condition, qualified=True)}]")
        if self.spec.grouped:
            self._grouped()
        else:
            self._projected()

    def _projected(self) -> None:
        items = self.spec.columns
        if not items:
            first = self.model.relations[0]
            pairs = [(name, f'frame["{first.alias}.{name}"]') for name in first.columns]
        else:
            pairs = [(item.output_name, self._column(item.column) if item.column
                      else self.expression(item.expr or "", qualified=True)) for item in items]
        self._line("frame = pd.DataFrame({" + ", ".join(f"{name!r}: {code}" for name, code in pairs)
                   + "}, index=frame.index).reset_index(drop=True)")

    def _grouped(self) -> None:
        inputs = [f"{item.output_name!r}: " + (self._column(item.column) if item.column
                                                 else self.expression(item.expr or "", qualified=True))
                  for item in self.spec.group_by]
        aggregations = []
        for index, aggregation in enumerate(self.spec.aggregations):
            column = f"__input_{index}"
            if aggregation.column:
                inputs.append(f"{column!r}: {self._column(aggregation.column)}")
            elif aggregation.expr:
                inputs.append(f"{column!r}: {self.expression(aggregation.expr, qualified=True)}")
            else:
                inputs.append(f"{column!r}: 1")
            function = aggregation.function if (aggregation.column or aggregation.expr) else "count_rows"
            aggregations.append((aggregation.name, column, function))
        self._line("frame = pd.DataFrame({" + ", ".join(inputs) + "}, index=frame.index)")
        keys = [item.output_name for item in self.spec.group_by]
        self._line(f"frame = _group(frame, {keys!r}, {aggregations!r})")
        for condition in self.spec.having:
            self._line(f"frame = frame[{self._condition(condition, qualified=False)}].reset_index(drop=True)")

    def _windows(self) -> None:
        for window in self.spec.windows:
            self._line(f"frame[{window.name!r}] = {self._window(window)}")

    @staticmethod
    def _window(window: Window) -> str:
        order = [(key.column, key.desc) for key in window.order_by]
        frame = window.effective_frame
        bounds = ""
        if frame:
            preceding, following = frame.row_offsets
            bounds = f", preceding={preceding!r}, following={following!r}"
        return (f"_window(frame, {window.function!r}, {window.column!r}, {window.partition_by!r}, {order!r}"
                f"{bounds}, offset={window.offset})")

    def _derive(self) -> None:
        for derived in self.spec.derive:
            self._line(f"frame[{derived.name!r}] = {self.expression(derived.expr, qualified=False)}")

    def _column(self, reference: str | None) -> str:
        return f"frame[{self.model.qualify(reference or '')!r}]"

    def _condition(self, condition: Condition, qualified: bool) -> str:
        column = self._column(condition.column) if qualified else f"frame[{condition.column!r}]"
        value = "" if condition.value is None else f", {condition.value!r}"
        return f"_condition({column}, {condition.op!r}{value})"

    def _code(self, node: exp.Expression, qualified: bool) -> str:
        if isinstance(node, exp.Column):
            reference = ".".join(part for part in (node.table, node.name) if part)
            return self._column(reference) if qualified else f"frame[{reference!r}]"
        if isinstance(node, exp.Literal):
            return repr(node.this) if node.is_string else node.this
        if isinstance(node, exp.Boolean):
            return repr(node.this)
        if isinstance(node, exp.Null):
            return "np.nan"
        arithmetic = self._arithmetic(node, qualified)
        if arithmetic is not None:
            return arithmetic
        if isinstance(node, exp.Func):
            arguments = ", ".join(self._code(argument, qualified) for argument in function_arguments(node))
            return f"_fn_{function_name(node)}({arguments})"
        raise ValueError(f"cannot emit {node.sql()} as pandas")


def emit_pandas(pipelines: Pipelines) -> str:
    """The whole module as source text."""
    return emit_module(pipelines, "pandas", RUNTIME, lambda model: PandasModel(model).emit())
