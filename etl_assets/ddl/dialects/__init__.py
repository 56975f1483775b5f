"""One module per dialect, each with the same parts: ``NAME``, its type mapper ``MAPPER`` (a TypeMapper with a
hint-aware ``column_type``) and ``build(table) -> Ddl`` (the CREATE statements with that dialect's layout)."""

from etl_assets.ddl.dialects import bigquery, clickhouse, mysql, postgres, redshift, snowflake

DIALECTS = {module.NAME: module for module in (postgres, clickhouse, mysql, redshift, snowflake, bigquery)}
"""Dialect name -> its module, in the order the DDL is shown."""

__all__ = ["DIALECTS"]
