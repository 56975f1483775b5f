"""The pure rules of key and relationship discovery: names, evidence, selection and the bounded key search."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlglot
from sqlglot import exp

from etl_assets.relationships.inclusion import (
    Candidate,
    ColumnFacts,
    TableFacts,
    Verified,
    candidates,
    name_score,
    select,
)
from etl_assets.relationships.keys import KeyColumn, find_keys


def test_name_scores() -> None:
    assert name_score("l_suppkey", "s_suppkey", "supplier") == 3
    assert name_score("store_id", "id", "stores") == 2
    assert name_score("id", "id", "orders") == 0
    assert name_score("l_linenumber", "o_orderkey", "orders") == 0


def table(name: str, rows: int, keys: list[list[str]], *columns: ColumnFacts) -> TableFacts:
    return TableFacts("s", name, "raw_s", rows, {c.name: c for c in columns}, keys, [], [])


def test_gap_free_integer_keys_need_agreeing_names() -> None:
    dim = table("customer", 100, [["c_custkey"]], ColumnFacts("c_custkey", "integer", 100, 1, 100, 100, 100))
    fact = table("orders", 500, [], ColumnFacts("o_custkey", "integer", 500, 1, 99, 60),
                 ColumnFacts("o_quantity", "integer", 500, 1, 50, 50))

    found = candidates([dim, fact])

    assert [(c.columns, c.dense_range) for c in found] == [(("o_custkey",), (1, 100))]


def verified(dim: TableFacts, fact: TableFacts, column: str, key: str, orphans: int, distinct: int,
             score: int = 3) -> Verified:
    return Verified(Candidate(fact, (column,), dim, (key,), score, None, in_range=dim.rows), distinct, orphans)


def test_partial_reference_is_kept_with_its_orphans_and_clean_beats_partial() -> None:
    dim = table("dim", 1000, [["k"]], ColumnFacts("k", "string", 1000, "a", "z", 1000))
    other = table("other", 1000, [["k"]], ColumnFacts("k", "string", 1000, "a", "z", 1000))
    fact = table("fact", 5000, [], ColumnFacts("k", "string", 5000, "a", "z", 1000))

    partial = select([verified(dim, fact, "k", "k", 1, 1000)])
    assert len(partial) == 1 and partial[0].match_share == 0.999
    mixed = select([verified(dim, fact, "k", "k", 1, 1000), verified(other, fact, "k", "k", 0, 1000)])
    assert [v.candidate.ref.table for v in mixed] == ["other"]
    assert select([verified(dim, fact, "k", "k", 400, 1000, score=0)]) == []


def test_a_reference_names_a_key_not_a_unique_attribute_of_a_small_table() -> None:
    stores = table("stores", 10, [["id"], ["city"], ["store_code"]],
                   ColumnFacts("id", "integer", 10, 1, 10, 10), ColumnFacts("city", "string", 10, "a", "z", 10),
                   ColumnFacts("store_code", "string", 10, "a", "z", 10))
    airports = table("airports", 10, [["faa"], ["name"]], ColumnFacts("faa", "string", 10, "a", "z", 10),
                     ColumnFacts("name", "string", 10, "a", "z", 10))
    customers = table("customers", 300, [], ColumnFacts("city", "string", 300, "a", "z", 8),
                      ColumnFacts("store_code", "string", 300, "a", "z", 8),
                      ColumnFacts("faa", "string", 300, "a", "z", 8), ColumnFacts("name", "string", 300, "a", "z", 8))

    assert select([verified(stores, customers, "city", "city", 0, 8)]) == []
    assert [v.candidate.ref_columns for v in select([verified(stores, customers, "store_code", "store_code", 0, 8)])
            ] == [("store_code",)]
    assert [v.candidate.ref_columns for v in select([verified(airports, customers, "faa", "faa", 0, 8)])] == [("faa",)]
    assert select([verified(airports, customers, "name", "name", 0, 8)]) == []


class CountingProbe:
    """Uniqueness answered from rows in memory, counting the exact checks asked for."""

    def __init__(self, rows: list[dict]):
        self.rows, self.exact = rows, 0

    def subset_duplicates(self, combos: Sequence[tuple[str, ...]]) -> set[tuple[str, ...]]:
        return {c for c in combos if len({tuple(r[n] for n in c) for r in self.rows[:4]}) < min(4, len(self.rows))}

    def is_unique(self, combo: Sequence[str]) -> bool:
        self.exact += 1
        return len({tuple(r[n] for n in combo) for r in self.rows}) == len(self.rows)


def key_columns(rows: list[dict]) -> list[KeyColumn]:
    names = list(rows[0])
    return [KeyColumn(n, "integer", 0, len({r[n] for r in rows}) == len(rows), len({r[n] for r in rows}))
            for n in names]


def test_one_row_has_no_inferred_keys_and_composites_are_bounded() -> None:
    one = [{"a": 1, "b": 2}]
    search = find_keys(key_columns(one), 1, CountingProbe(one))
    assert search.keys == [] and "one row" in search.notes[0]
    lines = [{"order_no": o, "line_no": n, "qty": (o * n) % 3} for o in range(5) for n in range(3)]
    probe = CountingProbe(lines)
    assert find_keys(key_columns(lines), len(lines), probe).keys == [["order_no", "line_no"]]
    assert probe.exact <= 8


ODD_KEY = ("raw odd", "Dim's", ("group by",))
ODD_DEPENDENTS = [("raw odd", f"fact {n}", (f"select {n}",)) for n in range(5)]


@pytest.mark.parametrize("dialect", ["postgres", "clickhouse"])
def test_batched_statements_read_the_key_once_and_quote_every_name(dialect: str) -> None:
    from etl_assets.relationships import sql

    for statement in (sql.probe_sql(dialect, ODD_KEY, ["integer"], ODD_DEPENDENTS),
                      sql.orphans_sql(dialect, ODD_KEY, ["integer"], ODD_DEPENDENTS, repeated=[1, 3])):
        tree = sqlglot.parse_one(statement, read=dialect)
        tables = [t.name for t in tree.find_all(exp.Table) if t.db == "raw odd"]
        assert tables.count("Dim's") == 1
        assert sorted(set(tables) - {"Dim's"}) == [f"fact {n}" for n in range(5)]
        assert {c.name for c in tree.find_all(exp.Column)} >= {"group by", *(f"select {n}" for n in range(5))}
    orphans = sqlglot.parse_one(sql.orphans_sql(dialect, ODD_KEY, ["integer"], ODD_DEPENDENTS, repeated=[1, 3]),
                                read=dialect)
    assert len([s for s in orphans.find_all(exp.Select) if s.args.get("distinct")]) == 1 + 2


def test_distinct_counts_sort_many_valued_columns_and_hash_few_valued_ones() -> None:
    from etl_assets.relationships import sql

    tree = sqlglot.parse_one(sql.distinct_sql("postgres", "raw", "t", [("a",), ("b",), ("c", "d")], repeated=["b"]),
                             read="postgres")
    assert [type(node.this).__name__ for node in tree.find_all(exp.Count) if node.this is not None].count(
        "Distinct") == 1
    assert len(list(tree.find_all(exp.Group))) == 2


def test_ranges_beyond_a_sparse_key_are_pruned_unless_the_names_agree() -> None:
    """A sparse key 10..5,000: a column reaching 0..9,000 cannot be contained in it (pruned); one that agrees in name
    is still verified (a partial reference whose orphans lie beyond the key)."""
    dim = table("dim", 500, [["dim_key"]], ColumnFacts("dim_key", "integer", 500, 10, 5000, 500, 500))
    fact = table("fact", 5000, [], ColumnFacts("dim_key", "integer", 5000, 0, 9000, 400),
                 ColumnFacts("amount_cents", "integer", 5000, 0, 9000, 400),
                 ColumnFacts("inside", "integer", 5000, 20, 4000, 400))

    found = candidates([dim, fact])

    assert sorted(c.columns[0] for c in found if c.table is fact) == ["dim_key", "inside"]
