"""`aietl demo` on the embedded default: the whole graph runs, twice, without duplicating a row."""

import os
import pickle
from pathlib import Path

import psycopg

from resources.embedded import EmbeddedPostgres
from resources.embedded.kafka import free_port
from tests.support.demo import aietl, run_demo

RAW_TABLES = ["raw_shop_files.customers", "raw_shop_files.products", "raw_shop_files.stores",
              "raw_shop_db.orders", "raw_shop_db.order_items", "raw_analytics.daily_sessions"]


def warehouse_counts(environment: dict[str, str]) -> dict[str, int]:
    server = EmbeddedPostgres(Path(environment["AIETL_HOME"]) / "postgres", int(environment["AIETL_PG_PORT"]))
    server.start()
    try:
        with psycopg.connect(server.dsn("warehouse"), connect_timeout=10) as connection:
            counts = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                      for table in RAW_TABLES + ["stream_events.clicks"]}
    finally:
        server.stop()
    return counts


def recommendations(environment: dict[str, str]) -> dict[str, dict]:
    """Each table's recommendation as the demo's run stored it, without its wording (reasons cite load counts)."""
    storage = Path(environment["AIETL_HOME"]) / "dagster_home" / "storage" / "recommendation"
    decided = {}
    for path in sorted(storage.glob("*/*")):
        with path.open("rb") as stored:
            advice = pickle.load(stored).to_dict()
        decided[f"{path.parent.name}.{path.name}"] = {key: value for key, value in advice.items()
                                                     if key not in ("reasons", "summary", "narrative")}
    return decided


def test_the_demo_runs_the_whole_graph_twice_without_duplicates(demo_home, demo_first_run):
    first = demo_first_run
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert "succeeded" in first.stdout
    counts = warehouse_counts(demo_home)
    assert counts["raw_shop_db.orders"] == 3000
    assert counts["raw_shop_files.customers"] == 300
    assert counts["stream_events.clicks"] == 2000
    assert all(rows > 0 for rows in counts.values()), counts
    reports = list((Path(demo_home["AIETL_HOME"]) / "reports").rglob("*.pdf"))
    assert reports, "the demo wrote no PDF report"

    found = aietl(demo_home, "search", "tent for camping in the cold", "--table", "shop_files.products")
    assert found.returncode == 0, found.stderr
    first_hit = found.stdout.lower().split("\n2.")[0]
    assert first_hit.startswith("1.") and "tent" in first_hit, found.stdout

    advice = recommendations(demo_home)
    assert len(advice) == len(RAW_TABLES), sorted(advice)

    second = run_demo(demo_home)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert warehouse_counts(demo_home) == counts
    assert recommendations(demo_home) == advice, "the advice changed although the data did not"


def test_a_second_command_on_a_state_directory_in_use_says_so_and_touches_nothing(tmp_path):
    from resources.embedded.lock import StateLock

    owner = StateLock(tmp_path).acquire()
    try:
        environment = {"AIETL_HOME": str(tmp_path), "AIETL_PG_PORT": str(free_port()),
                       "AIETL_KAFKA_PORT": str(free_port()), "DAGSTER_HOME": ""}
        for command in ("demo", "ui"):
            refused = aietl(environment, command)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            [line] = [text for text in refused.stderr.splitlines() if text.startswith("Error:")]
            assert f"state directory {tmp_path} is in use by pid {os.getpid()}" in line
            assert "AIETL_HOME" in line and "Traceback" not in refused.stderr
        assert not (tmp_path / "postgres").exists(), "the refused command started a server"
    finally:
        owner.release()


def test_a_busy_port_is_one_line_naming_the_port_and_its_variable(tmp_path):
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        for variable in ("AIETL_PG_PORT", "AIETL_KAFKA_PORT"):
            environment = {"AIETL_HOME": str(tmp_path / variable), "AIETL_PG_PORT": str(free_port()),
                           "AIETL_KAFKA_PORT": str(free_port()), "DAGSTER_HOME": "", variable: str(port)}
            refused = aietl(environment, "demo")
            assert refused.returncode == 1
            [line] = [text for text in refused.stderr.splitlines() if text.startswith("Error:")]
            assert f"port {port}" in line and f"set {variable} to a free port" in line, line
            assert not (tmp_path / variable / "postgres" / "pgdata").exists() or variable == "AIETL_KAFKA_PORT"
