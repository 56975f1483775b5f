"""config/pipelines.yaml: the declarative transformation spec, and its validation against the catalog.

A model reads one table (``source.table`` of the catalog, or another model's name), joins others, filters rows,
optionally groups them, then adds window columns and derived columns, in that order:

    base      SELECT columns | group keys + aggregations  FROM ... JOIN ... WHERE ... GROUP BY ... HAVING ...
    windows   base.* + window functions over base's output names
    derive    everything so far + expressions over those names

Validation resolves every column against the catalog (and other models' outputs) before any SQL is generated, so a
typo fails with the model, the field path and the columns that do exist, not with a database error inside dbt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlglot import exp

from etl_assets.catalog import SourceTable
from etl_assets.config.loader import ConfigError, load_model

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
NUMERIC_TYPES = ("int16", "int32", "int64", "float32", "float64", "decimal")
EXPRESSION_FUNCTIONS = {
    "coalesce": (1, None), "round": (1, 2), "abs": (1, 1), "lower": (1, 1), "upper": (1, 1),
    "to_date": (1, 1), "days_between": (2, 2),
}
"""Functions an expression may call: name -> (min args, max args). Each renders correctly in every dialect."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TableRef(Strict):
    table: str
    """``source.table`` from the catalog, or the name of another model in this file."""
    alias: str | None = None


JoinType = Literal["inner", "left", "right", "full", "cross"]


class Join(TableRef):
    type: JoinType = "inner"
    on: list[str] = Field(default_factory=list)
    """Equality conditions ``a.x = b.y``, all of which must hold."""

    @model_validator(mode="before")
    @classmethod
    def _yaml_on_key(cls, value: Any) -> Any:
        """YAML 1.1 reads an unquoted ``on:`` key as the boolean True."""
        if isinstance(value, dict) and True in value:
            value = {("on" if key is True else key): item for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _on_matches_type(self) -> Join:
        if self.type == "cross" and self.on:
            raise ValueError("a cross join takes no 'on' conditions")
        if self.type != "cross" and not self.on:
            raise ValueError(f"a {self.type} join needs 'on' conditions such as 'o.customer_id = c.customer_id'")
        return self


class Item(Strict):
    """An output column: a column reference, or an expression, under a name."""

    column: str | None = None
    expr: str | None = None
    name: str | None = Field(None, alias="as")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_of(self) -> Item:
        if bool(self.column) == bool(self.expr):
            raise ValueError("give exactly one of 'column' or 'expr'")
        if self.expr and not self.name:
            raise ValueError("an 'expr' item needs a name ('as')")
        return self

    @property
    def output_name(self) -> str:
        return self.name or (self.column or "").split(".")[-1]


Operator = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null", "between"]


class Condition(Strict):
    column: str
    op: Operator
    value: Any = None

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        if self.op in ("is_null", "not_null"):
            if self.value is not None:
                raise ValueError(f"operator {self.op} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"operator {self.op} needs a non-empty list value")
        elif self.op == "between":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("operator between needs a value [low, high]")
        elif self.value is None or isinstance(self.value, (list, dict)):
            raise ValueError(f"operator {self.op} needs a single value")
        return self


AggregateFunction = Literal["sum", "avg", "count", "count_distinct", "min", "max", "stddev", "variance"]


class Aggregation(Strict):
    name: str
    function: AggregateFunction
    column: str | None = None
    expr: str | None = None

    @model_validator(mode="after")
    def _input(self) -> Aggregation:
        if self.column and self.expr:
            raise ValueError("give 'column' or 'expr', not both")
        if not (self.column or self.expr) and self.function != "count":
            raise ValueError(f"{self.function} needs a 'column' or 'expr' (only count may count rows)")
        return self


class OrderKey(Strict):
    column: str
    desc: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.split()
            if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
                return {"column": parts[0], "desc": parts[1].lower() == "desc"}
            return {"column": value}
        return value


FrameBound = Annotated[int, Field(ge=0)] | Literal["unbounded", "current"]


class Frame(Strict):
    """A ROWS frame: ``preceding`` rows before the current one (or ``unbounded``) to ``following`` after it."""

    preceding: FrameBound = "unbounded"
    following: FrameBound = "current"

    @property
    def row_offsets(self) -> tuple[int | None, int | None]:
        """(rows before, rows after) the current row; ``None`` is unbounded, 0 the current row."""
        def offset(bound: int | str) -> int | None:
            return None if bound == "unbounded" else 0 if bound == "current" else int(bound)
        return offset(self.preceding), offset(self.following)


WindowFunction = Literal[
    "row_number", "rank", "dense_rank", "lag", "lead", "first_value", "sum", "avg", "count", "min", "max",
]
RANKING = ("row_number", "rank", "dense_rank")
OFFSET = ("lag", "lead")


class Window(Strict):
    name: str
    function: WindowFunction
    column: str | None = None
    offset: Annotated[int, Field(ge=1)] = 1
    partition_by: list[str] = Field(default_factory=list)
    order_by: list[OrderKey] = Field(default_factory=list)
    frame: Frame | None = None

    @model_validator(mode="after")
    def _shape(self) -> Window:
        if self.function in RANKING and self.column:
            raise ValueError(f"{self.function} takes no column")
        if self.function not in RANKING and self.function != "count" and not self.column:
            raise ValueError(f"{self.function} needs a column")
        if (self.function in RANKING or self.function in OFFSET or self.function == "first_value") \
                and not self.order_by:
            raise ValueError(f"{self.function} needs order_by")
        if self.frame and (self.function in RANKING or self.function in OFFSET):
            raise ValueError(f"{self.function} takes no frame")
        return self

    @property
    def effective_frame(self) -> Frame | None:
        """Aggregates get an explicit ROWS frame: running when ordered, the whole partition otherwise."""
        if self.function in RANKING or self.function in OFFSET:
            return None
        if self.frame:
            return self.frame
        return Frame() if self.order_by else Frame(preceding="unbounded", following="unbounded")


class Derived(Strict):
    name: str
    expr: str


class Incremental(Strict):
    cursor: str
    unique_key: str


ColumnTest = Literal["unique", "not_null"] | dict[str, Any]


class Model(Strict):
    description: str = ""
    from_: TableRef = Field(alias="from")
    joins: list[Join] = Field(default_factory=list)
    where: list[Condition] = Field(default_factory=list)
    columns: list[Item] = Field(default_factory=list)
    group_by: list[Item] = Field(default_factory=list)
    aggregations: list[Aggregation] = Field(default_factory=list)
    having: list[Condition] = Field(default_factory=list)
    windows: list[Window] = Field(default_factory=list)
    derive: list[Derived] = Field(default_factory=list)
    materialized: Literal["table", "view", "incremental"] = "table"
    incremental: Incremental | None = None
    primary_key: list[str] = Field(default_factory=list)
    tests: dict[str, list[ColumnTest]] = Field(default_factory=dict)

    @field_validator("from_", mode="before")
    @classmethod
    def _table_string(cls, value: Any) -> Any:
        return {"table": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _shape(self) -> Model:
        grouped = bool(self.group_by or self.aggregations)
        if grouped and self.columns:
            raise ValueError("a grouped model lists its output in group_by + aggregations, not in columns")
        if self.having and not grouped:
            raise ValueError("having needs group_by or aggregations")
        if (self.materialized == "incremental") != (self.incremental is not None):
            raise ValueError("materialized: incremental and an 'incremental: {cursor, unique_key}' block go together")
        return self

    @property
    def grouped(self) -> bool:
        return bool(self.group_by or self.aggregations)


class PipelinesFile(Strict):
    version: Literal[1] = 1
    models: dict[str, Model] = Field(default_factory=dict)

    @field_validator("models")
    @classmethod
    def _names(cls, models: dict[str, Model]) -> dict[str, Model]:
        for name in models:
            if not NAME.match(name):
                raise ValueError(f"model name {name!r} must be lower_snake_case")
        return models


class PipelineSpecError(ConfigError):
    """The spec does not fit the catalog; ``problems`` lists every ``key.path: reason`` found."""

    def __init__(self, file: str, problems: list[str]):
        self.file, self.problems = file, problems
        self.key_path, _, self.reason = problems[0].partition(": ")
        ValueError.__init__(self, "\n".join(f"{file}: {problem}" for problem in problems))


@dataclass(frozen=True)
class Relation:
    """One table in a model's FROM/JOIN list, as resolved against the catalog or another model."""

    alias: str
    ref: str
    columns: dict[str, str]
    is_model: bool
    join_type: JoinType | None = None
    on: tuple[tuple[str, str], ...] = ()
    cursor_candidates: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return "" if self.is_model else self.ref.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.ref if self.is_model else self.ref.split(".", 1)[1]


@dataclass
class ResolvedModel:
    """A model whose every reference was checked; columns are qualified (``alias.column``) in base expressions."""

    name: str
    spec: Model
    relations: list[Relation]
    output: dict[str, str] = field(default_factory=dict)
    """Output column -> logical type ("" when unknown), in output order."""

    @property
    def upstream_models(self) -> list[str]:
        return [relation.ref for relation in self.relations if relation.is_model]

    @property
    def upstream_tables(self) -> list[tuple[str, str]]:
        return [(relation.source, relation.table) for relation in self.relations if not relation.is_model]

    def qualify(self, reference: str) -> str:
        """``reference`` as ``alias.column`` (a bare column belongs to the first relation that has it)."""
        if "." in reference:
            return reference
        owner = next(r for r in self.relations if reference in r.columns)
        return f"{owner.alias}.{reference}"


@dataclass
class Pipelines:
    """Every model of pipelines.yaml, resolved and in dependency order."""

    models: dict[str, ResolvedModel]
    file: str = "pipelines.yaml"

    def ordered(self) -> list[ResolvedModel]:
        return list(self.models.values())


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, reason: str) -> None:
        self.items.append(f"{path}: {reason}")


class _Scope:
    """The names an expression may use: qualified ``alias.column`` in the base stage, plain names later."""

    def __init__(self, relations: list[Relation] | None = None, names: dict[str, str] | None = None):
        self.relations = relations or []
        self.names = names

    def resolve(self, reference: str) -> tuple[str, str]:
        """``(qualified name, logical type)`` for a reference, or ValueError saying why not."""
        if self.names is not None:
            return self._resolve_name(reference)
        alias, _, column = reference.rpartition(".")
        if alias:
            relation = next((r for r in self.relations if r.alias == alias), None)
            if relation is None:
                raise ValueError(f"column {reference}: no table with alias {alias!r} "
                                 f"(aliases: {', '.join(r.alias for r in self.relations)})")
            if column not in relation.columns:
                raise ValueError(f"column {alias}.{column} does not exist in {relation.ref} "
                                 f"(columns: {', '.join(relation.columns)})")
            return f"{alias}.{column}", relation.columns[column]
        owners = [r for r in self.relations if column in r.columns]
        if not owners:
            raise ValueError(f"column {column} does not exist in "
                             + "; ".join(f"{r.alias} = {r.ref} ({', '.join(r.columns)})" for r in self.relations))
        if len(owners) > 1:
            raise ValueError(f"column {column} is ambiguous: it is in "
                             + " and ".join(f"{r.alias} ({r.ref})" for r in owners)
                             + f"; qualify it, e.g. {owners[0].alias}.{column}")
        return f"{owners[0].alias}.{column}", owners[0].columns[column]

    def _resolve_name(self, reference: str) -> tuple[str, str]:
        assert self.names is not None
        if reference not in self.names:
            raise ValueError(f"column {reference} is not an output of the previous step "
                             f"(available: {', '.join(self.names)})")
        return reference, self.names[reference]


def parse_expression(text: str) -> exp.Expression:
    """Parse and restrict an expression: columns, literals, arithmetic and the functions of EXPRESSION_FUNCTIONS."""
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except sqlglot.errors.ParseError as error:
        raise ValueError(f"expression {text!r} does not parse: {error.errors[0]['description']}") from None
    allowed = (exp.Column, exp.Identifier, exp.Literal, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg, exp.Paren,
               exp.Anonymous, exp.Coalesce, exp.Round, exp.Abs, exp.Lower, exp.Upper, exp.Boolean, exp.Null,
               exp.TsOrDsToDate, exp.StrToDate)
    for node in tree.walk():
        if not isinstance(node, allowed):
            raise ValueError(f"expression {text!r}: {node.key} is not supported (use columns, numbers, strings, "
                             f"+ - * /, and {', '.join(EXPRESSION_FUNCTIONS)})")
    for call in tree.find_all(exp.Func):
        name = function_name(call)
        if name not in EXPRESSION_FUNCTIONS:
            raise ValueError(f"expression {text!r}: function {name} is not supported "
                             f"(functions: {', '.join(EXPRESSION_FUNCTIONS)})")
        low, high = EXPRESSION_FUNCTIONS[name]
        count = len(function_arguments(call))
        if count < low or (high is not None and count > high):
            raise ValueError(f"expression {text!r}: {name} takes {low}{'' if high == low else '..' + str(high or 'n')}"
                             f" arguments, got {count}")
    return tree


def function_name(call: exp.Func) -> str:
    if isinstance(call, exp.Anonymous):
        return str(call.this).lower()
    if isinstance(call, (exp.TsOrDsToDate, exp.StrToDate)):
        return "to_date"
    return call.sql_name().lower()


def function_arguments(call: exp.Func) -> list[exp.Expression]:
    if isinstance(call, exp.Anonymous):
        return list(call.expressions)
    if isinstance(call, exp.Coalesce):
        return [call.this, *call.expressions]
    return [value for key, value in call.args.items() if value is not None and key in ("this", "decimals", "format")
            and isinstance(value, exp.Expression)]


def expression_type(tree: exp.Expression, scope: _Scope) -> str:
    """Resolve every column of an expression (raising on unknown/ambiguous ones) and guess its logical type."""
    types = {}
    for column in tree.find_all(exp.Column):
        reference = ".".join(part for part in (column.table, column.name) if part)
        _, types[reference] = scope.resolve(reference)
    root = tree.unnest()
    if isinstance(root, exp.Column):
        return types[".".join(part for part in (root.table, root.name) if part)]
    if isinstance(root, exp.Div):
        return "float64"
    if isinstance(root, exp.Func):
        name = function_name(root)
        return {"to_date": "date", "days_between": "int64", "lower": "string", "upper": "string"}.get(name, "")
    return ""


def load_pipelines(file: Path, tables: list[SourceTable]) -> Pipelines:
    """Parse and validate pipelines.yaml against the catalog; a missing file means no models."""
    if not file.is_file():
        return Pipelines({}, file.name)
    spec = load_model(file, PipelinesFile)
    return resolve(spec, tables, file.name)


def resolve(spec: PipelinesFile, tables: list[SourceTable], file_name: str = "pipelines.yaml") -> Pipelines:
    problems = _Problems()
    catalog = {f"{t.source}.{t.name}": t for t in tables}
    order = _dependency_order(spec, catalog, problems)
    resolved: dict[str, ResolvedModel] = {}
    for name in order:
        model = _resolve_model(name, spec.models[name], catalog, resolved, problems)
        if model is not None:
            resolved[name] = model
    if problems.items:
        raise PipelineSpecError(file_name, problems.items)
    return Pipelines(resolved, file_name)


def _dependency_order(spec: PipelinesFile, catalog: dict[str, SourceTable], problems: _Problems) -> list[str]:
    graph = {}
    for name, model in spec.models.items():
        references = [(f"models.{name}.from", model.from_.table)]
        references += [(f"models.{name}.joins[{i}].table", join.table) for i, join in enumerate(model.joins)]
        upstream = []
        for path, table in references:
            if table in spec.models:
                upstream.append(table)
            elif table not in catalog:
                problems.add(path, f"table {table!r} is neither a catalog table (source.table) nor a model "
                                   f"(catalog: {', '.join(sorted(catalog))}; models: {', '.join(spec.models)})")
        graph[name] = upstream
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        problems.add("models", f"models depend on each other in a cycle: {' -> '.join(error.args[1])}")
        return []


def _resolve_model(name: str, model: Model, catalog: dict[str, SourceTable], done: dict[str, ResolvedModel],
                   problems: _Problems) -> ResolvedModel | None:
    path = f"models.{name}"
    relations = _relations(path, model, catalog, done, problems)
    if relations is None:
        return None
    scope = _Scope(relations)
    _check_joins(path, model, relations, scope, problems)
    _check_conditions(f"{path}.where", model.where, scope, problems)
    output = _base_output(path, model, scope, problems)
    _check_conditions(f"{path}.having", model.having, _Scope(names=output), problems)
    _add_windows(path, model, output, problems)
    _add_derived(path, model, output, problems)
    _check_keys(path, model, output, relations, problems)
    _check_tests(path, model, output, catalog, done, problems)
    return ResolvedModel(name, model, relations, output)


def _relations(path: str, model: Model, catalog: dict[str, SourceTable], done: dict[str, ResolvedModel],
               problems: _Problems) -> list[Relation] | None:
    relations: list[Relation] = []
    entries: list[tuple[str, TableRef]] = [(f"{path}.from", model.from_)]
    entries += [(f"{path}.joins[{i}]", join) for i, join in enumerate(model.joins)]
    for entry_path, entry in entries:
        alias = entry.alias or entry.table.split(".")[-1]
        if any(r.alias == alias for r in relations):
            problems.add(f"{entry_path}.alias", f"alias {alias!r} is used twice; give each table its own alias")
            return None
        if entry.table in done:
            columns, candidates, is_model = done[entry.table].output, (), True
        elif entry.table in catalog:
            source_table = catalog[entry.table]
            columns = {c.name: c.logical_type for c in source_table.schema.columns}
            candidates = tuple(source_table.schema.cursor_candidates) + (
                (source_table.schema.cursor_column,) if source_table.schema.cursor_column else ())
            is_model = False
        else:
            return None
        join = entry if isinstance(entry, Join) else None
        relations.append(Relation(alias, entry.table, columns, is_model, join.type if join else None,
                                  cursor_candidates=candidates))
    return relations


def _check_joins(path: str, model: Model, relations: list[Relation], scope: _Scope, problems: _Problems) -> None:
    for index, join in enumerate(model.joins):
        joined = relations[index + 1]
        visible = {r.alias for r in relations[: index + 2]}
        pairs = []
        for position, condition in enumerate(join.on):
            where = f"{path}.joins[{index}].on[{position}]"
            sides = [side.strip() for side in condition.split("=")]
            if len(sides) != 2 or not all(sides):
                problems.add(where, f"{condition!r} is not an equality 'a.x = b.y'")
                continue
            try:
                left, right = (scope.resolve(side)[0] for side in sides)
            except ValueError as error:
                problems.add(where, str(error))
                continue
            aliases = {left.split(".")[0], right.split(".")[0]}
            if not aliases <= visible:
                problems.add(where, f"{condition!r} uses a table joined later ({', '.join(sorted(aliases - visible))})")
            elif joined.alias not in aliases or len(aliases) != 2:
                problems.add(where, f"{condition!r} must compare a column of {joined.alias} ({joined.ref}) with "
                                    f"a column of a table before it; otherwise the join is ambiguous")
            else:
                pairs.append((left, right) if right.startswith(joined.alias + ".") else (right, left))
        relations[index + 1] = Relation(joined.alias, joined.ref, joined.columns, joined.is_model, joined.join_type,
                                        tuple(pairs), joined.cursor_candidates)


def _check_conditions(path: str, conditions: list[Condition], scope: _Scope, problems: _Problems) -> None:
    for index, condition in enumerate(conditions):
        try:
            scope.resolve(condition.column)
        except ValueError as error:
            problems.add(f"{path}[{index}].column", str(error))


def _base_output(path: str, model: Model, scope: _Scope, problems: _Problems) -> dict[str, str]:
    output: dict[str, str] = {}
    items = model.group_by if model.grouped else (model.columns or _all_columns(scope))
    field_name = "group_by" if model.grouped else "columns"
    for index, item in enumerate(items):
        where = f"{path}.{field_name}[{index}]"
        try:
            logical = scope.resolve(item.column)[1] if item.column else expression_type(parse_expression(item.expr),
                                                                                        scope)
        except ValueError as error:
            problems.add(where, str(error))
            continue
        _add_output(where, item.output_name, logical, output, problems)
    for index, aggregation in enumerate(model.aggregations):
        where = f"{path}.aggregations[{index}]"
        try:
            input_type = _aggregation_input_type(aggregation, scope)
        except ValueError as error:
            problems.add(where, str(error))
            continue
        if aggregation.function in ("sum", "avg", "stddev", "variance") and input_type \
                and not input_type.startswith(NUMERIC_TYPES):
            problems.add(where, f"{aggregation.function} needs a numeric input, got {input_type}")
        _add_output(where, aggregation.name, _aggregate_type(aggregation.function, input_type), output, problems)
    return output


def _all_columns(scope: _Scope) -> list[Item]:
    return [Item(column=f"{r.alias}.{c}") for r in scope.relations[:1] for c in r.columns]


def _aggregation_input_type(aggregation: Aggregation, scope: _Scope) -> str:
    if aggregation.column:
        return scope.resolve(aggregation.column)[1]
    if aggregation.expr:
        return expression_type(parse_expression(aggregation.expr), scope)
    return ""


def _aggregate_type(function: str, input_type: str) -> str:
    if function in ("count", "count_distinct"):
        return "int64"
    if function in ("avg", "stddev", "variance"):
        return "float64"
    return input_type


def _add_output(where: str, name: str, logical: str, output: dict[str, str], problems: _Problems) -> None:
    if not NAME.match(name):
        problems.add(where, f"output name {name!r} must be lower_snake_case")
    elif name in output:
        problems.add(where, f"output column {name!r} appears twice; rename one with 'as'")
    else:
        output[name] = logical


def _add_windows(path: str, model: Model, output: dict[str, str], problems: _Problems) -> None:
    scope = _Scope(names=dict(output))
    for index, window in enumerate(model.windows):
        where = f"{path}.windows[{index}]"
        references = [("column", window.column)] if window.column else []
        references += [(f"partition_by[{i}]", column) for i, column in enumerate(window.partition_by)]
        references += [(f"order_by[{i}]", key.column) for i, key in enumerate(window.order_by)]
        input_type = ""
        for field_name, reference in references:
            try:
                logical = scope.resolve(reference)[1]
            except ValueError as error:
                problems.add(f"{where}.{field_name}", str(error))
                continue
            input_type = logical if field_name == "column" else input_type
        if window.function in ("sum", "avg") and input_type and not input_type.startswith(NUMERIC_TYPES):
            problems.add(f"{where}.column", f"{window.function} needs a numeric input, got {input_type}")
        _add_output(where, window.name, _window_type(window.function, input_type), output, problems)


def _window_type(function: str, input_type: str) -> str:
    if function in (*RANKING, "count"):
        return "int64"
    return "float64" if function == "avg" else input_type


def _add_derived(path: str, model: Model, output: dict[str, str], problems: _Problems) -> None:
    for index, derived in enumerate(model.derive):
        where = f"{path}.derive[{index}]"
        try:
            logical = expression_type(parse_expression(derived.expr), _Scope(names=dict(output)))
        except ValueError as error:
            problems.add(where, str(error))
            continue
        _add_output(where, derived.name, logical, output, problems)


def _check_keys(path: str, model: Model, output: dict[str, str], relations: list[Relation],
                problems: _Problems) -> None:
    for index, column in enumerate(model.primary_key):
        if column not in output:
            problems.add(f"{path}.primary_key[{index}]", f"{column} is not an output column ({', '.join(output)})")
    if model.incremental:
        _check_incremental(f"{path}.incremental", model, output, relations[0], problems)


def _check_tests(path: str, model: Model, output: dict[str, str], catalog: dict[str, SourceTable],
                 done: dict[str, ResolvedModel], problems: _Problems) -> None:
    for column, tests in model.tests.items():
        if column not in output:
            problems.add(f"{path}.tests.{column}", f"{column} is not an output column ({', '.join(output)})")
        for index, test in enumerate(tests):
            reason = _test_problem(test, catalog, done)
            if reason:
                problems.add(f"{path}.tests.{column}[{index}]", reason)


def _test_problem(test: Any, catalog: dict[str, SourceTable], done: dict[str, ResolvedModel]) -> str | None:
    if isinstance(test, str):
        return None
    if len(test) != 1 or next(iter(test)) not in ("accepted_values", "relationships"):
        return f"{test!r}: a test is unique, not_null, {{accepted_values: {{values: [...]}}}} or " \
               "{relationships: {to: table, field: column}}"
    (name, arguments), = test.items()
    if name == "accepted_values":
        ok = isinstance(arguments, dict) and isinstance(arguments.get("values"), list) and arguments["values"]
        return None if ok else "accepted_values needs {values: [...]}"
    if not isinstance(arguments, dict) or set(arguments) != {"to", "field"}:
        return "relationships needs {to: table or model, field: column}"
    target, field_name = arguments["to"], arguments["field"]
    if target in catalog:
        columns = [c.name for c in catalog[target].schema.columns]
    elif target in done:
        columns = list(done[target].output)
    else:
        return f"relationships.to: {target!r} is neither a catalog table nor an earlier model"
    if field_name not in columns:
        return f"relationships.field: {target} has no column {field_name!r} (columns: {', '.join(columns)})"
    return None


def _check_incremental(path: str, model: Model, output: dict[str, str], base: Relation, problems: _Problems) -> None:
    """Incremental models re-select only new rows of the FROM table, which is only right row by row."""
    assert model.incremental is not None
    if model.grouped or model.windows:
        problems.add(path, "an incremental model cannot group or use windows: each run sees only new rows")
    cursor, key = model.incremental.cursor, model.incremental.unique_key
    if cursor not in output:
        problems.add(f"{path}.cursor", f"{cursor} is not an output column ({', '.join(output)})")
    if cursor not in base.columns:
        problems.add(f"{path}.cursor", f"{cursor} is not a column of the FROM table {base.ref}")
    elif not base.is_model and cursor not in base.cursor_candidates:
        problems.add(f"{path}.cursor", f"{base.ref} has no cursor {cursor!r} in the catalog "
                                       f"(cursor candidates: {', '.join(base.cursor_candidates) or 'none'})")
    if key not in output:
        problems.add(f"{path}.unique_key", f"{key} is not an output column ({', '.join(output)})")


def parse_document(document: dict[str, Any], file_name: str = "pipelines.yaml") -> PipelinesFile:
    """Validate an already-parsed document (the natural-language path and tests use this)."""
    from pydantic import ValidationError

    try:
        return PipelinesFile.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        key_path = ".".join(str(part) for part in first["loc"])
        raise ConfigError(file_name, key_path, first["msg"]) from None
