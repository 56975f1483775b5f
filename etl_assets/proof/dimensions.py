"""The dimensions a proof's join queries read, laid out as each side measures them.

A join times the measured fact table against the dimension it references. For the comparison to be fair each layout
joins its own layout of the dimension: the naive fact the naive dimension (types as the source gave them), the
recommended fact the recommended dimension (the dimension's own recommendation: narrowed key types, its sort key).
Joining both to the raw dimension instead makes the recommended side pay for casts between key types it chose
(UInt32 against Nullable(Int64)) that no real deployment of the layout would have.

Both copies stay bounded by the sample: a dimension of at most ``sample_rows`` rows is copied whole, a larger one only
with the rows whose key the sample references (a semi-join on the naive fact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from etl_assets.ddl.build import build_ddl
from etl_assets.profile.model import TableProfile
from etl_assets.proof.engines import Engine, copy_statement, table_ref
from etl_assets.proof.naive import naive_ddl
from etl_assets.proof.queries import JoinTarget
from etl_assets.recommend.model import Recommendation
from etl_assets.recommend.querylog import split_statements
from resources.schema import TableSchema


@dataclass(frozen=True)
class Dimension:
    """A referenced table: its schema, where its raw rows are, its recommendation and profile."""

    schema: TableSchema
    raw_namespace: str
    recommendation: Recommendation
    profile: TableProfile


@dataclass(frozen=True)
class Join:
    """A found relationship of the measured table: ``columns`` reference ``ref_columns`` of ``dimension``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    dimension: Dimension | None
    """None for a self-reference (the measured table is its own dimension) or when the dimension has no
    recommendation yet."""
    self_reference: bool = False


def lay_out(engine: Engine, joins: Sequence[Join], fact: TableSchema, naive_ns: str, rec_ns: str, sample_rows: int,
            notes: list[str]) -> list[JoinTarget]:
    """Each join's dimension built and loaded in both namespaces (once per dimension); the joins that can be timed."""
    by_name: dict[str, list[Join]] = {}
    targets: list[JoinTarget] = []
    for join in joins:
        if join.self_reference:
            targets.append(JoinTarget(join.columns, join.ref_table, join.ref_columns))
        elif join.dimension is None:
            notes.append(f"join on {', '.join(join.columns)} -> {join.ref_table} not timed: the dimension has no "
                         "recommendation to lay it out with")
        elif join.ref_table == fact.name or any(j.dimension != join.dimension for j in by_name.get(join.ref_table, [])):
            notes.append(f"join -> {join.dimension.schema.source}.{join.ref_table} not timed: a table of that name is "
                         "already in the proof's namespaces")
        else:
            by_name.setdefault(join.ref_table, []).append(join)
    for name, referencing in by_name.items():
        dimension = referencing[0].dimension
        assert dimension is not None
        try:
            _load(engine, dimension, referencing, fact, naive_ns, rec_ns, sample_rows, notes)
        except Exception as error:  # noqa: BLE001 - the fact's proof stands; only these joins cannot be timed
            notes.append(f"join -> {dimension.schema.source}.{name} not timed: its layouts could not be built: "
                         f"{' '.join(str(error).split())[:300]}")
            continue
        targets.extend(JoinTarget(j.columns, j.ref_table, j.ref_columns) for j in referencing)
    return targets


def _load(engine: Engine, dimension: Dimension, joins: Sequence[Join], fact: TableSchema, naive_ns: str, rec_ns: str,
          sample_rows: int, notes: list[str]) -> None:
    schema = dimension.schema
    columns = [c.name for c in schema.columns]
    for statement in naive_ddl(schema, engine.dialect, naive_ns):
        engine.run(statement)
    engine.store_as_full_table(naive_ns, schema.name)
    whole = dimension.profile.row_count <= sample_rows
    where = None if whole else exp.or_(*(_referenced(j, table_ref(naive_ns, fact.name)) for j in joins))
    engine.load(copy_statement(table_ref(dimension.raw_namespace, schema.name), table_ref(naive_ns, schema.name),
                               columns, engine.dialect, where=where))
    ddl = build_ddl(schema, dimension.recommendation, engine.dialect, namespace=rec_ns, profile=dimension.profile)
    for _, statement in split_statements(ddl.sql(), engine.dialect):
        engine.run(statement)
    engine.store_as_full_table(rec_ns, schema.name)
    casts = engine.column_types(rec_ns, schema.name) if engine.dialect == "postgres" else None
    engine.load(copy_statement(table_ref(naive_ns, schema.name), table_ref(rec_ns, schema.name), columns,
                               engine.dialect, casts=casts))
    for namespace in (naive_ns, rec_ns):
        engine.maintain(namespace, schema.name)
    joined = "; ".join(", ".join(j.columns) for j in joins)
    notes.append(f"dimension {schema.source}.{schema.name} (joined on {joined}): "
                 + (f"copied whole ({dimension.profile.row_count:,} rows)" if whole else
                    f"only its rows the sample references (of {dimension.profile.row_count:,})")
                 + ", in its naive and its recommended layout")


def _referenced(join: Join, fact: exp.Table) -> exp.Expr:
    """``(ref_columns) IN (SELECT columns FROM fact)``: the dimension rows the sample joins to."""
    def columns(names: Sequence[str]) -> exp.Expr:
        refs = [exp.Column(this=exp.to_identifier(n, quoted=True)) for n in names]
        return refs[0] if len(refs) == 1 else exp.Tuple(expressions=refs)

    keys = exp.select(*(exp.Column(this=exp.to_identifier(n, quoted=True)) for n in join.columns)).from_(fact)
    return exp.In(this=columns(join.ref_columns), query=keys.subquery())
