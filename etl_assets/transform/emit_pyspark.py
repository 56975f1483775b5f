"""Emit pipelines.yaml as a PySpark module (DataFrame API) a user can run on a Spark cluster.

One function per model, ``model(tables) -> DataFrame`` with ``tables`` mapping ``source.table`` and model names
to Spark DataFrames, and ``run_all(tables)``. Columns of the joined tables are renamed ``alias__column`` so joins
never clash; window frames are ROWS frames; ``/`` is floating division with NULL for a zero divisor.
"""

from __future__ import annotations

from sqlglot import exp

from etl_assets.transform.spec import (
    Condition, Pipelines, ResolvedModel, Window, function_arguments, function_name, parse_expression,
)

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


class PySparkModel:
    def __init__(self, model: ResolvedModel):
        self.model, self.spec, self.lines = model, model.spec, []

    def emit(self) -> str:
        self._base()
        for window in self.spec.windows:
            self._line(f"frame = frame.withColumn({window.name!r}, {self._window(window)})")
        for derived in self.spec.derive:
            self._line(f"frame = frame.withColumn({derived.name!r}, {self.expression(derived.expr, False)})")
        self._line(f"return frame.select({', '.join(repr(name) for name in self.model.output)})")
        doc = self.spec.description or f"pipelines.yaml models.{self.model.name}"
        return f"def {self.model.name}(tables):\n    {doc!r}\n" + "\n".join(self.lines) + "\n"

    def _line(self, text: str) -> None:
        self.lines.append(f"    {text}")

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
            preceding = None if frame.preceding == "unbounded" else (0 if frame.preceding == "current"
                                                                      else frame.preceding)
            following = None if frame.following == "unbounded" else (0 if frame.following == "current"
                                                                      else frame.following)
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
        reference = reference or ""
        if "." in reference:
            return reference
        owner = next(r for r in self.model.relations if reference in r.columns)
        return f"{owner.alias}.{reference}"

    @staticmethod
    def _name(qualified: str) -> str:
        return qualified.replace(".", "__", 1)

    def _condition(self, condition: Condition, qualified: bool) -> str:
        name = self._name(self._qualify(condition.column)) if qualified else condition.column
        value = "" if condition.value is None else f", {condition.value!r}"
        return f"_condition(F.col({name!r}), {condition.op!r}{value})"

    def expression(self, text: str, qualified: bool) -> str:
        return self._code(parse_expression(text), qualified)

    def _code(self, node: exp.Expression, qualified: bool) -> str:
        if isinstance(node, exp.Column):
            reference = ".".join(part for part in (node.table, node.name) if part)
            return f"F.col({(self._name(self._qualify(reference)) if qualified else reference)!r})"
        if isinstance(node, exp.Literal):
            return f"F.lit({node.this!r})" if node.is_string else f"F.lit({node.this})"
        if isinstance(node, exp.Paren):
            return self._code(node.this, qualified)
        if isinstance(node, exp.Neg):
            return f"(-{self._code(node.this, qualified)})"
        if isinstance(node, exp.Div):
            return f"_div({self._code(node.this, qualified)}, {self._code(node.expression, qualified)})"
        operators = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*"}
        if type(node) in operators:
            return (f"({self._code(node.this, qualified)} {operators[type(node)]} "
                    f"{self._code(node.expression, qualified)})")
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
    functions = [PySparkModel(model).emit() for model in pipelines.ordered()]
    order = [model.name for model in pipelines.ordered()]
    registry = "MODELS = {" + ", ".join(f"{name!r}: {name}" for name in order) + "}\n"
    run_all = (
        "def run_all(tables):\n"
        '    """Every model in dependency order; later models read earlier ones by name."""\n'
        "    tables, results = dict(tables), {}\n"
        f"    for name in {order!r}:\n"
        "        results[name] = tables[name] = MODELS[name](tables)\n"
        "    return results\n"
    )
    header = f'"""Generated by aietl from {pipelines.file}: the models as PySpark code. Do not edit."""\n'
    return "\n\n".join([header + RUNTIME.strip() + "\n", *functions, registry, run_all])
