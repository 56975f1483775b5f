"""Build a model's SELECT as a sqlglot tree and render it per dialect, with dbt's Jinja for relations.

Relations are placeholders in the tree (``__aietl_rel_N__``) replaced after rendering by ``{{ ref(...) }}`` or
``{{ source(...) }}``, so dbt resolves them per target. Where dialects disagree on meaning, the tree is built per
dialect: ``to_date`` of a timestamptz is the UTC date, ``days_between`` counts whole elapsed days, ``/`` is
floating division with NULL for a zero divisor, ``lag``/``lead`` give NULL past the partition edge, and NULLs sort
last. Everything else is sqlglot's own translation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from etl_assets.transform.spec.expressions import function_arguments, function_name, parse_expression
from etl_assets.transform.spec.models import Aggregation, Condition, Frame, Item, Window
from etl_assets.transform.spec.resolved import Relation, ResolvedModel, Scope

DIALECTS = ("postgres", "clickhouse")
INCREMENTAL_MARK = "__aietl_incremental__"
THIS_MARK = "__aietl_this__"
AGGREGATES: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    "sum": lambda e: exp.Sum(this=e), "avg": lambda e: exp.Avg(this=e), "min": lambda e: exp.Min(this=e),
    "max": lambda e: exp.Max(this=e), "count": lambda e: exp.Count(this=e),
    "count_distinct": lambda e: exp.Count(this=exp.Distinct(expressions=[e])),
    "stddev": lambda e: exp.StddevSamp(this=e), "variance": lambda e: exp.Variance(this=e),
}


def relation_mark(index: int) -> str:
    return f"__aietl_rel_{index}__"


@dataclass(frozen=True)
class Typed:
    """Resolves references of an expression and knows their logical types (some functions depend on them)."""

    scope: Scope
    qualified: bool

    def column(self, reference: str) -> tuple[exp.Expression, str]:
        name, logical = self.scope.resolve(reference)
        if self.qualified:
            alias, column = name.split(".", 1)
            return exp.column(column, table=alias, quoted=True), logical
        return exp.column(name, quoted=True), logical


class SqlBuilder:
    """Builds one resolved model's SELECT for one dialect."""

    def __init__(self, model: ResolvedModel, dialect: str):
        if dialect not in DIALECTS:
            raise ValueError(f"unsupported dialect {dialect!r}; expected one of {DIALECTS}")
        self.model, self.spec, self.dialect = model, model.spec, dialect
        self.base_scope = Typed(Scope(model.relations), qualified=True)

    def select(self) -> exp.Select:
        base = self._base()
        if not self.spec.windows and not self.spec.derive:
            return base
        query = exp.select(*self._names(self._base_names())).from_("base").with_("base", as_=base)
        names = self._base_names()
        if self.spec.windows:
            scope = Typed(Scope(names=self._typed(names)), qualified=False)
            windowed = exp.select(*self._names(names), *(self._window(w, scope) for w in self.spec.windows))
            query = query.with_("windowed", as_=windowed.from_("base"))
            names = names + [w.name for w in self.spec.windows]
        last = "windowed" if self.spec.windows else "base"
        if self.spec.derive:
            scope = Typed(Scope(names=self._typed(names)), qualified=False)
            derived = exp.select(*self._names(names), *(
                self.expression(d.expr, scope).as_(d.name, quoted=True) for d in self.spec.derive))
            query = query.with_("derived", as_=derived.from_(last))
            last = "derived"
        return query.select(*self._names(list(self.model.output)), append=False).from_(last)

    def _typed(self, names: list[str]) -> dict[str, str]:
        return {name: self.model.output.get(name, "") for name in names}

    def _base_names(self) -> list[str]:
        spec = self.spec
        items = spec.group_by if spec.grouped else spec.columns
        names = [item.output_name for item in items] + [a.name for a in spec.aggregations]
        return names or [c for r in self.model.relations[:1] for c in r.columns]

    @staticmethod
    def _names(names: list[str]) -> list[exp.Expression]:
        return [exp.column(name, quoted=True) for name in names]

    def _base(self) -> exp.Select:
        spec = self.spec
        items = spec.group_by if spec.grouped else (spec.columns or self._all_columns())
        projections = [self._item(item) for item in items]
        projections += [self._aggregate(a).as_(a.name, quoted=True) for a in spec.aggregations]
        query = exp.select(*projections).from_(self._table(0))
        for index, relation in enumerate(self.model.relations[1:], start=1):
            query = query.join(self._table(index), on=self._join_condition(relation),
                               join_type=relation.join_type or "inner")
        conditions = [self._condition(c, self.base_scope) for c in spec.where]
        if spec.incremental:
            conditions.append(exp.column(INCREMENTAL_MARK, quoted=True))
        if conditions:
            query = query.where(exp.and_(*conditions))
        if spec.group_by:
            query = query.group_by(*(self._item(item).this for item in spec.group_by))
        if spec.having:
            outputs = {p.alias: p.this for p in projections}
            query = query.having(exp.and_(*(self._having(c, outputs) for c in spec.having)))
        return query

    def _all_columns(self) -> list[Item]:
        first = self.model.relations[0]
        return [Item(column=f"{first.alias}.{column}") for column in first.columns]

    def _table(self, index: int) -> exp.Table:
        relation = self.model.relations[index]
        return exp.Table(this=exp.to_identifier(relation_mark(index), quoted=True),
                         alias=exp.TableAlias(this=exp.to_identifier(relation.alias, quoted=True)))

    @staticmethod
    def _join_condition(relation: Relation) -> exp.Expression | None:
        if not relation.on:
            return None
        equalities = []
        for left, right in relation.on:
            (left_alias, left_column), (right_alias, right_column) = left.split(".", 1), right.split(".", 1)
            equalities.append(exp.column(left_column, table=left_alias, quoted=True).eq(
                exp.column(right_column, table=right_alias, quoted=True)))
        return exp.and_(*equalities)

    def _item(self, item: Item) -> exp.Alias:
        if item.column:
            return self.base_scope.column(item.column)[0].as_(item.output_name, quoted=True)
        assert item.expr is not None
        return self.expression(item.expr, self.base_scope).as_(item.output_name, quoted=True)

    def _aggregate(self, aggregation: Aggregation) -> exp.Expression:
        if aggregation.column:
            argument = self.base_scope.column(aggregation.column)[0]
        elif aggregation.expr:
            argument = self.expression(aggregation.expr, self.base_scope)
        else:
            return exp.Count(this=exp.Star())
        return AGGREGATES[aggregation.function](argument)

    def _having(self, condition: Condition, outputs: dict[str, exp.Expression]) -> exp.Expression:
        """HAVING repeats the aggregate itself: PostgreSQL does not see output aliases there."""
        tree = self._condition(condition, Typed(Scope(names={name: "" for name in outputs}), qualified=False))
        for column in list(tree.find_all(exp.Column)):
            column.replace(outputs[column.name].copy())
        return tree

    def _condition(self, condition: Condition, scope: Typed) -> exp.Expression:
        column = scope.column(condition.column)[0]
        value = condition.value
        if condition.op == "is_null":
            return column.is_(exp.null())
        if condition.op == "not_null":
            return exp.not_(column.is_(exp.null()))
        if condition.op in ("in", "not_in"):
            membership = column.isin(*(literal(v) for v in value))
            return exp.not_(membership) if condition.op == "not_in" else membership
        if condition.op == "between":
            return exp.Between(this=column, low=literal(value[0]), high=literal(value[1]))
        comparisons = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
        return comparisons[condition.op](this=column, expression=literal(value))

    def _window(self, window: Window, scope: Typed) -> exp.Expression:
        argument = scope.column(window.column)[0] if window.column else None
        function = self._window_function(window, argument)
        order = exp.Order(expressions=[
            exp.Ordered(this=scope.column(key.column)[0], desc=key.desc, nulls_first=False)
            for key in window.order_by]) if window.order_by else None
        frame = window.effective_frame
        return exp.Window(this=function, partition_by=[scope.column(c)[0] for c in window.partition_by] or None,
                          order=order, spec=frame_spec(frame) if frame else None).as_(window.name, quoted=True)

    def _window_function(self, window: Window, argument: exp.Expression | None) -> exp.Expression:
        name = window.function
        if name == "row_number":
            return exp.RowNumber()
        if name in ("rank", "dense_rank"):
            return exp.Rank() if name == "rank" else exp.DenseRank()
        assert argument is not None or name == "count"
        if name in ("lag", "lead"):
            if self.dialect == "clickhouse":
                argument = exp.Anonymous(this="toNullable", expressions=[argument])
            offset = exp.Literal.number(window.offset)
            return exp.Lag(this=argument, offset=offset) if name == "lag" else exp.Lead(this=argument, offset=offset)
        if name == "first_value":
            return exp.FirstValue(this=argument)
        if name == "count" and argument is None:
            return exp.Count(this=exp.Star())
        return AGGREGATES[name](argument)

    def expression(self, text: str, scope: Typed) -> exp.Expression:
        return self._translate(parse_expression(text), scope)[0]

    def _translate(self, node: exp.Expression, scope: Typed) -> tuple[exp.Expression, str]:
        """Rebuild a parsed expression for this dialect; returns the tree and its logical type."""
        if isinstance(node, exp.Column):
            return scope.column(".".join(part for part in (node.table, node.name) if part))
        if isinstance(node, exp.Paren):
            inner, logical = self._translate(node.this, scope)
            return exp.Paren(this=inner), logical
        if isinstance(node, exp.Div):
            numerator, denominator = self._translate(node.this, scope)[0], self._translate(node.expression, scope)[0]
            return exp.Div(this=exp.cast(numerator, "double"),
                           expression=exp.Nullif(this=denominator, expression=exp.Literal.number(0))), "float64"
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
            left, left_type = self._translate(node.this, scope)
            right, right_type = self._translate(node.expression, scope)
            return type(node)(this=left, expression=right), left_type or right_type
        if isinstance(node, exp.Neg):
            inner, logical = self._translate(node.this, scope)
            return exp.Neg(this=inner), logical
        if isinstance(node, exp.Func):
            return self._function(node, scope)
        return node.copy(), ""

    def _function(self, call: exp.Func, scope: Typed) -> tuple[exp.Expression, str]:
        name = function_name(call)
        arguments = [self._translate(argument, scope) for argument in function_arguments(call)]
        trees = [tree for tree, _ in arguments]
        if name == "to_date":
            return self._to_date(*arguments[0]), "date"
        if name == "days_between":
            return self._days_between(arguments[0], arguments[1]), "int64"
        if name == "round":
            value = trees[0] if self.dialect == "clickhouse" else exp.cast(trees[0], "decimal")
            return exp.Round(this=value, decimals=trees[1] if len(trees) > 1 else None), arguments[0][1]
        if name == "coalesce":
            return exp.Coalesce(this=trees[0], expressions=trees[1:]), arguments[0][1]
        simple = {"abs": exp.Abs, "lower": exp.Lower, "upper": exp.Upper}
        return simple[name](this=trees[0]), arguments[0][1]

    def _to_date(self, value: exp.Expression, logical: str) -> exp.Expression:
        if self.dialect == "clickhouse":
            zone = [exp.Literal.string("UTC")] if logical == "timestamptz" else []
            return exp.Anonymous(this="toDate", expressions=[value, *zone])
        if logical == "timestamptz":
            value = exp.AtTimeZone(this=value, zone=exp.Literal.string("UTC"))
        return exp.cast(value, "date")

    def _days_between(self, start: tuple[exp.Expression, str], end: tuple[exp.Expression, str]) -> exp.Expression:
        """Whole days elapsed from start to end (floor of seconds / 86400), the same in every dialect."""
        if self.dialect == "clickhouse":
            seconds = exp.Anonymous(this="dateDiff", expressions=[exp.Literal.string("second"), start[0], end[0]])
        else:
            seconds = exp.Extract(this=exp.var("EPOCH"), expression=exp.Paren(
                this=exp.Sub(this=self._pg_instant(*end), expression=self._pg_instant(*start))))
        days = exp.Floor(this=exp.Div(this=seconds, expression=exp.Literal.number(86400)))
        return exp.cast(days, "bigint")

    @staticmethod
    def _pg_instant(value: exp.Expression, logical: str) -> exp.Expression:
        return value if logical == "timestamptz" else exp.cast(value, "timestamp")


def frame_spec(frame: Frame) -> exp.WindowSpec:
    def bound(value: int | str, side: str) -> tuple[exp.Expression | str, str | None]:
        if value == "unbounded":
            return "UNBOUNDED", side
        if value == "current" or value == 0:
            return "CURRENT ROW", None
        return exp.Literal.number(value), side

    start, start_side = bound(frame.preceding, "PRECEDING")
    end, end_side = bound(frame.following, "FOLLOWING")
    return exp.WindowSpec(kind="ROWS", start=start, start_side=start_side, end=end, end_side=end_side)


def literal(value: object) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def render(model: ResolvedModel, dialect: str, relation_jinja: Callable[[Relation], str]) -> str:
    """The model's SELECT in ``dialect`` with dbt Jinja for every relation and the incremental filter."""
    builder = SqlBuilder(model, dialect)
    text = builder.select().sql(dialect=dialect, pretty=True, identify=True)
    for index, relation in enumerate(model.relations):
        text = text.replace(f'"{relation_mark(index)}"', relation_jinja(relation))
    if model.spec.incremental:
        text = text.replace(f'"{INCREMENTAL_MARK}"', incremental_filter(model, dialect))
    return text


def incremental_filter(model: ResolvedModel, dialect: str) -> str:
    """New rows only when dbt runs the model incrementally: the cursor past the target's maximum."""
    assert model.spec.incremental is not None
    cursor = model.spec.incremental.cursor
    alias = model.relations[0].alias
    newest = exp.select(exp.Max(this=exp.column(cursor, quoted=True))).from_(exp.to_table(THIS_MARK, quoted=True))
    predicate = exp.GT(this=exp.column(cursor, table=alias, quoted=True), expression=exp.Subquery(this=newest))
    rendered = predicate.sql(dialect=dialect, identify=True).replace(f'"{THIS_MARK}"', "{{ this }}")
    return f"{{% if is_incremental() %}}{rendered}{{% else %}}1 = 1{{% endif %}}"
