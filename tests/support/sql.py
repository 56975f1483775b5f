"""Compare generated SQL by meaning: both sides parsed by sqlglot in one dialect and their trees compared.

Whitespace, line breaks and keyword case do not matter; everything else does (quoting, names, order, operators).
``render_dbt`` renders a generated dbt model's Jinja with stand-ins for dbt's functions, so the SQL dbt would run on
each target can be compared the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2
import sqlglot
from sqlglot import exp


def parse_sql(sql: str, dialect: str) -> list[exp.Expression]:
    """Every statement of ``sql`` as a sqlglot tree."""
    return [tree for tree in sqlglot.parse(sql, read=dialect) if tree is not None]


def assert_same_sql(actual: str, expected: str, dialect: str) -> None:
    actual_trees, expected_trees = parse_sql(actual, dialect), parse_sql(expected, dialect)
    if actual_trees != expected_trees:
        raise AssertionError(f"the SQL differs in meaning ({dialect}):\n--- actual\n{_pretty(actual_trees, dialect)}"
                             f"\n--- expected\n{_pretty(expected_trees, dialect)}")


def _pretty(trees: list[exp.Expression], dialect: str) -> str:
    return ";\n".join(tree.sql(dialect=dialect, pretty=True) for tree in trees)


@dataclass
class DbtModel:
    """A generated model as dbt would compile it for one target: its SQL and the arguments of its ``config()``."""

    sql: str
    config: dict[str, Any] = field(default_factory=dict)


def render_dbt(template: str, target: str, incremental: bool = False) -> DbtModel:
    """``ref('m')`` becomes ``"m"``, ``source('s', 't')`` ``"s"."t"`` and ``this`` ``"this"``."""
    model = DbtModel("")

    def config(**arguments: Any) -> str:
        model.config.update(arguments)
        return ""

    names = {
        "ref": lambda name: f'"{name}"', "source": lambda source, table: f'"{source}"."{table}"', "this": '"this"',
        "is_incremental": lambda: incremental, "target": {"type": target}, "config": config,
    }
    model.sql = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(names)
    return model
