"""What resolving pipelines.yaml yields: relations, resolved models in dependency order, and the names a step sees."""

from __future__ import annotations

from dataclasses import dataclass, field

from etl_assets.transform.spec.models import JoinType, Model


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


class Scope:
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

