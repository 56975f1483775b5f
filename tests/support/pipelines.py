"""The sample project's catalog tables and pipelines.yaml, as the transform tests read them."""

from __future__ import annotations

from pathlib import Path

from etl_assets.catalog import load_catalog, source_tables
from etl_assets.config.loader import load_datasources

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "config" / "pipelines.yaml"
TABLES = source_tables(load_datasources(ROOT / "config" / "datasources.yaml"),
                       load_catalog(ROOT / "config" / "catalog.json"))

PROPOSED_MODEL = """```yaml
models:
  revenue_per_city:
    from: {table: shop_db.orders, alias: o}
    joins:
      - {table: shop_files.customers, alias: c, type: inner, on: ["o.customer_id = c.customer_id"]}
    group_by: [c.city]
    aggregations:
      - {name: revenue, function: sum, column: o.total}
```"""
"""A pipelines.yaml model as an LLM answers a request for revenue per city (over the sample tables)."""
