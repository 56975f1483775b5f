"""docs/getting-started.md, as written: its `sh` blocks run in order in an empty directory holding two CSV files,
from `git clone` of this repository to the reports."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from resources.embedded.kafka import free_port
from tests.support.demo import PROJECT

pytestmark = pytest.mark.e2e

PAGE = PROJECT / "docs" / "getting-started.md"
FORMATS = ("html", "md", "json", "pdf")


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def write_csvs(directory: Path) -> None:
    directory.mkdir()
    cities = ["Zürich", "Lyon", "Paris", "København"]
    with (directory / "customers.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["customer_id", "name", "city", "signed_up"])
        writer.writerows([i, f"Customer {i}", cities[i % 4], f"2026-01-{1 + i % 28:02d}"] for i in range(1, 41))
    start = datetime(2026, 3, 1, 8, 0)
    with (directory / "orders.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["order_id", "customer_id", "status", "total", "ordered_at"])
        writer.writerows([i, 1 + i % 40, ("paid", "shipped", "returned")[i % 3], f"{5 + i * 1.5:.2f}",
                          (start + timedelta(hours=5 * i)).isoformat(sep=" ")] for i in range(1, 201))


def test_the_getting_started_page_runs_from_an_empty_directory_to_the_reports(tmp_path: Path) -> None:
    blocks = shell_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 5 and blocks[0].startswith("git clone"), blocks
    workdir = tmp_path / "shop"
    workdir.mkdir()
    write_csvs(workdir / "data")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIETL_", "DAGSTER_", "VIRTUAL_ENV"))}
    env |= {"AIETL_REPO": str(PROJECT), "AIETL_PG_PORT": str(free_port()), "AIETL_KAFKA_PORT": str(free_port())}
    script = "set -euo pipefail\n" + "\n".join(blocks)

    done = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=1500)

    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert "mine: 2 tables: customers, orders" in done.stdout
    assert re.search(r"Run \S+ succeeded in [\d.]+ s", done.stdout), done.stdout[-3000:]
    catalog = json.loads((workdir / "catalog.json").read_text(encoding="utf-8"))
    assert sorted(table["name"] for table in catalog["sources"]["mine"]) == ["customers", "orders"]
    reports = workdir / ".aietl" / "reports"
    for name in ("analysis", "quality", "pipeline", "health"):
        for fmt in FORMATS:
            assert (reports / f"{name}.{fmt}").stat().st_size > 0, f"{name}.{fmt}"
    assert "analysis.html" in done.stdout  # step 5 listed them
    analysis = (reports / "analysis.html").read_text(encoding="utf-8")
    assert "mine.customers" in analysis and "mine.orders" in analysis
    assert "Rows over time, by ordered_at" in analysis and "city: top values" in analysis
    assert (reports / "analysis.pdf").read_bytes().startswith(b"%PDF-")
