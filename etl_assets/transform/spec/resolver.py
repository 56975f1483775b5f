"""Resolve pipelines.yaml against the catalog: every table, column, output name, key and test, with every problem
reported at once as ``key.path: reason``."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from etl_assets.catalog import SourceTable
from etl_assets.config.loader import ConfigError, load_model
from etl_assets.transform.spec.expressions import expression_type, parse_expression
from etl_assets.transform.spec.models import (
    NAME,
    RANKING,
    Aggregation,
    Condition,
    Item,
    Join,
    Model,
    PipelinesFile,
    TableRef,
)
from etl_assets.transform.spec.resolved import Pipelines, Relation, ResolvedModel, Scope

NUMERIC_TYPES = ("int16", "int32", "int64", "float32", "float64", "decimal")


class PipelineSpecError(ConfigError):
    """The spec does not fit the catalog; ``problems`` lists every ``key.path: reason`` found."""

    def __init__(self, file: str, problems: list[str]):
        self.file, self.problems = file, problems
        self.key_path, _, self.reason = problems[0].partition(": ")
        ValueError.__init__(self, "\n".join(f"{file}: {problem}" for problem in problems))


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, reason: str) -> None:
        self.items.append(f"{path}: {reason}")


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
    scope = Scope(relations)
    _check_joins(path, model, relations, scope, problems)
    _check_conditions(f"{path}.where", model.where, scope, problems)
    output = _base_output(path, model, scope, problems)
    _check_conditions(f"{path}.having", model.having, Scope(names=output), problems)
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


def _check_joins(path: str, model: Model, relations: list[Relation], scope: Scope, problems: _Problems) -> None:
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


def _check_conditions(path: str, conditions: list[Condition], scope: Scope, problems: _Problems) -> None:
    for index, condition in enumerate(conditions):
        try:
            scope.resolve(condition.column)
        except ValueError as error:
            problems.add(f"{path}[{index}].column", str(error))


def _base_output(path: str, model: Model, scope: Scope, problems: _Problems) -> dict[str, str]:
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


def _all_columns(scope: Scope) -> list[Item]:
    return [Item(column=f"{r.alias}.{c}") for r in scope.relations[:1] for c in r.columns]


def _aggregation_input_type(aggregation: Aggregation, scope: Scope) -> str:
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
    scope = Scope(names=dict(output))
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
            logical = expression_type(parse_expression(derived.expr), Scope(names=dict(output)))
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
