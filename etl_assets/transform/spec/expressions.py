"""The expressions of ``expr`` fields: parsed with sqlglot, restricted to what renders the same in every dialect."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from etl_assets.transform.spec.resolved import Scope

EXPRESSION_FUNCTIONS = {
    "coalesce": (1, None), "round": (1, 2), "abs": (1, 1), "lower": (1, 1), "upper": (1, 1),
    "to_date": (1, 1), "days_between": (2, 2),
}
"""Functions an expression may call: name -> (min args, max args). Each renders correctly in every dialect."""


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


def expression_type(tree: exp.Expression, scope: Scope) -> str:
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

