"""The code location loads offline and shows every layer for every sample table."""

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

PROJECT = Path(__file__).resolve().parents[2]
NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise AssertionError(f"network access at import time: {args!r}")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
import etl_assets.definitions as module
print(len(list(module.defs.resolve_asset_graph().get_all_asset_keys())))
"""


def test_loading_the_code_location_touches_no_network():
    environment = {**os.environ, "AIETL_PG_PASSWORD": "unused"}
    result = subprocess.run([sys.executable, "-c", NO_NETWORK], cwd=PROJECT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip().splitlines()[-1]) > 30


def test_dagster_validates_the_definitions():
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=PROJECT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_every_layer_exists_for_every_sample_table():
    from etl_assets.definitions import defs

    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    tables = [("shop_files", "customers"), ("shop_files", "products"), ("shop_files", "stores"),
              ("shop_db", "orders"), ("shop_db", "order_items"), ("analytics", "daily_sessions")]
    for source, table in tables:
        for layer in ("raw", "profile", "recommendation", "ddl"):
            assert AssetKey([layer, source, table]) in keys, f"{layer}/{source}/{table} is missing"
    assert AssetKey(["embeddings", "shop_files", "products"]) in keys
    assert AssetKey(["stream", "events", "clicks"]) in keys
    assert any(key.path[0] == "dbt" for key in keys), "no dbt model assets"
    assert any(key.path[0] == "reports" for key in keys), "no report assets"


def test_raw_assets_carry_groups_kinds_and_checks():
    from etl_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    orders = graph.get(AssetKey(["raw", "shop_db", "orders"]))
    assert orders.group_name == "shop_db"
    assert "postgres" in orders.kinds
    assert defs.resolve_asset_graph().asset_check_keys, "no asset checks"


def test_dagster_asset_list_shows_every_layer():
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run([str(dagster), "asset", "list", "-m", "etl_assets.definitions"], cwd=PROJECT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    layers = {line.split("/")[0] for line in result.stdout.split()}
    assert {"raw", "profile", "recommendation", "ddl", "embeddings", "stream", "dbt", "reports"} <= layers
