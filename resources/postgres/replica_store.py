"""CDC replica tables in a PostgreSQL warehouse: ``cdc_<source>.<table>`` holds the source rows plus ``_cdc_lsn``
(the position of the change that wrote the row), and ``cdc_<source>.<table>__cdc_deleted`` the keys of deleted rows
with the position of their delete, so that a repeated older event never brings a deleted row back.

One batch of change events is applied with set-based SQL on the caller's transaction: the events are copied into
a staging table, the last event per key wins (by position, then event order), deletes remove rows, the rest are
upserted, and any row or tombstone at a newer-or-equal position is left alone (idempotent on the position).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from resources.postgres import sql as statements
from resources.postgres.catalog import target_columns
from resources.postgres.types import ddl_type

POSITION_COLUMN = "_cdc_lsn"
EVENTS = sql.Identifier("_aietl_cdc_events")
LATEST = sql.Identifier("_aietl_cdc_latest")


def replica_namespace(source: str) -> str:
    return f"cdc_{source}"


def tombstone_table(table: str) -> str:
    return f"{table}__cdc_deleted"


_PRIMARY_KEY = """
SELECT a.attname FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary
"""


class ReplicaKeyError(ValueError):
    """Events key a replica by columns other than its primary key."""


@dataclass
class ApplyCounts:
    upserted: int
    deleted: int


class ReplicaStore:
    """The replica tables of one CDC source, on an open connection."""

    def __init__(self, connection: psycopg.Connection, source: str):
        self.connection = connection
        self.namespace = replica_namespace(source)

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.namespace, name)

    def columns(self, table: str) -> dict[str, str]:
        """Column -> type of the replica (without the position column); empty when it does not exist yet."""
        found = target_columns(self.connection, self.namespace, table)
        return {name: native for name, native in found.items() if name != POSITION_COLUMN}

    def ensure_table(self, table: str, columns: Mapping[str, str], keys: Sequence[str]) -> list[str]:
        """Create the replica (from the events' columns, logical types) or add the columns it lacks; returns the
        columns added."""
        existing = self.columns(table)
        if not existing:
            self.connection.execute(statements.create_schema(self.namespace))
            natives = [(name, ddl_type(logical)) for name, logical in columns.items()]
            self.connection.execute(statements.create_table(
                self.namespace, table, [*natives, (POSITION_COLUMN, "numeric NOT NULL")], keys,
                constraint=f"{table[:50]}_cdc_pkey"))
            self.connection.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (key jsonb PRIMARY KEY, lsn numeric NOT NULL)").format(
                self._table(tombstone_table(table))))
            return []
        self._check_keys(table, keys)
        added = [name for name in columns if name not in existing]
        for name in added:
            self.connection.execute(statements.add_column(self.namespace, table, name, ddl_type(columns[name]),
                                                          if_not_exists=True))
        return added

    def _check_keys(self, table: str, keys: Sequence[str]) -> None:
        primary = [name for (name,) in self.connection.execute(_PRIMARY_KEY, (self.namespace, table)).fetchall()]
        if sorted(primary) != sorted(keys):
            raise ReplicaKeyError(f"replica {self.namespace}.{table} is keyed by {sorted(primary)} but the events "
                                  f"are keyed by {sorted(keys)}")

    def apply(self, table: str, events: Iterable[tuple[int, int, str, dict, dict | None]], keys: Sequence[str]
              ) -> ApplyCounts:
        """Apply ``(position, sequence, op, key, after)`` events to the replica (which must exist)."""
        self.connection.execute(sql.SQL(
            "CREATE TEMPORARY TABLE {} (lsn numeric, seq bigint, op text, key jsonb, after jsonb) ON COMMIT DROP"
        ).format(EVENTS))
        with self.connection.cursor().copy(sql.SQL("COPY {} (lsn, seq, op, key, after) FROM STDIN").format(EVENTS)
                                           ) as copy:
            for position, sequence, op, key, after in events:
                copy.write_row((position, sequence, op, json.dumps(key),
                                None if after is None else json.dumps(after)))
        self.connection.execute(sql.SQL(
            "CREATE TEMPORARY TABLE {latest} ON COMMIT DROP AS SELECT DISTINCT ON (key) lsn, op, key, after "
            "FROM {events} ORDER BY key, lsn DESC, seq DESC").format(latest=LATEST, events=EVENTS))
        replica, tombstones = self._table(table), self._table(tombstone_table(table))
        columns = list(self.columns(table))
        key_match = sql.SQL(" AND ").join(
            sql.SQL("r.{column} = (jsonb_populate_record(NULL::{replica}, l.key)).{column}").format(
                column=sql.Identifier(name), replica=replica) for name in keys)
        deleted = self.connection.execute(sql.SQL(
            "DELETE FROM {replica} r USING {latest} l WHERE l.op = 'd' AND r.{position} < l.lsn AND {match}").format(
            replica=replica, latest=LATEST, position=sql.Identifier(POSITION_COLUMN), match=key_match)).rowcount
        self.connection.execute(sql.SQL(
            "INSERT INTO {tombstones} (key, lsn) SELECT key, lsn FROM {latest} WHERE op = 'd' "
            "ON CONFLICT (key) DO UPDATE SET lsn = excluded.lsn WHERE {tombstones}.lsn < excluded.lsn").format(
            tombstones=tombstones, latest=LATEST))
        upserted = self.connection.execute(self._upsert(replica, tombstones, columns, keys)).rowcount
        self.connection.execute(sql.SQL(
            "DELETE FROM {tombstones} d USING {latest} l WHERE d.key = l.key AND l.op <> 'd' AND d.lsn < l.lsn"
        ).format(tombstones=tombstones, latest=LATEST))
        self.connection.execute(sql.SQL("DROP TABLE {}, {}").format(EVENTS, LATEST))
        return ApplyCounts(upserted=upserted, deleted=deleted)

    @staticmethod
    def _upsert(replica: sql.Identifier, tombstones: sql.Identifier, columns: Sequence[str], keys: Sequence[str]
                ) -> sql.Composed:
        position = sql.Identifier(POSITION_COLUMN)
        targets = sql.SQL(", ").join(sql.Identifier(name) for name in [*columns, POSITION_COLUMN])
        values = sql.SQL(", ").join([*(sql.SQL("p.{}").format(sql.Identifier(name)) for name in columns),
                                     sql.SQL("l.lsn")])
        updates = sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(name))
                                     for name in [*columns, POSITION_COLUMN] if name not in keys)
        return sql.SQL(
            "INSERT INTO {replica} AS r ({targets}) SELECT {values} FROM {latest} l "
            "CROSS JOIN LATERAL jsonb_populate_record(NULL::{replica}, l.after) p "
            "LEFT JOIN {tombstones} d ON d.key = l.key "
            "WHERE l.op <> 'd' AND (d.lsn IS NULL OR d.lsn < l.lsn) "
            "ON CONFLICT ({keys}) DO UPDATE SET {updates} WHERE r.{position} < excluded.{position}").format(
            replica=replica, targets=targets, values=values, latest=LATEST, tombstones=tombstones,
            keys=sql.SQL(", ").join(sql.Identifier(name) for name in keys), updates=updates, position=position)
