"""The demo's state directory, shared by the end-to-end tests: ``aietl demo`` runs once per session for all of them."""

from __future__ import annotations

import subprocess

import pytest

from resources.embedded.kafka import free_port
from tests.support.demo import run_demo


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("demo")
    return {"AIETL_HOME": str(home), "AIETL_PG_PORT": str(free_port()), "AIETL_KAFKA_PORT": str(free_port()),
            "DAGSTER_HOME": ""}


@pytest.fixture(scope="session")
def demo_first_run(demo_home: dict[str, str]) -> subprocess.CompletedProcess:
    """The first ``aietl demo`` on ``demo_home``: the whole graph materialized on the sample data."""
    return run_demo(demo_home)
