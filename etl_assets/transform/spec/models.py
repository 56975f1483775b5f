"""The pydantic models of pipelines.yaml: one model's FROM, JOINs, filters, grouping, windows and derived columns.

They check each model's shape on its own; resolving names against the catalog is the resolver's job.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etl_assets.config.loader import ConfigError

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


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


def parse_document(document: dict[str, Any], file_name: str = "pipelines.yaml") -> PipelinesFile:
    """Validate an already-parsed document (the natural-language path and tests use this)."""
    try:
        return PipelinesFile.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        key_path = ".".join(str(part) for part in first["loc"])
        raise ConfigError(file_name, key_path, first["msg"]) from None
