"""Emit pipelines.yaml as a PySpark module (DataFrame API) a user can run on a Spark cluster.

One function per model, ``model(tables) -> DataFrame`` with ``tables`` mapping ``source.table`` and model names
to Spark DataFrames, and ``run_all(tables)``. Columns of the joined tables are renamed ``alias__column`` so joins
never clash; window frames are ROWS frames; ``/`` is floating division with NULL for a zero divisor.
"""

from __future__ import annotations

from sqlglot import exp

from etl_assets.transform.emit_module import ModelEmitter, emit_module, function_header
from etl_assets.transform.spec.expressions import function_arguments, function_name
from etl_assets.transform.spec.models import Condition, Window
from etl_assets.transform.spec.resolved import Pipelines

RUNTIME = '''
from pyspark.sql import DataFrame, Window as W
from pyspark.sql import functions as F

_AGGREGATES = {"sum": F.sum, "avg": F.avg, "count": F.count, "count_distinct": F.countDistinct, "min": F.min,
               "max": F.max, "stddev": F.stddev_samp, "variance": F.var_samp}


def _table(tables, name, alias):
    frame = tables[name]
    return frame.select([F.col(c).alias(f"{alias}__{c}") for c in frame.columns])


def _join(left, right, how, on):
    if how == "cross":
        return left.crossJoin(right)
    condition = None
    for a, b in on:
        equal = F.col(a) == F.col(b)
        condition = equal if condition is None else condition & equal
    return left.join(right, condition, {"full": "full_outer"}.get(how, how))


def _condition(column, op, value=None):
    if op == "is_null":
        return column.isNull()
    if op == "not_null":
        return column.isNotNull()
    if op == "in":
        return column.isin(value)
    if op == "not_in":
        return ~column.isin(value)
    if op == "between":
        return column.between(value[0], value[1])
    return {"=": column == value, "!=": column != value, "<": column < value, "<=": column <= value,
            ">": column > value, ">=": column >= value}[op]


def _window_spec(partition, order, preceding=None, following=None, framed=False):
    spec = W.partitionBy(*partition) if partition else W.partitionBy()
    if order:
        spec = spec.orderBy(*[F.col(c).desc_nulls_last() if d else F.col(c).asc_nulls_last() for c, d in order])
    if framed:
        start = W.unboundedPreceding if preceding is None else -preceding
        end = W.unboundedFollowing if following is None else following
        spec = spec.rowsBetween(start, end)
    return spec


def _div(numerator, denominator):
    return numerator.cast("double") / F.when(denominator != 0, denominator)


def _fn_to_date(value):
    return F.to_date(F.to_utc_timestamp(value, "UTC"))


def _fn_days_between(start, end):
    return F.floor((F.unix_timestamp(end) - F.unix_timestamp(start)) / 86400).cast("bigint")


def _fn_round(value, digits=0):
    return F.round(value.cast("double"), digits)
'''

FUNCTIONS = {"coalesce": "F.coalesce", "abs": "F.abs", "lower": "F.lower", "upper": "F.upper"}


class PySparkModel(ModelEmitter):
    def emit(self) -> str:
        self._base()
        for window in self.spec.windows:
            self._line(f"frame = frame.withColumn({window.name!r}, {self._window(window)})")
        for derived in self.spec.derive:
            self._line(f"frame = frame.withColumn({derived.name!r}, {self.expression(derived.expr, False)})")
        self._line(f"return frame.select({', '.join(repr(name) for name in self.model.output)})")
        return function_header(self.model) + "\n".join(self.lines) + "\n"

    def _base(self) -> None:
        first = self.model.relations[0]
        self._line(f"frame = _table(tables, {first.ref!r}, {first.alias!r})")
        for relation in self.model.relations[1:]:
            pairs = [(self._name(a), self._name(b)) for a, b in relation.on]
            self._line(f"frame = _join(frame, _table(tables, {relation.ref!r}, {relation.alias!r}), "
                       f"{relation.join_type!r}, {pairs!r})")
        for condition in self.spec.where:
            self._line(f"frame = frame.where({self._condition(condition, True)})")
        if self.spec.grouped:
            keys = [f"{self._item_code(item.column, item.expr)}.alias({item.output_name!r})"
                    for item in self.spec.group_by]
            aggregates = [self._aggregate(a.function, a.column, a.expr) + f".alias({a.name!r})"
                          for a in self.spec.aggregations]
            group = f"frame.groupBy({', '.join(keys)})" if keys else "frame"
            self._line(f"frame = {group}.agg({', '.join(aggregates)})")
            for condition in self.spec.having:
                self._line(f"frame = frame.where({self._condition(condition, False)})")
            return
        if self.spec.columns:
            items = [f"{self._item_code(i.column, i.expr)}.alias({i.output_name!r})" for i in self.spec.columns]
        else:
            first = self.model.relations[0]
            items = [f"F.col('{first.alias}__{c}').alias({c!r})" for c in first.columns]
        self._line(f"frame = frame.select({', '.join(items)})")

    def _item_code(self, column: str | None, expr: str | None) -> str:
        return f"F.col({self._name(self._qualify(column))!r})" if column else self.expression(expr or "", True)

    def _aggregate(self, function: str, column: str | None, expr: str | None) -> str:
        if not (column or expr):
            return "F.count(F.lit(1))"
        return f"_AGGREGATES[{function!r}]({self._item_code(column, expr)})"

    def _window(self, window: Window) -> str:
        order = [(key.column, key.desc) for key in window.order_by]
        frame = window.effective_frame
        bounds = ""
        if frame:
            preceding, following = frame.row_offsets
            bounds = f", {preceding!r}, {following!r}, framed=True"
        spec = f"_window_spec({window.partition_by!r}, {order!r}{bounds})"
        column = f"F.col({window.column!r})" if window.column else "F.lit(1)"
        function = {
            "row_number": "F.row_number()", "rank": "F.rank()", "dense_rank": "F.dense_rank()",
            "lag": f"F.lag({column}, {window.offset})", "lead": f"F.lead({column}, {window.offset})",
            "first_value": f"F.first({column})",
        }.get(window.function, f"_AGGREGATES[{window.function!r}]({column})")
        return f"{function}.over({spec})"

    def _qualify(self, reference: str | None) -> str:
        return self.model.qualify(reference or "")

    @staticmethod
    def _name(qualified: str) -> str:
        return qualified.replace(".", "__", 1)

    def _condition(self, condition: Condition, qualified: bool) -> str:
        name = self._name(self._qualify(condition.column)) if qualified else condition.column
        value = "" if condition.value is None else f", {condition.value!r}"
        return f"_condition(F.col({name!r}), {condition.op!r}{value})"

    def _code(self, node: exp.Expression, qualified: bool) -> str:
        if isinstance(node, exp.Column):
            reference = ".".join(part for part in (node.table, node.name) if part)
            return f"F.col({(self._name(self._qualify(reference)) if qualified else reference)!r})"
        if isinstance(node, exp.Literal):
            return f"F.lit({node.this!r})" if node.is_string else f"F.lit({node.this})"
        arithmetic = self._arithmetic(node, qualified)
        if arithmetic is not None:
            return arithmetic
        if isinstance(node, exp.Func):
            name = function_name(node)
            values = function_arguments(node)
            codes = [self._code(argument, qualified) for argument in values]
            if name == "round" and len(values) == 2 and isinstance(values[1], exp.Literal):
                codes[1] = str(values[1].this)
            arguments = ", ".join(codes)
            return f"{FUNCTIONS.get(name, '_fn_' + name)}({arguments})"
        raise ValueError(f"cannot emit {node.sql()} as PySpark")


def emit_pyspark(pipelines: Pipelines) -> str:
    return emit_module(pipelines, "PySpark", RUNTIME, lambda model: PySparkModel(model).emit())
